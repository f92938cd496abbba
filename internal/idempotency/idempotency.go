// Package idempotency keeps the results of requests made with an Idempotency-Key: a retry with the
// same key and body gets the first result again and creates nothing new; the same key with another
// body is refused. A result is stored in the transaction that did the work it is the result of, as
// the domain value the service returned (the organisation, the documents' ids), which the API
// renders as it renders a fresh one.
//
// One protocol serves every idempotent use case: Key names the request, Replayed (or Lookup and
// Found, for a caller that reads it in a statement of its own) finds a stored result, Save (or
// Record, written by the caller's own statement) stores the new one, and Winner answers a request
// that lost the race to a concurrent one under the same key.
package idempotency

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"unicode/utf8"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/store"
)

// Key is one request's Idempotency-Key; the zero Key means the request had none.
type Key struct {
	scope, value string
	hash         []byte
}

// Key reads a request's Idempotency-Key header value for route, sent by actor with body raw. The
// scope keeps principals and routes apart, so one caller's key never replays another's answer. The
// body is identified by an HMAC under the keeper's secret, which the database does not hold, so that
// a stored hash never confirms a guess about a body. An empty header gives the zero Key.
func (kp *Keeper) Key(header, route, actor string, raw []byte) (Key, error) {
	k, err := named(header, route, actor)
	if err != nil || k.value == "" {
		return k, err
	}
	mac := hmac.New(sha256.New, kp.secret)
	mac.Write(raw)
	k.hash = mac.Sum(nil)
	return k, nil
}

// named is the Key that header names for route and actor, without its request hash: the zero Key
// when there is no header.
func named(header, route, actor string) (Key, error) {
	if header == "" {
		return Key{}, nil
	}
	if len(header) > 255 || !utf8.ValidString(header) {
		return Key{}, domain.Invalid("Idempotency-Key", "the Idempotency-Key header must be at most 255 characters")
	}
	return Key{scope: route + "|" + actor, value: header}, nil
}

// Lookup is Key(header, route, actor, …).Lookup() for a caller that has not read the body yet: it
// names the stored answer to look for, nil when there is no Idempotency-Key or it is not one Key
// takes (whose error the caller gets from Key).
func (kp *Keeper) Lookup(header, route, actor string) *store.ReplayKey {
	k, err := named(header, route, actor)
	if err != nil {
		return nil
	}
	return k.Lookup()
}

// Keeper stores and replays results.
type Keeper struct {
	store  *store.Store
	secret []byte
}

// New returns a Keeper over st that keys request hashes with a key derived from secret (the admin
// token: configuration, never the database). Every replica must be given the same secret.
func New(st *store.Store, secret string) *Keeper {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("cmekd idempotency request hash v1"))
	return &Keeper{store: st, secret: mac.Sum(nil)}
}

// ErrLost says a concurrent request under the same key committed its result first: the
// transaction that was to store this one stored nothing, and the caller answers with Winner instead.
var ErrLost = store.ErrReplayLost

// Replayed is the result stored under k, read in a statement of its own: nil when there is none
// (always for the zero Key); idempotency_key_reused when k answered another body. A caller that
// reads it within a statement of its own names it with k.Lookup() and hands it to Found.
func (kp *Keeper) Replayed(ctx context.Context, k Key) ([]byte, error) {
	if k.value == "" {
		return nil, nil
	}
	r, err := kp.store.Replayed(ctx, k.scope, k.value, k.hash)
	if err != nil || r == nil {
		return nil, err
	}
	return r.Body, nil
}

// Lookup names k's stored result for a caller that reads it within a statement of its own; nil for
// the zero Key.
func (k Key) Lookup() *store.ReplayKey {
	if k.value == "" {
		return nil
	}
	return &store.ReplayKey{Scope: k.scope, Key: k.value}
}

// Found is Replayed for a result the caller read itself (found, read under k.Lookup(); nil when
// there was none).
func (kp *Keeper) Found(k Key, found *store.StoredReplay) ([]byte, error) {
	if k.value == "" || found == nil {
		return nil, nil
	}
	r, err := found.For(k.hash)
	if err != nil {
		return nil, err
	}
	return r.Body, nil
}

// Record is result, encoded, to store under k in the statement or transaction that does the work
// it is the result of; nil for the zero Key.
func (k Key) Record(result any) (*store.ReplayRecord, error) {
	if k.value == "" {
		return nil, nil
	}
	body, err := json.Marshal(result)
	if err != nil {
		return nil, err
	}
	return &store.ReplayRecord{ReplayKey: store.ReplayKey{Scope: k.scope, Key: k.value}, RequestHash: k.hash,
		Replay: store.Replay{Body: body}}, nil
}

// Save stores result under k within tx, the transaction that did the work, with its COMMIT: when a
// concurrent request under k committed first, the transaction fails with ErrLost. Nothing is stored
// for the zero Key.
func Save(ctx context.Context, tx *store.Q, k Key, result any) error {
	rec, err := k.Record(result)
	if err != nil || rec == nil {
		return err
	}
	return tx.SaveReplay(ctx, rec.Scope, rec.Key, rec.RequestHash, rec.Replay)
}

// Winner is the result of the concurrent request under k that committed first, for a caller whose
// own result was not stored (ErrLost, or store.WriteIngest's stored false).
func (kp *Keeper) Winner(ctx context.Context, k Key) ([]byte, error) {
	won, err := kp.Replayed(ctx, k)
	if err == nil && won == nil {
		err = errors.New("idempotency: the winning result vanished")
	}
	return won, err
}

// Purge deletes stored results past their 24 hours. Every replica may; the DELETE is idempotent.
func (kp *Keeper) Purge(ctx context.Context) error { return kp.store.PurgeReplays(ctx) }

// Decode is a stored result as the service that stored it encoded it.
func Decode[T any](body []byte) (T, error) {
	var v T
	err := json.Unmarshal(body, &v)
	return v, err
}
