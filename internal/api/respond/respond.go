// Package respond writes cmekd's HTTP answers: the one table from error kind to status, the one writer
// of error bodies and the request id every answer carries. The API and the web console both answer
// through it, so a client reads one kind of error whichever of them refused the request. It sits
// below both and imports nothing of cmekd but domain.
package respond

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/cmekd/cmekd/internal/domain"
)

// errorBody is the error shape of every answer that is not a success.
type errorBody struct {
	Error     errorDetail `json:"error"`
	RequestID string      `json:"request_id"`
}

type errorDetail struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details"`
}

// statuses is the one table from error kind to HTTP status.
var statuses = map[domain.Kind]int{
	domain.KindInternal:         http.StatusInternalServerError,
	domain.KindMalformed:        http.StatusBadRequest,
	domain.KindUnauthenticated:  http.StatusUnauthorized,
	domain.KindForbidden:        http.StatusForbidden,
	domain.KindNotFound:         http.StatusNotFound,
	domain.KindMethodNotAllowed: http.StatusMethodNotAllowed,
	domain.KindConflict:         http.StatusConflict,
	domain.KindTooLarge:         http.StatusRequestEntityTooLarge,
	domain.KindUnsupportedMedia: http.StatusUnsupportedMediaType,
	domain.KindInvalid:          http.StatusUnprocessableEntity,
	domain.KindUnavailable:      http.StatusServiceUnavailable,
	domain.KindRateLimited:      http.StatusTooManyRequests,
}

// Status is the HTTP status an error of kind is answered with.
func Status(kind domain.Kind) int { return statuses[kind] }

// ErrInternal is the answer to every failure that is not a domain error: it reveals nothing.
var ErrInternal = domain.Errorf(domain.KindInternal, domain.CodeInternal,
	"an internal error occurred; quote the request id when you report it")

// Error is the one writer of error bodies. Domain errors are shown as they are; anything else is
// logged on log with the request id and answered with a generic 500 that reveals nothing.
func Error(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	e, ok := domain.AsError(err)
	if !ok {
		log.ErrorContext(r.Context(), "internal error", "request_id", domain.RequestID(r.Context()),
			"method", r.Method, "path", r.URL.Path, "error", err.Error())
		e = ErrInternal
	}
	status := statuses[e.Kind]
	details := e.Details
	if details == nil {
		details = map[string]any{}
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="cmekd"`)
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	JSON(w, status, errorBody{
		Error:     errorDetail{Code: e.Code, Message: e.Message, Details: details},
		RequestID: domain.RequestID(r.Context()),
	})
}

// JSON answers v as JSON. HTML characters are not escaped: documents read back as they were
// ingested, and every answer is application/json, never HTML.
func JSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(v)
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if err != nil {
		// Only our own types are marshalled; failing here is a programming error.
		slog.Error("encode response", "error", err)
		http.Error(w, `{"error":{"code":"internal_error","message":"encoding failed","details":{}}}`, http.StatusInternalServerError)
		return
	}
	Raw(w, status, b)
}

// Raw answers b, a JSON value, with its length: a page of documents goes out in one piece rather than
// in chunks of net/http's buffer.
func Raw(w http.ResponseWriter, status int, b []byte) {
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// WithRequestID echoes the caller's X-Request-Id (when it is a valid one) or makes one, sets it on the
// answer and returns r carrying it, so that the error body and every log line name the same id.
func WithRequestID(w http.ResponseWriter, r *http.Request) *http.Request {
	id := r.Header.Get("X-Request-Id")
	if !domain.ValidRequestID(id) {
		var b [12]byte
		_, _ = rand.Read(b[:])
		id = "req_" + hex.EncodeToString(b[:])
	}
	w.Header().Set("X-Request-Id", id)
	return r.WithContext(domain.WithRequestID(r.Context(), id))
}
