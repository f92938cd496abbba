// Package idempotency keeps the answers of requests made with an Idempotency-Key (SPEC §1): a retry
// with the same key and body gets the first answer again and creates nothing new; the same key with
// another body is refused. An answer is stored in the transaction that did the work it answers for.
package idempotency

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
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
// a stored hash never confirms a guess about a body (SPEC §16). An empty header gives the zero Key.
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

// Answer is a response: its status and its body as sent.
type Answer struct {
	Status int
	Body   []byte
}

// Keeper stores and replays answers.
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

// Replayed is the stored answer for k, or nil when there is none (always for the zero Key). The same
// key with another body is idempotency_key_reused.
func (kp *Keeper) Replayed(ctx context.Context, k Key) (*Answer, error) {
	if k.value == "" {
		return nil, nil
	}
	r, err := kp.store.Replayed(ctx, k.scope, k.value, k.hash)
	if err != nil || r == nil {
		return nil, err
	}
	return &Answer{Status: r.Status, Body: r.Body}, nil
}

// errRaceLost says a concurrent request with the same key committed first.
var errRaceLost = errors.New("idempotency: a concurrent request with this key won")

// Created is the status of every answer Do makes: both idempotent routes create (an organisation,
// documents), and a replay answers what the first request answered.
const Created = 201

// Do runs work in one transaction and answers Created with the body work returns, storing that answer
// under k in the same transaction. fresh is false when a concurrent request with the same key
// committed first: then work is rolled back and that request's answer is returned instead.
func (kp *Keeper) Do(ctx context.Context, k Key, work func(tx *store.Q) ([]byte, error)) (a Answer, fresh bool, err error) {
	err = kp.store.InTx(ctx, func(tx *store.Q) error {
		body, err := work(tx)
		if err != nil {
			return err
		}
		a = Answer{Status: Created, Body: body}
		if k.value == "" {
			return nil
		}
		saved, err := tx.SaveReplay(ctx, k.scope, k.value, k.hash, store.Replay{Status: Created, Body: body})
		if err != nil {
			return err
		}
		if !saved {
			return errRaceLost
		}
		return nil
	})
	switch {
	case errors.Is(err, errRaceLost):
		won, err := kp.Winner(ctx, k)
		if err != nil {
			return Answer{}, false, err
		}
		return won, false, nil
	case err != nil:
		return Answer{}, false, err
	}
	return a, true, nil
}

// Purge deletes stored answers past their 24 hours. Every replica may; the DELETE is idempotent.
func (kp *Keeper) Purge(ctx context.Context) error { return kp.store.PurgeReplays(ctx) }

// Lookup names k's stored answer for a caller that reads it within a statement of its own; nil for
// the zero Key.
func (k Key) Lookup() *store.ReplayKey {
	if k.value == "" {
		return nil
	}
	return &store.ReplayKey{Scope: k.scope, Key: k.value}
}

// Stored is Replayed for an answer the caller read itself (found, read under k.Lookup(); nil when
// there was none): nil when there is nothing to replay, idempotency_key_reused when the key answered
// another body.
func (kp *Keeper) Stored(k Key, found *store.StoredReplay) (*Answer, error) {
	if k.value == "" || found == nil {
		return nil, nil
	}
	r, err := found.For(k.hash)
	if err != nil {
		return nil, err
	}
	return &Answer{Status: r.Status, Body: r.Body}, nil
}

// Record is the Created answer body to store under k in the statement that does the work it answers
// for; nil for the zero Key.
func (k Key) Record(body []byte) *store.ReplayRecord {
	if k.value == "" {
		return nil
	}
	return &store.ReplayRecord{ReplayKey: store.ReplayKey{Scope: k.scope, Key: k.value}, RequestHash: k.hash,
		Replay: store.Replay{Status: Created, Body: body}}
}

// Winner is the answer of the concurrent request under k that committed first, for a caller whose
// own answer was not stored (store.WriteIngest).
func (kp *Keeper) Winner(ctx context.Context, k Key) (Answer, error) {
	won, err := kp.Replayed(ctx, k)
	if err == nil && won == nil {
		err = errors.New("idempotency: the winning answer vanished")
	}
	if err != nil {
		return Answer{}, err
	}
	return *won, nil
}
