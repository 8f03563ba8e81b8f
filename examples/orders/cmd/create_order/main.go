// Command create_order handles POST /orders behind API Gateway.
package main

import (
	"context"
	"encoding/base64"
	"errors"
	"log"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"example.com/orders/internal/orders"
)

func handler(_ context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	body := []byte(req.Body)
	if req.IsBase64Encoded {
		// API Gateway base64-encodes bodies whose Content-Type is listed as
		// binary; some clients send application/json that way.
		decoded, err := base64.StdEncoding.DecodeString(req.Body)
		if err != nil {
			return orders.ErrorResponse(http.StatusBadRequest, "invalid order", "body: invalid base64"), nil
		}
		body = decoded
	}

	r, err := orders.ParseRequest(body)
	var ve *orders.ValidationError
	if errors.As(err, &ve) {
		return orders.ErrorResponse(http.StatusBadRequest, "invalid order", ve.Error()), nil
	}
	if err != nil {
		return orders.ErrorResponse(http.StatusInternalServerError, "internal error", ""), nil
	}

	o := orders.New(r)
	log.Printf("created order %s for %s (%s %s)", o.ID, o.CustomerID, orders.FormatCents(o.TotalCents), o.Currency)
	resp := orders.JSONResponse(http.StatusCreated, o)
	resp.Headers["Location"] = "/orders/" + o.ID
	return resp, nil
}

func main() {
	lambda.Start(handler)
}
