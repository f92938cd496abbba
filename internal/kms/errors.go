package kms

import (
	"github.com/cmekd/cmekd/internal/domain"

	"errors"
	"fmt"
	"net/http"
	"strings"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
)

// Failure codes of SPEC §4 (and §3 for a key name the client cannot route).
const (
	// CodeAccessDenied means the key policy or grants do not let the platform perform Action.
	CodeAccessDenied = domain.CodeAccessDenied
	// CodeKeyDisabled means the customer disabled the key.
	CodeKeyDisabled = domain.CodeKeyDisabled
	// CodeKeyPendingDeletion means the customer scheduled the key for deletion.
	CodeKeyPendingDeletion = domain.CodeKeyPendingDeletion
	// CodeKeyNotFound means the key does not exist (or no longer exists) in its region.
	CodeKeyNotFound = domain.CodeKeyNotFound
	// CodeKeyStateInvalid means the key is in a state other than disabled or pending deletion that forbids the call.
	CodeKeyStateInvalid = domain.CodeKeyStateInvalid
	// CodeWrongKeyUsage means the key cannot perform symmetric encryption (asymmetric, HMAC or signing keys).
	CodeWrongKeyUsage = domain.CodeWrongKeyUsage
	// CodeInvalidCiphertext means the ciphertext, its encryption context or its key do not match.
	CodeInvalidCiphertext = domain.CodeInvalidCiphertext
	// CodeInvalidKeyARN means the key name is not an ARN the client can route to a region.
	CodeInvalidKeyARN = domain.CodeInvalidKeyARN
	// CodeUnavailable means KMS could not be reached, timed out, throttled us or failed on its side; retryable.
	CodeUnavailable = domain.CodeKMSUnavailable
	// CodeKMSError means KMS rejected the request for a reason that is neither the customer's key nor an
	// outage (a ValidationException, credentials KMS does not recognise, an unknown exception).
	CodeKMSError = domain.CodeKMSError
)

// Error is a classified KMS failure.
type Error struct {
	// Code is one of the Code constants.
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

// Transient reports whether retrying later may succeed: true only for CodeUnavailable.
func (e *Error) Transient() bool { return e.Code == CodeUnavailable }

// apiCodes maps KMS exception names to failure codes. KMSInvalidStateException is decided by its
// message, and outage-like exceptions are listed so that they never fall through to CodeKMSError.
var apiCodes = map[string]string{
	"AccessDeniedException":       CodeAccessDenied,
	"DisabledException":           CodeKeyDisabled,
	"NotFoundException":           CodeKeyNotFound,
	"InvalidKeyUsageException":    CodeWrongKeyUsage,
	"InvalidCiphertextException":  CodeInvalidCiphertext,
	"IncorrectKeyException":       CodeInvalidCiphertext,
	"InvalidArnException":         CodeInvalidKeyARN,
	"ThrottlingException":         CodeUnavailable,
	"LimitExceededException":      CodeUnavailable,
	"KMSInternalException":        CodeUnavailable,
	"DependencyTimeoutException":  CodeUnavailable,
	"KeyUnavailableException":     CodeUnavailable,
	"ServiceUnavailableException": CodeUnavailable,
	"InternalFailure":             CodeUnavailable,
	"RequestTimeout":              CodeUnavailable,
	"RequestTimeoutException":     CodeUnavailable,
}

// Classify turns any failure of a KMS call for action (like "kms:GenerateDataKey") into an *Error.
// It returns nil for nil and err itself when err already is an *Error.
//
// Anything without an answer from KMS (network errors, deadlines, cancellation) is CodeUnavailable, as
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
		e.Code = CodeUnavailable
		return e
	}
	e.Message = apiErr.ErrorMessage()
	if e.Message == "" {
		e.Message = apiErr.ErrorCode()
	}
	code := apiErr.ErrorCode()
	switch {
	case code == "KMSInvalidStateException":
		e.Code = CodeKeyStateInvalid
		if pendingDeletion(e.Message) {
			e.Code = CodeKeyPendingDeletion
		}
	case apiCodes[code] != "":
		e.Code = apiCodes[code]
	case serverSide(err, apiErr):
		e.Code = CodeUnavailable
	default:
		e.Code = CodeKMSError
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
