package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cmekd/cmekd/internal/domain"
)

// cursor is the position after which a page starts. Lists ordered by a sequence use Seq; others use
// (At, ID).
type cursor struct {
	At  time.Time `json:"t,omitzero"`
	ID  string    `json:"i,omitempty"`
	Seq int64     `json:"s,omitempty"`
}

var errBadCursor = domain.Errorf(domain.KindMalformed, domain.CodeInvalidCursor, "the cursor is not one this server issued")

func decodeCursor(p domain.Page) (cursor, error) {
	if p.Cursor == "" {
		return cursor{}, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(p.Cursor)
	if err != nil {
		return cursor{}, errBadCursor
	}
	var c cursor
	if err := json.Unmarshal(raw, &c); err != nil || !c.valid() {
		return cursor{}, errBadCursor
	}
	return c, nil
}

// valid reports whether c could have been issued: ids are short lowercase ASCII with a type prefix
// (never a NUL byte, which PostgreSQL refuses in text), and times fall in PostgreSQL's range.
func (c cursor) valid() bool {
	if len(c.ID) > 64 {
		return false
	}
	for _, r := range c.ID {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return c.At.IsZero() || (c.At.Year() >= 1 && c.At.Year() <= 9999)
}

func (c cursor) String() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// collect scans every row with scan.
func collect[T any](rows pgx.Rows, scan func(pgx.Row) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, translate(err)
		}
		out = append(out, v)
	}
	return out, translate(rows.Err())
}

// trim cuts a page fetched with limit+1 rows to limit and returns the cursor for the next page, empty
// at the end.
func trim[T any](items []T, limit int, pos func(T) cursor) ([]T, string, error) {
	if len(items) <= limit {
		return items, "", nil
	}
	items = items[:limit]
	return items, pos(items[len(items)-1]).String(), nil
}

// list is every list's one paging step: it reads the page's cursor, runs the query that sql builds
// from it for one row more than the page (to learn whether another page follows), scans the rows
// and cuts the page, returning the cursor of the next one (empty at the end).
func list[T any](ctx context.Context, q *Q, page domain.Page, sql func(after cursor, limit int) (string, []any),
	scan func(pgx.Row) (T, error), pos func(T) cursor) ([]T, string, error) {
	after, err := decodeCursor(page)
	if err != nil {
		return nil, "", err
	}
	query, args := sql(after, page.Limit+1)
	rows, err := q.db.Query(ctx, query, args...)
	if err != nil {
		return nil, "", translate(err)
	}
	items, err := collect(rows, scan)
	if err != nil {
		return nil, "", err
	}
	return trim(items, page.Limit, pos)
}
