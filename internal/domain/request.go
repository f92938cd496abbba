package domain

import (
	"context"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Page is one page request of a list: at most Limit items after the opaque Cursor.
type Page struct {
	Limit  int
	Cursor string
}

type requestIDKey struct{}

// WithRequestID returns ctx carrying the request's id, so that every layer's log lines name it.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// ValidRequestID accepts a caller's X-Request-Id when it is short and printable ASCII (at most 128
// characters), so that echoing it keeps logs and headers clean.
func ValidRequestID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// RequestID is the id WithRequestID put in ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// ValidName trims a display name and checks it: 1–100 characters, no control characters, no Unicode
// format characters (bidi overrides, zero-width characters) or line and paragraph separators, which
// would make two names look alike, a name display other than it reads or break the line it is shown
// on, and no noncharacters, which are not text.
func ValidName(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || utf8.RuneCountInString(s) > 100 {
		return "", Invalid(field, "%s must be 1 to 100 characters", field)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "", Invalid(field, "%s must not contain control characters", field)
		}
		if unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' {
			return "", Invalid(field, "%s must not contain invisible formatting characters such as U+%04X", field, r)
		}
		if noncharacter(r) {
			return "", Invalid(field, "%s must not contain U+%04X, which is not a character", field, r)
		}
	}
	return s, nil
}

// noncharacter reports whether r is one of Unicode's 66 noncharacters: U+FDD0 to U+FDEF, and the last
// two code points of every plane.
func noncharacter(r rune) bool {
	return r >= 0xFDD0 && r <= 0xFDEF || r&0xFFFE == 0xFFFE
}

// Check is one verification step's result, in the shape clients see it.
type Check struct {
	Name    string `json:"name"`
	OK      bool   `json:"ok"`
	Code    string `json:"code,omitempty"`
	Action  string `json:"action,omitempty"`
	Message string `json:"message,omitempty"`
}

// Clip shortens s to at most n bytes (then with "…"), for quoting what a client sent in a message.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
