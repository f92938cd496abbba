package api

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/documents"
)

// TestAppendDocument_MatchesEncodingJSON: the hand-written document encoding is byte for byte what
// encoding/json (without HTML escaping) writes for the same document.
func TestAppendDocument_MatchesEncodingJSON(t *testing.T) {
	for _, d := range []documents.Document{
		{ID: "doc_0123456789abcdef", Data: json.RawMessage(`{"a":1}`), CreatedAt: time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)},
		{ID: "doc_zzzzzzzzzzzzzzzz", Data: json.RawMessage(`{"html":"<b>&</b>","u":"grüße 🙂","n":[1.5e300,null,true],"e":{}}`),
			CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)},
		{ID: "doc_x", Data: json.RawMessage(`{}`), CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 120000000, time.UTC)},
	} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(struct {
			ID        string          `json:"id"`
			Data      json.RawMessage `json:"data"`
			CreatedAt time.Time       `json:"created_at"`
		}{d.ID, d.Data, d.CreatedAt}); err != nil {
			t.Fatal(err)
		}
		if got := appendDocument(nil, d); string(got) != string(bytes.TrimSpace(want.Bytes())) {
			t.Errorf("appendDocument = %s\nencoding/json  = %s", got, want.Bytes())
		}
	}
}
