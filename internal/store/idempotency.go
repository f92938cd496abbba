package store

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cmekd/cmekd/internal/domain"
)

// IdempotencyTTL is how long a stored answer is replayed.
const IdempotencyTTL = 24 * time.Hour

// Replay is the stored result of a request made with an Idempotency-Key, encoded by the service
// that made it.
type Replay struct {
	Body []byte
}

var errIdempotencyKeyReused = domain.Errorf(domain.KindInvalid, domain.CodeIdempotencyKeyReused,
	"this Idempotency-Key was used with another request body; use a new key for a new request")

// Replayed returns the stored answer for (scope, key) when one younger than IdempotencyTTL exists and
// was made for the same request; another request under that key is idempotency_key_reused.
func (q *Q) Replayed(ctx context.Context, scope, key string, requestHash []byte) (*Replay, error) {
	var r Replay
	var h []byte
	err := q.db.QueryRow(ctx, `SELECT request_hash, body FROM idempotency_keys WHERE scope = $1 AND key = $2 AND created_at > $3`,
		scope, key, q.Now().Add(-IdempotencyTTL)).Scan(&h, &r.Body)
	if err := translate(err); errors.Is(err, domain.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return (&StoredReplay{RequestHash: h, Replay: r}).For(requestHash)
}

// ErrReplayLost says a concurrent request under the same key stored its answer first: the
// transaction that was to store this one fails and stores nothing.
var ErrReplayLost = errors.New("idempotency: a concurrent request with this key won")

// SaveReplay stores the answer in the same transaction as the work it answers for, as a write held
// back for the transaction's COMMIT (Q.write). An expired answer under the key is replaced; when a
// live one is there, stored by a concurrent request that committed first, the insert fails on the
// key and the transaction answers ErrReplayLost: the caller replays that answer instead.
func (q *Q) SaveReplay(ctx context.Context, scope, key string, requestHash []byte, r Replay) error {
	b := &pgx.Batch{}
	b.Queue(`DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND created_at <= $3`, scope, key, q.Now().Add(-IdempotencyTTL))
	b.Queue(`INSERT INTO idempotency_keys (scope, key, request_hash, body, created_at) VALUES ($1, $2, $3, $4, $5)`,
		scope, key, requestHash, r.Body, q.Now())
	return q.write(ctx, b)
}

// PurgeReplays deletes stored answers older than IdempotencyTTL.
func (q *Q) PurgeReplays(ctx context.Context) error {
	_, err := q.db.Exec(ctx, `DELETE FROM idempotency_keys WHERE created_at <= $1`, q.Now().Add(-IdempotencyTTL))
	return translate(err)
}

// ReplayKey names a stored answer: the request's scope and Idempotency-Key.
type ReplayKey struct {
	Scope, Key string
}

// StoredReplay is a stored answer as read, with the hash of the request it answered.
type StoredReplay struct {
	RequestHash []byte
	Replay
}

// For is the stored answer for a request with requestHash: idempotency_key_reused when it answered
// another request.
func (s *StoredReplay) For(requestHash []byte) (*Replay, error) {
	if !bytes.Equal(s.RequestHash, requestHash) {
		return nil, errIdempotencyKeyReused
	}
	return &s.Replay, nil
}

// ReplayRecord is an answer to store in the statement that does the work it answers for.
type ReplayRecord struct {
	ReplayKey
	RequestHash []byte
	Replay
}
