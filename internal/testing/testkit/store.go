package testkit

import (
	"context"
	"testing"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/store"
)

// OpenStore opens a store on the database at dbURL with opts; it is closed when t ends.
func OpenStore(t testing.TB, dbURL string, opts store.Options) *store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), dbURL, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

// EventTypes are the types of an organisation's latest events, up to a hundred, newest first, as
// events (the store's Events, or a service's) lists them.
func EventTypes(t testing.TB, events func(ctx context.Context, orgID, typ string, page domain.Page) ([]domain.Event, string, error), orgID string) []string {
	t.Helper()
	evs, _, err := events(t.Context(), orgID, "", domain.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	types := make([]string, len(evs))
	for i, e := range evs {
		types[i] = e.Type
	}
	return types
}
