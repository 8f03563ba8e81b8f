package orders

import (
	"context"
	"errors"
	"testing"
)

func TestParseRequestValidation(t *testing.T) {
	cases := []struct {
		name  string
		body  string
		field string // empty means the body must be accepted
	}{
		{"valid", `{"customer_id":"cust-42","items":[{"sku":"SKU-1","quantity":2,"unit_price_cents":500}]}`, ""},
		{"not json", `customer_id=cust-42`, "body"},
		{"unknown field", `{"customer_id":"c","items":[{"sku":"S","qty":1}]}`, "body"},
		{"trailing data", `{"customer_id":"c","items":[{"sku":"S","quantity":1}]} {}`, "body"},
		{"no customer", `{"customer_id":"  ","items":[{"sku":"S","quantity":1}]}`, "customer_id"},
		{"no items", `{"customer_id":"c","items":[]}`, "items"},
		{"zero quantity", `{"customer_id":"c","items":[{"sku":"S","quantity":0}]}`, "items[0].quantity"},
		{"negative price", `{"customer_id":"c","items":[{"sku":"S","quantity":1,"unit_price_cents":-1}]}`, "items[0].unit_price_cents"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRequest([]byte(tc.body))
			if tc.field == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v, want *ValidationError", err)
			}
			if ve.Field != tc.field {
				t.Fatalf("field = %q, want %q (%v)", ve.Field, tc.field, err)
			}
		})
	}
}

func TestNewIsDeterministic(t *testing.T) {
	req := Request{CustomerID: "cust-42", Items: []Item{
		{SKU: "SKU-COFFEE-250G", Quantity: 2, UnitPriceCents: 1299},
		{SKU: "SKU-FILTER-100", Quantity: 1, UnitPriceCents: 499},
	}}
	a, b := New(req), New(req)
	if a.ID != b.ID {
		t.Fatalf("ids differ for identical requests: %s vs %s", a.ID, b.ID)
	}
	if len(a.ID) != len("ord_")+12 || a.ID[:4] != "ord_" {
		t.Fatalf("unexpected id format %q", a.ID)
	}
	if a.TotalCents != 3097 || a.Status != StatusPending || a.Currency != "USD" {
		t.Fatalf("unexpected order %+v", a)
	}
	other := req
	other.CustomerID = "cust-43"
	if New(other).ID == a.ID {
		t.Fatal("different customers produced the same id")
	}
	// Field boundaries must matter, not just the concatenated text.
	if NewID("c", []Item{{SKU: "AB", Quantity: 1}}) == NewID("cA", []Item{{SKU: "B", Quantity: 1}}) {
		t.Fatal("id ignores field boundaries")
	}
}

func TestFixtureStore(t *testing.T) {
	ctx := context.Background()
	var s Store = FixtureStore{}
	if _, err := s.Get(ctx, MissingID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(%q) err = %v, want ErrNotFound", MissingID, err)
	}
	o1, err := s.Get(ctx, "ord_abc")
	if err != nil {
		t.Fatal(err)
	}
	o2, _ := s.Get(ctx, "ord_abc")
	if o1.CustomerID != o2.CustomerID || o1.TotalCents != o2.TotalCents || o1.TotalCents != Total(o1.Items) {
		t.Fatalf("fixture not stable: %+v vs %+v", o1, o2)
	}
}

func TestFormatCents(t *testing.T) {
	for in, want := range map[int64]string{0: "0.00", 5: "0.05", 2598: "25.98", -150: "-1.50"} {
		if got := FormatCents(in); got != want {
			t.Errorf("FormatCents(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestPaymentDeclinedError(t *testing.T) {
	var err error = &PaymentDeclinedError{OrderID: "ord_1", Reason: "insufficient_funds"}
	if err.Error() != "payment declined for order ord_1" {
		t.Fatalf("message = %q", err.Error())
	}
}
