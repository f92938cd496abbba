package store

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// IngestWrite is everything one ingest stores: its documents, sealed under one data key, and the
// answer to its Idempotency-Key (nil when it had none).
type IngestWrite struct {
	OrgID, CollectionID, DataKeyID string
	AADVersion                     int
	CreatedAt                      time.Time
	IDs                            []string
	// Seal appends document i's nonce || ciphertext to dst and returns dst grown. WriteIngest calls it
	// for each document in order as it sends them, so that a batch is never held sealed as a whole;
	// it may be called again for a document when the write is retried. Without it, the documents are
	// Sealed's.
	Seal func(i int, dst []byte) ([]byte, error)
	// Sealed holds every document's nonce || ciphertext, one after the other; document i's are
	// Sealed[Ends[i-1]:Ends[i]] (from 0 for the first).
	Sealed []byte
	Ends   []int32
	Replay *ReplayRecord
}

// Add appends one sealed document (nonce || ciphertext) to w.
func (w *IngestWrite) Add(id string, sealed []byte) {
	w.IDs = append(w.IDs, id)
	w.Sealed = append(w.Sealed, sealed...)
	w.Ends = append(w.Ends, int32(len(w.Sealed)))
}

// sealed appends document i's nonce || ciphertext to dst.
func (w *IngestWrite) sealed(i int, dst []byte) ([]byte, error) {
	if w.Seal != nil {
		return w.Seal(i, dst)
	}
	start := int32(0)
	if i > 0 {
		start = w.Ends[i-1]
	}
	return append(dst, w.Sealed[start:w.Ends[i]]...), nil
}

// ingestCheck is the first statement of an ingest's write, prepared on each connection under its
// name: it reads the collection's state under a shared lock (a state change by the monitor waits for
// the write, or the write for it, and then sees the new state), and unless the state is one of $3
// it stores the answer ($4 the scope: none when NULL) over none or an expired one, and counts the
// documents against their data key. When it may not go on (a refused state, a live answer stored
// by a concurrent request under the same key, no collection) it divides by zero: the error ends the
// write's transaction before its documents are stored, and WriteIngest asks which it was.
const (
	ingestCheckName = "cmekd_ingest_check"
	ingestCheckSQL  = `
WITH c AS MATERIALIZED (SELECT state FROM collections WHERE org_id = $1::text AND id = $2::text FOR SHARE),
ok AS (SELECT FROM c WHERE state <> ALL ($3::text[])),
r AS (
    INSERT INTO idempotency_keys (scope, key, request_hash, body, created_at)
    SELECT $4::text, $5::text, $6::bytea, $7::bytea, $8::timestamptz WHERE $4::text IS NOT NULL AND EXISTS (SELECT FROM ok)
    ON CONFLICT (scope, key) DO UPDATE SET request_hash = EXCLUDED.request_hash,
        body = EXCLUDED.body, created_at = EXCLUDED.created_at
    WHERE idempotency_keys.created_at <= $9::timestamptz
    RETURNING 1),
go AS (SELECT FROM ok WHERE $4::text IS NULL OR EXISTS (SELECT FROM r)),
n AS (UPDATE data_keys SET uses = uses + $10::int WHERE id = $11::text AND EXISTS (SELECT FROM go))
SELECT 1 / (SELECT count(*) FROM go)::int`
	ingestCopySQL = `COPY documents (id, org_id, collection_id, data_key_id, aad_version, nonce, ciphertext, created_at) FROM STDIN (FORMAT binary)`
	// ingestRefused is the error ingestCheck raises when the write may not go on: division_by_zero.
	ingestRefused = "22012"
	// statementGone is invalid_sql_statement_name: no prepared statement of that name.
	statementGone = "26000"
)

// WriteIngest stores an ingest in one round trip and one transaction, as pgx's CopyFrom of its rows
// would, with the collection's state lock, the answer and the count in front: one query of two
// statements, ingestCheck and a binary COPY of the documents, whose rows are sealed (w.Seal) and
// sent in chunks as they are made. Unless the state is one of refused it stores the answer (only
// over none or an expired one), the documents, and their count against the data key. When a live
// answer is there (a concurrent request under the same key committed first), nothing is stored and
// stored is false. state is the collection's state when it was refused, empty when the ingest was
// stored.
func (s *Store) WriteIngest(ctx context.Context, w IngestWrite, refused []string) (state string, stored bool, err error) {
	for attempt := 1; ; attempt++ {
		state, stored, again, err := s.writeIngest(ctx, &w, refused)
		// ingestCheck refused, but what refused it had changed by the time it was asked: try again.
		if !again {
			return state, stored, err
		}
		if attempt == 3 {
			return "", false, errors.New("store: an ingest's collection kept changing while it was written")
		}
	}
}

func (s *Store) writeIngest(ctx context.Context, w *IngestWrite, refused []string) (state string, stored, again bool, err error) {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return "", false, false, translate(err)
	}
	defer c.Release()
	// Prepared once per connection: pgx keeps it by name and asks nothing the next time.
	if _, err := c.Conn().Prepare(ctx, ingestCheckName, ingestCheckSQL); err != nil {
		return "", false, false, translate(err)
	}
	tag, err := c.Conn().PgConn().CopyFrom(ctx, &ingestRows{w: w}, ingestQuery(w, refused))
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == ingestRefused:
	case errors.As(err, &pgErr) && pgErr.Code == statementGone:
		// Deallocated behind pgx's back (DEALLOCATE ALL): forgotten, it is prepared again on the retry.
		_ = c.Conn().Deallocate(ctx, ingestCheckName)
		return "", false, true, nil
	case err != nil:
		return "", false, false, translate(err)
	case tag.RowsAffected() != int64(len(w.IDs)):
		return "", false, false, fmt.Errorf("store: an ingest of %d documents stored %d", len(w.IDs), tag.RowsAffected())
	default:
		return "", true, false, nil
	}
	// Why it was refused: the state, or a live answer under its key.
	var scope, key *string
	if w.Replay != nil {
		scope, key = &w.Replay.Scope, &w.Replay.Key
	}
	var live bool
	err = c.QueryRow(ctx, `
SELECT c.state, EXISTS (SELECT FROM idempotency_keys r WHERE r.scope = $3::text AND r.key = $4::text AND r.created_at > $5)
FROM collections c WHERE c.org_id = $1 AND c.id = $2`,
		w.OrgID, w.CollectionID, scope, key, w.CreatedAt.Add(-IdempotencyTTL)).Scan(&state, &live)
	if err != nil {
		return "", false, false, translateMissing(err, "collection")
	}
	if slices.Contains(refused, state) || live {
		return state, false, false, nil
	}
	return "", false, true, nil
}

// ingestQuery is the query of an ingest's write: ingestCheck with w's values, then the COPY. The
// query goes as one simple-protocol message (a COPY cannot be pipelined with a prepared statement's
// parameters otherwise), so the values are written into it as literals: strings and bytes in hex,
// which no quoting can be fooled by.
func ingestQuery(w *IngestWrite, refused []string) string {
	var r ReplayRecord
	if w.Replay != nil {
		r = *w.Replay
	}
	states := make([]string, len(refused))
	for i, st := range refused {
		states[i] = textLiteral(st)
	}
	scope, key := "NULL", "NULL"
	if w.Replay != nil {
		scope, key = textLiteral(r.Scope), textLiteral(r.Key)
	}
	args := []string{textLiteral(w.OrgID), textLiteral(w.CollectionID), "ARRAY[" + strings.Join(states, ",") + "]::text[]",
		scope, key, byteaLiteral(r.RequestHash), byteaLiteral(r.Body), timeLiteral(w.CreatedAt),
		timeLiteral(w.CreatedAt.Add(-IdempotencyTTL)), strconv.Itoa(len(w.IDs)), textLiteral(w.DataKeyID)}
	return "EXECUTE " + ingestCheckName + "(" + strings.Join(args, ",") + ");" + ingestCopySQL
}

func textLiteral(s string) string {
	return "convert_from(" + byteaLiteral([]byte(s)) + ",'UTF8')"
}

func byteaLiteral(b []byte) string {
	if b == nil {
		return "NULL"
	}
	return "decode('" + hex.EncodeToString(b) + "','hex')"
}

func timeLiteral(t time.Time) string {
	return "'" + t.UTC().Format(time.RFC3339Nano) + "'::timestamptz"
}

// ingestRows is the COPY's data, in PostgreSQL's binary format: a header, one row a document, each
// sealed only when the connection asks for it, and a trailer.
type ingestRows struct {
	w    *IngestWrite
	next int    // the document to encode next
	row  []byte // what is encoded and not yet read
	off  int
	done bool // the trailer is encoded
}

// copyHeader starts a binary COPY: its signature, no flags, no header extension.
var copyHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// postgresEpoch is where PostgreSQL's timestamps count from, in Unix microseconds.
const postgresEpoch = 946684800000000

func (r *ingestRows) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if r.off == len(r.row) {
			if r.done {
				break
			}
			if err := r.fill(); err != nil {
				return n, err
			}
		}
		c := copy(p[n:], r.row[r.off:])
		r.off += c
		n += c
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// fill encodes what comes next into row: the header with the first row, a row, or the trailer.
func (r *ingestRows) fill() error {
	b := r.row[:0]
	if r.next == 0 {
		b = append(b, copyHeader...)
	}
	r.off = 0
	if r.next == len(r.w.IDs) {
		r.row, r.done = binary.BigEndian.AppendUint16(b, 0xffff), true
		return nil
	}
	b, err := r.appendRow(b, r.next)
	r.row = b
	r.next++
	return err
}

// appendRow appends document i's row: id, org_id, collection_id, data_key_id, aad_version, nonce,
// ciphertext, created_at, each with its length in front.
func (r *ingestRows) appendRow(b []byte, i int) ([]byte, error) {
	w := r.w
	b = binary.BigEndian.AppendUint16(b, 8)
	for _, s := range []string{w.IDs[i], w.OrgID, w.CollectionID, w.DataKeyID} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	b = binary.BigEndian.AppendUint32(b, 2)
	b = binary.BigEndian.AppendUint16(b, uint16(w.AADVersion))
	// The document is sealed right after the nonce's length; its ciphertext then moves up to make
	// room for its own.
	b = binary.BigEndian.AppendUint32(b, nonceSize)
	at := len(b)
	b, err := w.sealed(i, b)
	if err != nil {
		return b, err
	}
	ct := len(b) - at - nonceSize
	if ct < 0 {
		return b, fmt.Errorf("store: document %d sealed into %d bytes", i, len(b)-at)
	}
	b = append(b, 0, 0, 0, 0)
	copy(b[at+nonceSize+4:], b[at+nonceSize:at+nonceSize+ct])
	binary.BigEndian.PutUint32(b[at+nonceSize:], uint32(ct))
	b = binary.BigEndian.AppendUint32(b, 8)
	return binary.BigEndian.AppendUint64(b, uint64(w.CreatedAt.UnixMicro()-postgresEpoch)), nil
}
