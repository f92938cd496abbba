package idempotency_test

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"github.com/cmekd/cmekd/internal/idempotency"
)

// TestKey_HashIsKeyedSoTheDatabaseConfirmsNoGuess: the request hash stored beside an answer is an
// HMAC under a secret the database does not hold: the plain SHA-256 of a guessed body never matches
// it, and keepers with other secrets disagree.
func TestKey_HashIsKeyedSoTheDatabaseConfirmsNoGuess(t *testing.T) {
	t.Parallel()
	body := []byte(`{"name":"Acme","region":"us-west-2"}`)
	a, err := idempotency.New(nil, "secret one").Key("k", "orgs", "admin", body)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := idempotency.New(nil, "secret two").Key("k", "orgs", "admin", body)
	again, _ := idempotency.New(nil, "secret one").Key("k", "orgs", "admin", body)
	plain := sha256.Sum256(body)
	switch {
	case bytes.Equal(idempotency.Hash(a), plain[:]):
		t.Fatal("the stored hash is the plain SHA-256 of the body")
	case bytes.Equal(idempotency.Hash(a), idempotency.Hash(b)):
		t.Fatal("two secrets give the same hash")
	case !bytes.Equal(idempotency.Hash(a), idempotency.Hash(again)):
		t.Fatal("one secret gives two hashes for one body")
	}
}
