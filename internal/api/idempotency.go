package api

import (
	"context"
	"errors"
	"net/http"
	"unicode/utf8"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/store"
)

// idempotent is one request's Idempotency-Key state (SPEC §1).
type idempotent struct {
	scope, key string
	hash       []byte
	replay     *store.Replay
}

// errReplayWon says a concurrent request with the same key committed first.
var errReplayWon = errors.New("a concurrent request with this idempotency key won")

// idempotency reads the Idempotency-Key header: with no header it does nothing; otherwise it finds a
// stored answer to replay, or refuses a key reused for another body. The scope keeps principals and
// routes apart, so one caller's key never replays another's answer.
func (a *API) idempotency(r *http.Request, route string, raw []byte) (*idempotent, error) {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		return &idempotent{}, nil
	}
	if len(key) > 255 || !utf8.ValidString(key) {
		return nil, domain.Invalid("Idempotency-Key", "the Idempotency-Key header must be at most 255 characters")
	}
	p := principal(r.Context())
	i := &idempotent{scope: route + "|" + p.Actor(), key: key, hash: requestHash(raw)}
	replay, err := a.store.Replayed(r.Context(), i.scope, i.key, i.hash)
	if err != nil {
		return nil, err
	}
	i.replay = replay
	return i, nil
}

// replayed reads the Idempotency-Key header as idempotency does and answers the request when that
// settles it: with the stored answer of an earlier request, or with an error. Otherwise the handler
// goes on with the returned state.
func (a *API) replayed(w http.ResponseWriter, r *http.Request, route string, raw []byte) (*idempotent, bool) {
	i, err := a.idempotency(r, route, raw)
	switch {
	case err != nil:
		a.writeError(w, r, err)
		return nil, true
	case i.replay != nil:
		writeRaw(w, i.replay.Status, i.replay.Body)
		return nil, true
	}
	return i, false
}

// save stores the answer inside the transaction that did the work.
func (i *idempotent) save(ctx context.Context, tx *store.Tx, status int, body []byte) error {
	if i.key == "" {
		return nil
	}
	ok, err := tx.SaveReplay(ctx, i.scope, i.key, i.hash, store.Replay{Status: status, Body: body})
	if err != nil {
		return err
	}
	if !ok {
		return errReplayWon
	}
	return nil
}

// replayAfterRace answers with what the winning concurrent request stored.
func (a *API) replayAfterRace(w http.ResponseWriter, r *http.Request, i *idempotent) {
	replay, err := a.store.Replayed(r.Context(), i.scope, i.key, i.hash)
	if err == nil && replay == nil {
		err = errors.New("idempotent answer vanished")
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeRaw(w, replay.Status, replay.Body)
}

// answer ends an idempotent write: with err from the transaction, the winner's stored answer when a
// concurrent request with the same key committed first, the error, or else status and body. It reports
// whether this request's own work is what was answered.
func (a *API) answer(w http.ResponseWriter, r *http.Request, i *idempotent, err error, status int, body []byte) bool {
	switch {
	case err == errReplayWon:
		a.replayAfterRace(w, r, i)
		return false
	case err != nil:
		a.writeError(w, r, err)
		return false
	}
	writeRaw(w, status, body)
	return true
}
