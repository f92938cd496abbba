// Package domain holds cmekd's types, error kinds and error codes, shared by the HTTP, service and
// store layers. It knows nothing of HTTP: the one table from error kind to status lives in api/respond.
package domain

import (
	"errors"
	"fmt"
)

// Kind is the class of a failure a client may see; api maps each kind to one HTTP status.
type Kind int

// Error kinds.
const (
	// KindInternal is a failure the client cannot act on; its text is never shown.
	KindInternal Kind = iota
	// KindMalformed is a request that cannot be read: malformed JSON, unknown fields, a forged cursor.
	KindMalformed
	// KindUnauthenticated is a missing or bad token.
	KindUnauthenticated
	// KindForbidden is a role too weak for the act.
	KindForbidden
	// KindNotFound is a missing resource, or one of another organisation.
	KindNotFound
	// KindMethodNotAllowed is a route that exists without this method.
	KindMethodNotAllowed
	// KindConflict is a state that forbids the act (a halted collection, a taken name, an unusable key).
	KindConflict
	// KindTooLarge is a body or item past its limit.
	KindTooLarge
	// KindUnsupportedMedia is a body that is not JSON.
	KindUnsupportedMedia
	// KindInvalid is a well-formed request that fails validation or verification.
	KindInvalid
	// KindUnavailable is a dependency that cannot be reached right now; retryable.
	KindUnavailable
	// KindRateLimited is a caller asking more often than it may; retry after RetryAfter.
	KindRateLimited
)

// Error is a failure a client may see: a kind, an error code, a safe message and optional details.
// Anything that is not an *Error is internal and answered generically.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Details map[string]any
	// RetryAfter, when positive, tells the client how many seconds to wait before retrying.
	RetryAfter int
}

// Error reports the code and the message.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Is reports whether target is an *Error of the same code, so that errors.Is(err, ErrNotFound)
// holds for every not-found error whatever it names.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Errorf builds an *Error with a formatted message.
func Errorf(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithDetails returns a copy of e carrying details.
func (e *Error) WithDetails(details map[string]any) *Error {
	c := *e
	c.Details = details
	return &c
}

// AsError reports whether err is (or wraps) an *Error and returns it.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// ErrNotFound matches every not-found error with errors.Is.
var ErrNotFound = &Error{Kind: KindNotFound, Code: CodeNotFound, Message: "not found"}

// NotFound names what was not found.
func NotFound(what string) *Error {
	return Errorf(KindNotFound, CodeNotFound, "%s not found", what)
}

// Invalid is a 422 invalid_request about one field.
func Invalid(field, format string, args ...any) *Error {
	e := Errorf(KindInvalid, CodeInvalidRequest, format, args...)
	e.Details = map[string]any{"field": field}
	return e
}

// KeyUnavailableError is key_unavailable: the customer made the data key unusable.
func KeyUnavailableError(e *ProbeError) *Error { return KeyUnavailableFor(PurposeData, e) }

// KeyUnavailableFor is key_unavailable of the key of purpose (data or backup).
func KeyUnavailableFor(purpose string, e *ProbeError) *Error {
	err := Errorf(KindConflict, CodeKeyUnavailable, "the organisation's %s key cannot be used: %s", purpose, e.Message)
	err.Details = map[string]any{"reason": e.Code, "purpose": purpose}
	if e.Action != "" {
		err.Details["action"] = e.Action
	}
	return err
}

// ProviderKeyUnavailableError is provider_key_unavailable: the platform's own key cannot be used right
// now. It carries no details, so no tenant learns the key's ARN or why it failed.
func ProviderKeyUnavailableError() *Error {
	err := Errorf(KindUnavailable, CodeProviderKeyUnavailable, "the platform's key cannot be used right now; this is not the organisation's doing, retry later")
	err.RetryAfter = 30
	return err
}

// KMSUnreachableError is kms_unreachable: KMS did not answer or throttled us; retry.
func KMSUnreachableError(e *ProbeError) *Error {
	err := Errorf(KindUnavailable, CodeKMSUnreachable, "KMS could not be reached; retry shortly")
	if e != nil {
		err.Details = map[string]any{"reason": e.Code}
	}
	err.RetryAfter = 5
	return err
}
