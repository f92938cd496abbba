package kms

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/cmekd/cmekd/internal/domain"
)

// Error is a classified KMS failure.
type Error struct {
	// Code is one of domain's check codes (domain.CheckCodes).
	Code string
	// Action is the KMS action that failed, like "kms:GenerateDataKey".
	Action string
	// Message is KMS's own explanation, or the transport failure, for humans.
	Message string
	// Err is the underlying SDK or transport error.
	Err error
}

// Error describes the failure with its action, code and message.
func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s: %s", e.Action, e.Code, e.Message)
}

// Unwrap returns the underlying SDK or transport error.
func (e *Error) Unwrap() error { return e.Err }

// Transient reports whether retrying later may succeed: true only for domain.CodeKMSUnavailable.
func (e *Error) Transient() bool { return e.Code == domain.CodeKMSUnavailable }

// apiCodes maps KMS exception names to failure codes. KMSInvalidStateException is decided by its
// message, and outage-like exceptions are listed so that they never fall through to domain.CodeKMSError.
var apiCodes = map[string]string{
	"AccessDeniedException":       domain.CodeAccessDenied,
	"DisabledException":           domain.CodeKeyDisabled,
	"NotFoundException":           domain.CodeKeyNotFound,
	"InvalidKeyUsageException":    domain.CodeWrongKeyUsage,
	"InvalidCiphertextException":  domain.CodeInvalidCiphertext,
	"IncorrectKeyException":       domain.CodeInvalidCiphertext,
	"InvalidArnException":         domain.CodeInvalidKeyARN,
	"ThrottlingException":         domain.CodeKMSUnavailable,
	"LimitExceededException":      domain.CodeKMSUnavailable,
	"KMSInternalException":        domain.CodeKMSUnavailable,
	"DependencyTimeoutException":  domain.CodeKMSUnavailable,
	"KeyUnavailableException":     domain.CodeKMSUnavailable,
	"ServiceUnavailableException": domain.CodeKMSUnavailable,
	"InternalFailure":             domain.CodeKMSUnavailable,
	"RequestTimeout":              domain.CodeKMSUnavailable,
	"RequestTimeoutException":     domain.CodeKMSUnavailable,
}

// Classify turns any failure of a KMS call for action (like "kms:GenerateDataKey") into an *Error.
// It returns nil for nil and err itself when err already is an *Error.
//
// Anything without an answer from KMS (network errors, deadlines, cancellation) is domain.CodeKMSUnavailable, as
// is every 5xx: a failure must never be blamed on the customer's key unless KMS said so.
func Classify(action string, err error) *Error {
	if err == nil {
		return nil
	}
	var classified *Error
	if errors.As(err, &classified) {
		return classified
	}
	e := &Error{Action: action, Err: err, Message: err.Error()}
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		e.Code = domain.CodeKMSUnavailable
		return e
	}
	e.Message = apiErr.ErrorMessage()
	if e.Message == "" {
		e.Message = apiErr.ErrorCode()
	}
	code := apiErr.ErrorCode()
	switch {
	case code == "KMSInvalidStateException":
		e.Code = domain.CodeKeyStateInvalid
		if pendingDeletion(e.Message) {
			e.Code = domain.CodeKeyPendingDeletion
		}
	case apiCodes[code] != "":
		e.Code = apiCodes[code]
	case serverSide(err, apiErr):
		e.Code = domain.CodeKMSUnavailable
	default:
		e.Code = domain.CodeKMSError
	}
	return e
}

// pendingDeletion reports whether a KMSInvalidStateException message says the key is pending deletion:
// AWS writes "is pending deletion" (or "pending replica deletion" for a primary whose replicas go
// first), other implementations the state name "PendingDeletion".
func pendingDeletion(message string) bool {
	lower := strings.ToLower(message)
	return strings.Contains(lower, "pending") && strings.Contains(lower, "deletion")
}

// serverSide reports whether KMS (or something in front of it) failed on its side: a 5xx status or a
// fault the service attributes to itself.
func serverSide(err error, apiErr smithy.APIError) bool {
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) && respErr.HTTPStatusCode() >= http.StatusInternalServerError {
		return true
	}
	return apiErr.ErrorFault() == smithy.FaultServer
}
