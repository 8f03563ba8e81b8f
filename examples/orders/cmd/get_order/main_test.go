package main

import (
	"context"
	"net/http"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"example.com/orders/internal/golden"
)

func TestSampleEvent(t *testing.T) {
	var req events.APIGatewayProxyRequest
	golden.Event(t, "get_order", &req)
	resp, err := handler(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	golden.AssertJSON(t, "get_order", resp)
}

func TestMissingOrder(t *testing.T) {
	var req events.APIGatewayProxyRequest
	golden.Event(t, "get_order", &req)
	req.PathParameters = map[string]string{"id": "missing"}
	req.Path = "/orders/missing"
	resp, err := handler(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"error":"order not found","detail":"missing"}`
	if resp.StatusCode != http.StatusNotFound || resp.Body != want {
		t.Fatalf("got %d %s, want 404 %s", resp.StatusCode, resp.Body, want)
	}
}
