// Package orders holds the order model and the rules shared by every handler
// in this service, so that the API and the queue consumer accept exactly the
// same payloads.
package orders

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Status values an order moves through.
const (
	StatusPending  = "pending"
	StatusPaid     = "paid"
	StatusDeclined = "declined"
)

// MaxItems caps an order so one request cannot fan out into an unbounded
// number of downstream writes.
const MaxItems = 25

// Item is one order line. Prices are integer cents to keep totals exact.
type Item struct {
	SKU            string `json:"sku"`
	Quantity       int    `json:"quantity"`
	UnitPriceCents int64  `json:"unit_price_cents"`
}

// Request is the payload a client submits to create an order.
type Request struct {
	CustomerID string `json:"customer_id"`
	Items      []Item `json:"items"`
}

// Order is the stored and returned representation of an order.
type Order struct {
	ID         string `json:"id"`
	CustomerID string `json:"customer_id"`
	Items      []Item `json:"items"`
	TotalCents int64  `json:"total_cents"`
	Currency   string `json:"currency"`
	Status     string `json:"status"`
}

// ValidationError reports why a payload was rejected; its message is safe to
// return to callers.
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("%s: %s", e.Field, e.Reason)
}

// PaymentDeclinedError is returned when the payment provider refuses an order.
// It is a distinct type so the Lambda error report carries a meaningful
// errorType that alarms and Step Functions retries can match on.
type PaymentDeclinedError struct {
	OrderID string
	Reason  string
}

func (e *PaymentDeclinedError) Error() string {
	return "payment declined for order " + e.OrderID
}

// ParseRequest decodes and validates a create-order payload. Unknown fields
// are rejected so that client typos (e.g. "qty") fail loudly instead of
// silently producing empty orders.
func ParseRequest(body []byte) (Request, error) {
	var req Request
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return Request{}, &ValidationError{Field: "body", Reason: "invalid JSON"}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Request{}, &ValidationError{Field: "body", Reason: "trailing data after JSON object"}
	}
	if err := req.Validate(); err != nil {
		return Request{}, err
	}
	return req, nil
}

// Validate checks the business rules for a new order.
func (r Request) Validate() error {
	if strings.TrimSpace(r.CustomerID) == "" {
		return &ValidationError{Field: "customer_id", Reason: "is required"}
	}
	if len(r.Items) == 0 {
		return &ValidationError{Field: "items", Reason: "must contain at least one item"}
	}
	if len(r.Items) > MaxItems {
		return &ValidationError{Field: "items", Reason: fmt.Sprintf("must contain at most %d items", MaxItems)}
	}
	for i, it := range r.Items {
		field := fmt.Sprintf("items[%d]", i)
		switch {
		case strings.TrimSpace(it.SKU) == "":
			return &ValidationError{Field: field + ".sku", Reason: "is required"}
		case it.Quantity <= 0:
			return &ValidationError{Field: field + ".quantity", Reason: "must be positive"}
		case it.UnitPriceCents < 0:
			return &ValidationError{Field: field + ".unit_price_cents", Reason: "must not be negative"}
		}
	}
	return nil
}

// NewID derives the order id from its content. Retried API calls and
// redelivered queue messages therefore map to the same order instead of
// creating duplicates.
func NewID(customerID string, items []Item) string {
	h := sha256.New()
	h.Write([]byte(customerID))
	for _, it := range items {
		// The separators keep ("ab","c") and ("a","bc") from hashing alike.
		fmt.Fprintf(h, "\x00%s\x1f%d\x1f%d", it.SKU, it.Quantity, it.UnitPriceCents)
	}
	return "ord_" + hex.EncodeToString(h.Sum(nil))[:12]
}

// Total returns the order total in cents.
func Total(items []Item) int64 {
	var total int64
	for _, it := range items {
		total += int64(it.Quantity) * it.UnitPriceCents
	}
	return total
}

// New builds a pending order from a validated request.
func New(req Request) Order {
	return Order{
		ID:         NewID(req.CustomerID, req.Items),
		CustomerID: req.CustomerID,
		Items:      req.Items,
		TotalCents: Total(req.Items),
		Currency:   "USD",
		Status:     StatusPending,
	}
}

// FormatCents renders an amount for log lines, e.g. 2598 -> "25.98".
func FormatCents(cents int64) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return fmt.Sprintf("%s%d.%02d", sign, cents/100, cents%100)
}
