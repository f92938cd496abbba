package awsemu

import (
	"fmt"
	"net/http"
	"strings"
)

// apiError is an error the emulator answers with, named as AWS KMS names it so
// that the SDK maps it to its typed error (types.NotFoundException, …).
type apiError struct {
	typ    string
	msg    string
	status int
}

func (e *apiError) Error() string { return e.typ + ": " + e.msg }

func newError(typ, format string, args ...any) *apiError {
	return &apiError{typ: typ, msg: fmt.Sprintf(format, args...), status: http.StatusBadRequest}
}

// internalError is a failure of the emulator, not of the request.
func internalError(msg string) *apiError {
	return &apiError{typ: errInternal, msg: msg, status: http.StatusInternalServerError}
}

// The error names of the KMS API (and of the AWS request layer in front of it).
const (
	errAccessDenied       = "AccessDeniedException"
	errAlreadyExists      = "AlreadyExistsException"
	errDisabled           = "DisabledException"
	errDryRun             = "DryRunOperationException"
	errIncompleteSig      = "IncompleteSignatureException"
	errIncorrectKey       = "IncorrectKeyException"
	errInternal           = "InternalFailureException"
	errInvalidCiphertext  = "InvalidCiphertextException"
	errInvalidGrantID     = "InvalidGrantIdException"
	errInvalidGrantToken  = "InvalidGrantTokenException"
	errInvalidKeyUsage    = "InvalidKeyUsageException"
	errInvalidMarker      = "InvalidMarkerException"
	errInvalidSignature   = "InvalidSignatureException"
	errInvalidState       = "KMSInvalidStateException"
	errMalformedPolicy    = "MalformedPolicyDocumentException"
	errMissingAuth        = "MissingAuthenticationTokenException"
	errNotFound           = "NotFoundException"
	errSerialization      = "SerializationException"
	errUnknownOperation   = "UnknownOperationException"
	errUnsupportedOp      = "UnsupportedOperationException"
	errValidation         = "ValidationException"
	msgInvalidCiphertext  = "The ciphertext is invalid or was not produced for this encryption context."
	msgPolicyLockout      = "The new key policy will not allow you to update the key policy in the future."
	msgIncorrectKey       = "The key ID in the request does not identify a KMS key that can perform this operation."
	msgDryRun             = "The request would have succeeded, but the DryRun option is set."
	maxValidationMessages = 8
)

func errKeyDisabled(arn string) *apiError { return newError(errDisabled, "%s is disabled.", arn) }

func errKeyPendingDeletion(arn string) *apiError {
	return newError(errInvalidState, "%s is pending deletion.", arn)
}

// errKeyState refuses an operation that k's state does not allow.
func errKeyState(k *key) *apiError {
	switch k.state {
	case statePendingDeletion, statePendingReplica:
		return errKeyPendingDeletion(k.arn)
	}
	return newError(errInvalidState, "%s is %s.", k.arn, k.state)
}

func errKeyMissing(arn string) *apiError {
	return newError(errNotFound, "Key '%s' does not exist", arn)
}

// validator collects constraint violations and reports them in the shape AWS
// uses ("2 validation errors detected: Value … at 'keyId' failed to satisfy
// constraint: …; …"), so a client sees every problem at once.
type validator struct{ problems []string }

func (v *validator) add(format string, args ...any) {
	v.problems = append(v.problems, fmt.Sprintf(format, args...))
}

// required reports a missing member; present is false for absent or empty values.
func (v *validator) required(member string, present bool) {
	if !present {
		v.add("Value null at '%s' failed to satisfy constraint: Member must not be null", member)
	}
}

// keyID checks a required KeyId member.
func (v *validator) keyID(id string) {
	v.required("keyId", id != "")
	v.strLen("keyId", id, 1, 2048)
}

// strLen checks an optional string's length; empty strings count as absent.
func (v *validator) strLen(member, val string, lo, hi int) {
	switch {
	case val == "":
	case len(val) < lo:
		v.add("Value '%s' at '%s' failed to satisfy constraint: Member must have length greater than or equal to %d", val, member, lo)
	case len(val) > hi:
		v.add("Value at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", member, hi)
	}
}

// blobLen checks a present blob's length without echoing its (secret) value.
func (v *validator) blobLen(member string, b blob, lo, hi int) {
	switch {
	case b == nil:
	case len(b) < lo:
		v.add("Value at '%s' failed to satisfy constraint: Member must have length greater than or equal to %d", member, lo)
	case len(b) > hi:
		v.add("Value at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", member, hi)
	}
}

// intRange checks an optional integer.
func (v *validator) intRange(member string, n *int32, lo, hi int32) {
	switch {
	case n == nil:
	case *n < lo:
		v.add("Value '%d' at '%s' failed to satisfy constraint: Member must have value greater than or equal to %d", *n, member, lo)
	case *n > hi:
		v.add("Value '%d' at '%s' failed to satisfy constraint: Member must have value less than or equal to %d", *n, member, hi)
	}
}

// enum checks an optional enumerated value.
func (v *validator) enum(member, val string, allowed []string) {
	if val == "" {
		return
	}
	for _, a := range allowed {
		if a == val {
			return
		}
	}
	v.add("Value '%s' at '%s' failed to satisfy constraint: Member must satisfy enum value set: [%s]", val, member, strings.Join(allowed, ", "))
}

// grantTokens checks the GrantTokens member every key operation accepts.
func (v *validator) grantTokens(tokens []string) {
	if len(tokens) > 10 {
		v.add("Value at 'grantTokens' failed to satisfy constraint: Member must have length less than or equal to 10")
	}
	for _, t := range tokens {
		if t == "" || len(t) > 8192 {
			v.add("Value at 'grantTokens' failed to satisfy constraint: Member must satisfy constraint: [Member must have length less than or equal to 8192, Member must have length greater than or equal to 1]")
			return
		}
	}
}

func (v *validator) err() error {
	n := len(v.problems)
	if n == 0 {
		return nil
	}
	shown := v.problems
	if len(shown) > maxValidationMessages {
		shown = shown[:maxValidationMessages]
	}
	noun := "error"
	if n > 1 {
		noun = "errors"
	}
	return newError(errValidation, "%d validation %s detected: %s", n, noun, strings.Join(shown, "; "))
}
