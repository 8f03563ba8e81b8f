package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"

	"example.com/orders/internal/golden"
	"example.com/orders/internal/orders"
)

func TestSampleEvent(t *testing.T) {
	var req ChargeRequest
	golden.Event(t, "fail_order", &req)
	_, err := handler(context.Background(), req)
	var declined *orders.PaymentDeclinedError
	if !errors.As(err, &declined) || declined.OrderID != req.OrderID {
		t.Fatalf("got %T %v, want *orders.PaymentDeclinedError for %s", err, err, req.OrderID)
	}
}

// TestReportedError runs the handler through aws-lambda-go's go1.x RPC entry
// point, so errorType and errorMessage are computed by the library itself
// rather than re-derived here.
func TestReportedError(t *testing.T) {
	payload, err := os.ReadFile(filepath.Join(golden.Dir(), "fail_order.json"))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	var resp messages.InvokeResponse
	//nolint:staticcheck // NewFunction is deprecated only because it exists for go1.x, which is what this checks.
	fn := lambda.NewFunction(lambda.NewHandler(handler))
	if err := fn.Invoke(&messages.InvokeRequest{
		Payload:   payload,
		RequestId: "8f5d1e2a-0c3b-4a6f-9e7d-2b1c4a5f6e80",
		Deadline:  messages.InvokeRequest_Timestamp{Seconds: deadline.Unix()},
	}, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.Error == nil {
		t.Fatalf("handler succeeded with %s, want an error", resp.Payload)
	}
	golden.AssertJSON(t, "fail_order", resp.Error)
}
