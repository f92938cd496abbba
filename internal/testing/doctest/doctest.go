// Package doctest wires, for tests, the documents service as the server does: a keyring over the
// store and a KMS client, with a cache of unwrapped data keys, and idempotency under a test secret.
package doctest

import (
	"time"

	"github.com/cmekd/cmekd/internal/documents"
	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/envelope"
	"github.com/cmekd/cmekd/internal/idempotency"
	"github.com/cmekd/cmekd/internal/keyring"
	"github.com/cmekd/cmekd/internal/store"
)

// Options bound the keyring's data keys and its cache.
type Options struct {
	// MaxUses is how many documents one data key seals; a data key lives an hour.
	MaxUses int
	// CacheEntries is how many unwrapped data keys the cache holds, each for a minute.
	CacheEntries int
	// ProviderKeys wrap the data keys of provider_managed organisations; nil: there are none.
	ProviderKeys domain.ProviderKeys
}

// New returns the documents service over st, sealing through kms, and its keyring.
func New(st *store.Store, kms keyring.KMS, o Options) (*documents.Service, *keyring.Keyring) {
	ring := keyring.New(keyring.Config{Store: st, KMS: kms, MaxAge: time.Hour, MaxUses: o.MaxUses,
		Cache: envelope.NewCache(envelope.CacheOptions{TTL: time.Minute, MaxEntries: o.CacheEntries})})
	return documents.New(documents.Config{Store: st, Keyring: ring, Idempotency: idempotency.New(st, "test secret"),
		ProviderKeys: o.ProviderKeys}), ring
}
