package orders

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
)

// ErrNotFound is returned by a Store when no order has the requested id.
var ErrNotFound = errors.New("order not found")

// Store looks orders up by id. Handlers depend on this interface so the
// table-backed implementation can be swapped for a fixture in tests.
type Store interface {
	Get(ctx context.Context, id string) (Order, error)
}

// MissingID is the id the fixture store treats as absent, so the 404 path can
// be exercised end to end.
const MissingID = "missing"

var catalog = []Item{
	{SKU: "SKU-COFFEE-250G", Quantity: 1, UnitPriceCents: 1299},
	{SKU: "SKU-MUG-CERAMIC", Quantity: 2, UnitPriceCents: 850},
	{SKU: "SKU-FILTER-100", Quantity: 1, UnitPriceCents: 499},
	{SKU: "SKU-GRINDER-HAND", Quantity: 1, UnitPriceCents: 3450},
}

var statuses = []string{StatusPending, StatusPaid, StatusDeclined}

// FixtureStore synthesises an order for any id from a hash of the id. Until
// the service is wired to its table this keeps responses stable across cold
// starts and lets tests assert exact bodies.
type FixtureStore struct{}

// Get returns the order for id, or ErrNotFound for MissingID and empty ids.
func (FixtureStore) Get(_ context.Context, id string) (Order, error) {
	if id == "" || id == MissingID {
		return Order{}, ErrNotFound
	}
	sum := sha256.Sum256([]byte(id))
	n := 1 + int(sum[0])%len(catalog)
	items := make([]Item, n)
	for i := range items {
		items[i] = catalog[(int(sum[1])+i)%len(catalog)]
	}
	return Order{
		ID:         id,
		CustomerID: fmt.Sprintf("cust-%c-%03d", 'a'+sum[2]%26, int(sum[3])),
		Items:      items,
		TotalCents: Total(items),
		Currency:   "USD",
		Status:     statuses[int(sum[4])%len(statuses)],
	}, nil
}
