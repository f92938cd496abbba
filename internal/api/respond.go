package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/cmekd/cmekd/internal/api/respond"
	"github.com/cmekd/cmekd/internal/domain"
)

// writeError answers err through the one writer of error bodies, logging on the API's logger.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	respond.Error(w, r, a.log, a.confirm(r, err))
}

// writeJSON and writeRaw are respond's, under the names the handlers use.
var (
	writeJSON = respond.JSON
	writeRaw  = respond.Raw
)

var (
	errUnsupportedMediaType = domain.Errorf(domain.KindUnsupportedMedia, domain.CodeUnsupportedMediaType,
		"send the request body as JSON with Content-Type: application/json")
	errEmptyBody = domain.Errorf(domain.KindMalformed, domain.CodeInvalidJSON, "the request body is empty; send a JSON object")
)

// isJSON reports whether a Content-Type header names JSON.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

// decodeBody reads the whole body (up to the route's limit) and decodes one JSON value into dst,
// refusing unknown fields and trailing data. It returns the raw bytes for idempotency hashing.
func decodeBody(r *http.Request, dst any) ([]byte, error) {
	raw, err := readBody(r)
	if err != nil {
		return nil, err
	}
	return raw, decodeJSON(raw, dst)
}

// readBody reads the whole body up to the route's limit (limitBody); an empty body is refused.
func readBody(r *http.Request) ([]byte, error) { return readBodyInto(r, nil) }

// readBodyInto is readBody into buf (nil: a new buffer), which it grows and stores back; the body
// returned is *buf.
func readBodyInto(r *http.Request, buf *[]byte) ([]byte, error) {
	if err := reserveBody(r); err != nil {
		return nil, err
	}
	var dst []byte
	if buf != nil {
		dst = (*buf)[:0]
	}
	limit := bodyRuleOf(r.Context()).limit
	raw, err := readAll(http.MaxBytesReader(nil, r.Body, limit), r.ContentLength, limit, dst)
	if buf != nil {
		*buf = raw
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, tooLarge(tooBig.Limit)
		}
		return nil, domain.Errorf(domain.KindMalformed, domain.CodeInvalidJSON, "the request body could not be read")
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, errEmptyBody
	}
	return raw, nil
}

// tooLarge refuses a body longer than limit bytes.
func tooLarge(limit int64) error {
	return domain.Errorf(domain.KindTooLarge, domain.CodePayloadTooLarge, "the request body exceeds %d bytes", limit)
}

// readAll is io.ReadAll into dst (appending; nil for a new buffer), grown at once to the body's
// declared length (when it is within limit), so that a large body is not copied over and over as the
// buffer grows.
func readAll(rd io.Reader, length, limit int64, dst []byte) ([]byte, error) {
	if length <= 0 || length > limit {
		length = 512
	}
	b := slices.Grow(dst, int(length)+1) // +1: room for the read that finds the end
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // the body was longer than declared
		}
		n, err := rd.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

var (
	errNotUTF8       = domain.Errorf(domain.KindMalformed, domain.CodeInvalidJSON, "the request body is not valid UTF-8")
	errNotObject     = domain.Errorf(domain.KindMalformed, domain.CodeInvalidJSON, "the request body must be a JSON object")
	errLoneSurrogate = domain.Errorf(domain.KindMalformed, domain.CodeInvalidJSON,
		"the request body holds a \\u escape of a lone UTF-16 surrogate, which is no character")
)

// decodeJSON decodes exactly one JSON object from raw into dst, strictly. Text is text: invalid UTF-8
// and escapes of lone surrogates, which encoding/json would silently turn into U+FFFD, are refused.
// So is a name given twice in one object, anywhere in the body: encoding/json would let the last one
// win, and what a proxy or a log read as the first would not be what was done.
func decodeJSON(raw []byte, dst any) error {
	if !utf8.Valid(raw) {
		return errNotUTF8
	}
	if trimmed := bytes.TrimLeft(raw, " \t\r\n"); len(trimmed) > 0 && trimmed[0] != '{' {
		return errNotObject // null would otherwise decode as an empty object
	}
	if loneSurrogate(raw) {
		return errLoneSurrogate
	}
	if err := duplicateName(raw); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return domain.Errorf(domain.KindMalformed, domain.CodeInvalidJSON, "the request body holds more than one JSON value")
	}
	return nil
}

// duplicateName refuses raw when an object in it names a member twice, names being compared as the
// text they stand for. Other faults are left to encoding/json, which words them as clients know.
func duplicateName(raw []byte) error {
	dec := jsontext.NewDecoder(bytes.NewBuffer(raw))
	_, err := dec.ReadValue()
	var syntax *jsontext.SyntacticError
	if !errors.As(err, &syntax) || !errors.Is(syntax.Err, jsontext.ErrDuplicateName) {
		return nil
	}
	e := domain.Errorf(domain.KindMalformed, domain.CodeMalformedRequest,
		"the request body names a member twice in one object (at %q); send each name once", string(syntax.JSONPointer))
	e.Details = map[string]any{"pointer": string(syntax.JSONPointer)}
	return e
}

// loneSurrogate reports whether raw holds a \u escape of a UTF-16 surrogate that is not a high one
// directly followed by a low one. Escaped backslashes are stepped over, so "\\ud800" (a backslash,
// then text) is not one.
func loneSurrogate(raw []byte) bool {
	for i := 0; i < len(raw); i++ {
		next := bytes.IndexByte(raw[i:], '\\')
		if next < 0 {
			return false
		}
		if i += next; i+1 >= len(raw) {
			return false
		}
		if raw[i+1] != 'u' {
			i++ // an escaped character, a backslash included
			continue
		}
		r, ok := hex4(raw, i+2)
		switch {
		case !ok || !utf16.IsSurrogate(r):
		case r >= 0xDC00: // a low surrogate with no high one before it
			return true
		default:
			low, ok := hex4(raw, i+8)
			if i+7 >= len(raw) || raw[i+6] != '\\' || raw[i+7] != 'u' || !ok || low < 0xDC00 || low > 0xDFFF {
				return true
			}
			i += 11
			continue
		}
		i += 5
	}
	return false
}

// hex4 reads four hex digits at raw[i:].
func hex4(raw []byte, i int) (rune, bool) {
	if i+4 > len(raw) {
		return 0, false
	}
	var r rune
	for _, c := range raw[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

func jsonError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		e := domain.Errorf(domain.KindMalformed, domain.CodeUnknownField, "unknown field %q", field)
		e.Details = map[string]any{"field": field}
		return e
	case errors.As(err, &syntax):
		return domain.Errorf(domain.KindMalformed, domain.CodeInvalidJSON, "malformed JSON at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		e := domain.Errorf(domain.KindMalformed, domain.CodeInvalidJSON, "field %q must be %s", typ.Field, jsonKind(typ.Type.Kind().String()))
		e.Details = map[string]any{"field": typ.Field}
		return e
	default:
		return domain.Errorf(domain.KindMalformed, domain.CodeInvalidJSON, "malformed JSON: the body is not one complete JSON value")
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "map", "struct", "ptr":
		return "an object"
	default:
		return "a number"
	}
}
