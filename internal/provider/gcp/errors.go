package gcp

import (
	"regexp"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/kms"
	"github.com/cmekd/cmekd/internal/provider"
)

// Permissions Cloud KMS checks for the calls the platform makes, and the roles that hold them.
const (
	permGet     = "cloudkms.cryptoKeys.get"
	permEncrypt = "cloudkms.cryptoKeyVersions.useToEncrypt"
	permDecrypt = "cloudkms.cryptoKeyVersions.useToDecrypt"

	roleEncrypterDecrypter = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
	roleViewer             = "roles/cloudkms.viewer"
)

var (
	// Cloud KMS's PERMISSION_DENIED names the permission: "Permission 'P' denied on resource …".
	deniedPermission = regexp.MustCompile(`Permission '([a-zA-Z.]+)' denied`)
	// Its FAILED_PRECONDITION for a version that is not enabled names the version and its state.
	versionState = regexp.MustCompile(`cryptoKeyVersions/([0-9]+) is not enabled, current state is: ([A-Z_]+)`)
)

// transientCodes are gRPC codes that say nothing about the key: Cloud KMS, or the way to it, failed.
var transientCodes = map[codes.Code]bool{
	codes.Unavailable: true, codes.DeadlineExceeded: true, codes.ResourceExhausted: true,
	codes.Internal: true, codes.Unknown: true, codes.Aborted: true, codes.Canceled: true,
}

// classify turns a failed call needing permission into a *kms.Error with a domain code. Only what
// Cloud KMS said about the key is blamed on the customer; anything without such an answer is
// kms_unavailable.
func classify(permission string, err error) *kms.Error {
	e, done := provider.Classified(permission, err)
	st, ok := status.FromError(err)
	if done || !ok {
		return e
	}
	e.Message = st.Message()
	switch c := st.Code(); {
	case transientCodes[c]:
	case c == codes.PermissionDenied:
		provider.Denied(e, deniedPermission)
	case c == codes.NotFound:
		e.Code = domain.CodeKeyNotFound
	case c == codes.FailedPrecondition:
		e.Code = domain.CodeKeyStateInvalid
		if m := versionState.FindStringSubmatch(e.Message); m != nil {
			e.Code = stateCode(m[2])
		}
	case c == codes.InvalidArgument:
		e.Code = invalidArgument(e.Message)
	default:
		// UNAUTHENTICATED (the platform's own credentials), UNIMPLEMENTED and the like: neither the
		// customer's key nor an outage.
		e.Code = domain.CodeKMSError
	}
	return e
}

// invalidArgument tells the INVALID_ARGUMENT answers apart by Cloud KMS's message.
func invalidArgument(msg string) string {
	switch {
	case strings.Contains(msg, "Decryption failed"):
		return domain.CodeInvalidCiphertext
	case strings.Contains(msg, "checksum"):
		// A CRC32C mismatch is corruption on the way: sending again may succeed.
		return domain.CodeKMSUnavailable
	case strings.Contains(msg, "ENCRYPT_DECRYPT") || strings.Contains(msg, "purpose"):
		return domain.CodeWrongKeyPurpose
	}
	return domain.CodeKMSError
}

// stateCode is the code of a key version that is in state (a CryptoKeyVersionState name) and so
// cannot be used.
func stateCode(state string) string {
	switch state {
	case "ENABLED":
		return ""
	case "DISABLED":
		return domain.CodeKeyDisabled
	case "DESTROY_SCHEDULED":
		return domain.CodeKeyPendingDeletion
	case "DESTROYED":
		return domain.CodeKeyDeleted
	}
	return domain.CodeKeyStateInvalid
}

// versionOf is the version number and state a FAILED_PRECONDITION message names, if any.
func versionOf(msg string) (n, state string) {
	if m := versionState.FindStringSubmatch(msg); m != nil {
		return m[1], m[2]
	}
	return "", ""
}

// roleFor is the role of the two the customer grants that holds permission.
func roleFor(permission string) string {
	if permission == permGet {
		return roleViewer
	}
	return roleEncrypterDecrypter
}
