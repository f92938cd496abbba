package testkit

import (
	"testing"

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
