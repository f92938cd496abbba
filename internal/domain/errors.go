// Package domain holds cmekd's types and error kinds, shared by the HTTP, logic and store layers.
package domain

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is a failure a client may see: a SPEC code, the HTTP status it maps to, a safe message and
// optional details. Anything that is not an *Error is internal and answered generically.
type Error struct {
	Status  int
	Code    string
	Message string
	Details map[string]any
	// RetryAfter, when positive, is sent as the Retry-After header (seconds).
	RetryAfter int
}

// Error reports the code and the message.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf builds an *Error with a formatted message.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
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

// Codes used across layers. Codes owned by one package (key ARN rules, KMS classification) live there.
const (
	CodeInvalidJSON          = "invalid_json"
	CodeUnknownField         = "unknown_field"
	CodeInvalidRequest       = "invalid_request"
	CodeUnauthorized         = "unauthorized"
	CodeForbidden            = "forbidden"
	CodeNotFound             = "not_found"
	CodeMethodNotAllowed     = "method_not_allowed"
	CodePayloadTooLarge      = "payload_too_large"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeInternal             = "internal_error"
	CodeUnavailable          = "unavailable"
	CodeInvalidCursor        = "invalid_cursor"

	CodeKeyVerificationFailed = "key_verification_failed"
	CodeOrgNameTaken          = "org_name_taken"
	CodeKeyLinkImmutable      = "key_link_immutable"
	CodeCMEKRequiresNewOrg    = "cmek_requires_new_org"
	CodeIdempotencyKeyReused  = "idempotency_key_reused"
	CodeInvalidPrincipal      = "invalid_principal"

	CodeKeyUnavailable          = "key_unavailable"
	CodeKMSUnreachable          = "kms_unreachable"
	CodeCollectionIngestHalted  = "collection_ingest_halted"
	CodeCollectionPaused        = "collection_paused"
	CodeCollectionUnrecoverable = "collection_unrecoverable"
	CodeCollectionNameTaken     = "collection_name_taken"
	CodeCollectionNotPaused     = "collection_not_paused"
	CodeDocumentIntegrity       = "document_integrity_failed"
)

// ErrNotFound is the store's answer for a missing row; the API maps it to 404.
var ErrNotFound = &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "not found"}

// NotFound names what was not found.
func NotFound(what string) *Error {
	return Errorf(http.StatusNotFound, CodeNotFound, "%s not found", what)
}

// Invalid is a 422 invalid_request about one field.
func Invalid(field, format string, args ...any) *Error {
	e := Errorf(http.StatusUnprocessableEntity, CodeInvalidRequest, format, args...)
	e.Details = map[string]any{"field": field}
	return e
}
