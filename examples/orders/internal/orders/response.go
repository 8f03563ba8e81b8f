package orders

import (
	"encoding/json"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
)

// ErrorBody is the JSON shape of every API error response.
type ErrorBody struct {
	Error  string `json:"error"`
	Detail string `json:"detail,omitempty"`
}

// JSONResponse wraps v as an API Gateway proxy response. Marshal failures
// become a 500 rather than a Lambda error, because API Gateway turns an
// invocation error into an opaque 502 for the client.
func JSONResponse(status int, v any) events.APIGatewayProxyResponse {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"error":"internal error"}`)
	}
	return events.APIGatewayProxyResponse{
		StatusCode: status,
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       string(body),
	}
}

// ErrorResponse is JSONResponse for an ErrorBody.
func ErrorResponse(status int, msg, detail string) events.APIGatewayProxyResponse {
	return JSONResponse(status, ErrorBody{Error: msg, Detail: detail})
}
