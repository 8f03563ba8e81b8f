package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"example.com/orders/internal/golden"
	"example.com/orders/internal/orders"
)

func TestSampleEvent(t *testing.T) {
	var req events.APIGatewayProxyRequest
	golden.Event(t, "create_order", &req)
	resp, err := handler(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	golden.AssertJSON(t, "create_order", resp)

	var o orders.Order
	if err := json.Unmarshal([]byte(resp.Body), &o); err != nil {
		t.Fatal(err)
	}
	if resp.Headers["Location"] != "/orders/"+o.ID {
		t.Fatalf("Location = %q, want /orders/%s", resp.Headers["Location"], o.ID)
	}
}

func TestBase64Body(t *testing.T) {
	var req events.APIGatewayProxyRequest
	golden.Event(t, "create_order", &req)
	plain, _ := handler(context.Background(), req)

	req.Body = base64.StdEncoding.EncodeToString([]byte(req.Body))
	req.IsBase64Encoded = true
	encoded, _ := handler(context.Background(), req)
	if encoded.StatusCode != http.StatusCreated || encoded.Body != plain.Body {
		t.Fatalf("base64 body gave %d %s, want same as plain %s", encoded.StatusCode, encoded.Body, plain.Body)
	}
}

func TestInvalidBody(t *testing.T) {
	cases := map[string]string{
		`{"customer_id":"cust-42","items":[]}`: `{"error":"invalid order","detail":"items: must contain at least one item"}`,
		`not json`:                             `{"error":"invalid order","detail":"body: invalid JSON"}`,
		``:                                     `{"error":"invalid order","detail":"body: invalid JSON"}`,
	}
	for body, want := range cases {
		resp, err := handler(context.Background(), events.APIGatewayProxyRequest{HTTPMethod: "POST", Body: body})
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusBadRequest || resp.Body != want {
			t.Errorf("body %q: got %d %s, want 400 %s", body, resp.StatusCode, resp.Body, want)
		}
	}
}
