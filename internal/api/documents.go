package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cmekd/cmekd/internal/bufpool"
	"github.com/cmekd/cmekd/internal/documents"
	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/idempotency"
)

// parseDocuments reads the documents of an ingest request: 1 to documents.MaxDocuments JSON objects,
// each at most documents.MaxDocumentSize bytes as sent (the documents service's limits).
// The usual body takes the fast path (compactDocumentsInto), any other the strict one.
func parseDocuments(raw []byte) ([]json.RawMessage, error) {
	if docs, ok := compactDocuments(raw); ok {
		return docs, nil
	}
	return parseDocumentsStrictly(raw)
}

// parseDocumentsStrictly is parseDocuments through encoding/json, for every body compactDocuments
// gives up on: it names what is wrong with a refused one.
func parseDocumentsStrictly(raw []byte) ([]json.RawMessage, error) {
	var req struct {
		Documents []json.RawMessage `json:"documents"`
	}
	if err := decodeJSON(raw, &req); err != nil {
		return nil, err
	}
	if n := len(req.Documents); n == 0 || n > documents.MaxDocuments {
		return nil, documents.TooMany(n)
	}
	// Compacted documents are never longer than the body, so one buffer of its size holds them all and
	// each document is a slice of it: one allocation instead of one per document.
	var buf bytes.Buffer
	buf.Grow(len(raw))
	for i, d := range req.Documents {
		if len(d) == 0 || d[0] != '{' {
			e := domain.Invalid("documents", "documents[%d] is not a JSON object", i)
			e.Details["index"] = i
			return nil, e
		}
		if len(d) > documents.MaxDocumentSize {
			return nil, documents.TooLarge(i, len(d))
		}
		// Documents are stored as sent, minus insignificant whitespace around and inside them.
		start := buf.Len()
		if err := json.Compact(&buf, d); err != nil {
			return nil, domain.Errorf(domain.KindMalformed, domain.CodeInvalidJSON, "documents[%d] is not valid JSON", i)
		}
		req.Documents[i] = buf.Bytes()[start:buf.Len():buf.Len()]
	}
	return req.Documents, nil
}

// ingestDocuments answers an ingest. Its organisation is read with the collection by the documents
// service, in one round trip, while the body is read and parsed here; what is wrong with the body is
// answered only once the organisation is known to exist, as on the organisation routes that load it
// first.
func (a *API) ingestDocuments(w http.ResponseWriter, r *http.Request) {
	colID := chi.URLParam(r, "col")
	route, header, actor := "documents:"+colID, r.Header.Get("Idempotency-Key"), principal(r.Context()).Actor()
	pending := a.documents.BeginIngest(r.Context(), chi.URLParam(r, "org"), colID, a.idem.Lookup(header, route, actor))
	// The body and its compacted documents are read into pooled buffers, given back (wiped) once the
	// documents are sealed and stored.
	body, compacted := bodies.Get(), bodies.Get()
	defer bodies.Put(body)
	defer bodies.Put(compacted)
	raw, err := readBodyInto(r, body)
	var docs []json.RawMessage
	if err == nil {
		var ok bool
		if docs, ok = compactDocumentsInto(raw, compacted); ok {
			// What is held from here on: the body, and the documents that had whitespace to remove.
			settle(r, int64(cap(*body)+cap(*compacted)))
		} else {
			docs, err = parseDocumentsStrictly(raw)
		}
	}
	var key idempotency.Key
	if err == nil {
		key, err = a.idem.Key(header, route, actor, raw)
	}
	if err != nil {
		a.writeError(w, r, pending.Refuse(err))
		return
	}
	res, err := pending.Ingest(docs, key)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, res)
}

func (a *API) getDocument(w http.ResponseWriter, r *http.Request) {
	d, err := a.documents.GetChecked(r.Context(), pendingToken(r), chi.URLParam(r, "org"), chi.URLParam(r, "col"), chi.URLParam(r, "doc"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeRaw(w, http.StatusOK, appendDocument(nil, d))
}

func (a *API) listDocuments(w http.ResponseWriter, r *http.Request) {
	page, err := pageOf(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	// Each document is written into the answer as it is opened (documents.ListEach).
	out := answers.Get()
	defer answers.Put(out)
	b := append((*out)[:0], `{"documents":[`...)
	n := 0
	// The documents of one ingest share its time: it is formatted once for a run of them.
	var at time.Time
	var stamp []byte
	next, err := a.documents.ListEach(r.Context(), pendingToken(r), chi.URLParam(r, "org"), chi.URLParam(r, "col"), page, func(d documents.Document) {
		if n > 0 {
			b = append(b, ',')
		}
		if n == 0 || !d.CreatedAt.Equal(at) {
			at, stamp = d.CreatedAt, d.CreatedAt.AppendFormat(stamp[:0], time.RFC3339Nano)
		}
		b = appendDocumentAt(b, d, stamp)
		n++
	})
	*out = b
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	b = append(b, `],"next_cursor":`...)
	b = strconv.AppendQuote(b, next) // a cursor is base64url: nothing in it needs JSON escaping
	b = append(b, '}')
	*out = b
	writeRaw(w, http.StatusOK, b)
}

// Pooled buffers: answers, the pages of documents written out (they hold decrypted documents), and
// bodies, ingest bodies and their compacted documents. Each is wiped before it is lent again, and one
// grown past 1 MiB (a page or body of unusually large documents) goes to the collector.
var (
	answers = bufpool.New(1 << 20)
	bodies  = bufpool.New(1 << 20)
)

// appendDocument appends a document as JSON. Its data is appended as stored: it was compacted and
// validated at ingestion and has passed AES-GCM authentication since, so it is the same valid JSON, and
// encoding/json need not scan it again (which cost a quarter of a read's CPU).
func appendDocument(b []byte, d documents.Document) []byte {
	return appendDocumentAt(b, d, d.CreatedAt.AppendFormat(nil, time.RFC3339Nano))
}

// appendDocumentAt is appendDocument with the document's time already formatted (RFC 3339).
func appendDocumentAt(b []byte, d documents.Document, createdAt []byte) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendQuote(b, d.ID) // ids are [a-z0-9_]
	b = append(b, `,"data":`...)
	b = append(b, d.Data...)
	b = append(b, `,"created_at":"`...)
	b = append(b, createdAt...)
	return append(b, `"}`...)
}
