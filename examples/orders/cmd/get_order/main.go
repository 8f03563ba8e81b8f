// Command get_order handles GET /orders/{id} behind API Gateway.
package main

import (
	"context"
	"errors"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"example.com/orders/internal/orders"
)

// store is a package variable so tests can substitute their own Store.
var store orders.Store = orders.FixtureStore{}

func handler(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	id := req.PathParameters["id"]
	o, err := store.Get(ctx, id)
	switch {
	case errors.Is(err, orders.ErrNotFound):
		return orders.ErrorResponse(http.StatusNotFound, "order not found", id), nil
	case err != nil:
		// Returning the error would surface as a 502 from API Gateway and
		// hide the cause from the client; a 500 body is more useful.
		return orders.ErrorResponse(http.StatusInternalServerError, "internal error", ""), nil
	}
	return orders.JSONResponse(http.StatusOK, o), nil
}

func main() {
	lambda.Start(handler)
}
