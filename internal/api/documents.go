package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cmekd/cmekd/internal/documents"
	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/store"
)

// Document limits of SPEC §5; the body limit is maxDocumentsBody.
const (
	maxDocuments    = 1000
	maxDocumentSize = 256 << 10
)

type documentJSON struct {
	ID        string          `json:"id"`
	Data      json.RawMessage `json:"data"`
	CreatedAt time.Time       `json:"created_at"`
}

func toDocumentJSON(d documents.Document) documentJSON {
	return documentJSON{ID: d.ID, Data: d.Data, CreatedAt: d.CreatedAt}
}

// parseDocuments reads the documents of an ingest request: 1 to maxDocuments JSON objects, each at most
// maxDocumentSize bytes as sent.
func parseDocuments(raw []byte) ([]json.RawMessage, error) {
	var req struct {
		Documents []json.RawMessage `json:"documents"`
	}
	if err := decodeJSON(raw, &req); err != nil {
		return nil, err
	}
	switch n := len(req.Documents); {
	case n == 0:
		return nil, domain.Invalid("documents", "documents must hold at least one JSON object")
	case n > maxDocuments:
		return nil, domain.Invalid("documents", "documents holds %d items; at most %d are taken at once", n, maxDocuments)
	}
	for i, d := range req.Documents {
		if len(d) == 0 || d[0] != '{' {
			e := domain.Invalid("documents", "documents[%d] is not a JSON object", i)
			e.Details["index"] = i
			return nil, e
		}
		if len(d) > maxDocumentSize {
			e := domain.Errorf(http.StatusRequestEntityTooLarge, domain.CodePayloadTooLarge,
				"documents[%d] has %d bytes; a document may have at most %d", i, len(d), maxDocumentSize)
			e.Details = map[string]any{"field": "documents", "index": i}
			return nil, e
		}
		// Documents are stored as sent, minus insignificant whitespace around and inside them.
		var buf bytes.Buffer
		if err := json.Compact(&buf, d); err != nil {
			return nil, domain.Errorf(http.StatusBadRequest, domain.CodeInvalidJSON, "documents[%d] is not valid JSON", i)
		}
		req.Documents[i] = buf.Bytes()
	}
	return req.Documents, nil
}

func (a *API) ingestDocuments(w http.ResponseWriter, r *http.Request) {
	org := orgOf(r)
	raw, err := readBody(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	docs, err := parseDocuments(raw)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	col, err := a.store.Collection(r.Context(), org.ID, chi.URLParam(r, "col"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	idem, err := a.idempotency(r, "documents:"+col.ID, raw)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if idem.replay != nil {
		writeRaw(w, idem.replay.Status, idem.replay.Body)
		return
	}
	var body []byte
	ids, err := a.documents.Ingest(r.Context(), org, col, docs, func(tx *store.Tx, ids []string) error {
		var err error
		if body, err = json.Marshal(map[string]any{"ids": ids}); err != nil {
			return err
		}
		return idem.save(r.Context(), tx, http.StatusCreated, body)
	})
	if a.answer(w, r, idem, err, http.StatusCreated, body) {
		a.log.InfoContext(r.Context(), "documents ingested", "request_id", requestID(r.Context()),
			"org_id", org.ID, "collection_id", col.ID, "count", len(ids))
	}
}

func (a *API) getDocument(w http.ResponseWriter, r *http.Request) {
	col, err := a.store.Collection(r.Context(), orgOf(r).ID, chi.URLParam(r, "col"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	d, err := a.documents.Get(r.Context(), col, chi.URLParam(r, "doc"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toDocumentJSON(d))
}

func (a *API) listDocuments(w http.ResponseWriter, r *http.Request) {
	page, err := pageOf(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	col, err := a.store.Collection(r.Context(), orgOf(r).ID, chi.URLParam(r, "col"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	docs, next, err := a.documents.List(r.Context(), col, page)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]documentJSON, len(docs))
	for i, d := range docs {
		out[i] = toDocumentJSON(d)
	}
	writeJSON(w, http.StatusOK, map[string]any{"documents": out, "next_cursor": next})
}
