package store

import (
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/domain"
)

// FuzzCursor feeds forged cursors to the page decoder: it never panics, and what it accepts is a
// position the database can compare against and that encodes back to itself.
func FuzzCursor(f *testing.F) {
	for _, c := range []cursor{{}, {Seq: 42}, {At: time.Date(2026, 11, 23, 8, 0, 0, 123, time.UTC), ID: "org_0123456789abcdef"}} {
		f.Add(c.String())
	}
	for _, s := range []string{"", "not base64!", "bnVsbA", "W10", "eyJpIjoiXHUwMDAwIn0", "eyJzIjoxZTQwMH0", "eyJ0IjoiMTAwMDAtMDEtMDFUMDA6MDA6MDBaIn0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(domain.Page{Limit: 10, Cursor: s})
		if err != nil {
			if err != errBadCursor {
				t.Fatalf("error %v, want errBadCursor", err)
			}
			return
		}
		if !c.valid() {
			t.Fatalf("accepted %+v", c)
		}
		again, err := decodeCursor(domain.Page{Cursor: c.String()})
		if err != nil || !again.At.Equal(c.At) || again.ID != c.ID || again.Seq != c.Seq {
			t.Fatalf("%+v does not survive a round trip: %+v %v", c, again, err)
		}
	})
}
