// Command fail_order is the payment step of the checkout state machine. The
// sandbox payment provider it targets declines every charge, so it always
// fails with *orders.PaymentDeclinedError; the state machine's Catch matches
// on that errorType to mark the order declined.
package main

import (
	"context"
	"log"

	"github.com/aws/aws-lambda-go/lambda"

	"example.com/orders/internal/orders"
)

// ChargeRequest is the state machine's input for the payment step.
type ChargeRequest struct {
	OrderID       string `json:"order_id"`
	AmountCents   int64  `json:"amount_cents"`
	Currency      string `json:"currency"`
	PaymentMethod string `json:"payment_method"`
}

// ChargeResult would carry the provider's receipt on success.
type ChargeResult struct {
	OrderID   string `json:"order_id"`
	ReceiptID string `json:"receipt_id"`
}

func handler(_ context.Context, req ChargeRequest) (*ChargeResult, error) {
	log.Printf("charging %s %s for order %s via %s", orders.FormatCents(req.AmountCents), req.Currency, req.OrderID, req.PaymentMethod)
	return nil, &orders.PaymentDeclinedError{OrderID: req.OrderID, Reason: "card_declined"}
}

func main() {
	lambda.Start(handler)
}
