package gcp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cmekd/cmekd/internal/domain"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	v := "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/2"
	for _, tc := range []struct {
		err          error
		code, action string
	}{
		{status.Error(codes.PermissionDenied, "Permission 'cloudkms.cryptoKeys.get' denied on resource 'x' (or it may not exist)."), domain.CodeAccessDenied, permGet},
		{status.Error(codes.PermissionDenied, "denied"), domain.CodeAccessDenied, permEncrypt},
		{status.Error(codes.NotFound, "CryptoKey x not found."), domain.CodeKeyNotFound, permEncrypt},
		{status.Error(codes.FailedPrecondition, v+" is not enabled, current state is: DISABLED."), domain.CodeKeyDisabled, permEncrypt},
		{status.Error(codes.FailedPrecondition, v+" is not enabled, current state is: DESTROY_SCHEDULED."), domain.CodeKeyPendingDeletion, permEncrypt},
		{status.Error(codes.FailedPrecondition, v+" is not enabled, current state is: DESTROYED."), domain.CodeKeyDeleted, permEncrypt},
		{status.Error(codes.FailedPrecondition, v+" is not enabled, current state is: PENDING_GENERATION."), domain.CodeKeyStateInvalid, permEncrypt},
		{status.Error(codes.FailedPrecondition, "CryptoKey x has no primary version."), domain.CodeKeyStateInvalid, permEncrypt},
		{status.Error(codes.InvalidArgument, "Decryption failed: verify that 'name' refers to the correct CryptoKey."), domain.CodeInvalidCiphertext, permEncrypt},
		{status.Error(codes.InvalidArgument, "x has purpose ASYMMETRIC_SIGN; Encrypt and Decrypt need purpose ENCRYPT_DECRYPT."), domain.CodeWrongKeyPurpose, permEncrypt},
		{status.Error(codes.InvalidArgument, "The checksum in field ciphertext_crc32c did not match the data in field ciphertext."), domain.CodeKMSUnavailable, permEncrypt},
		{status.Error(codes.InvalidArgument, "something else"), domain.CodeKMSError, permEncrypt},
		{status.Error(codes.Unauthenticated, "Request had invalid authentication credentials."), domain.CodeKMSError, permEncrypt},
		{status.Error(codes.Unavailable, "connection refused"), domain.CodeKMSUnavailable, permEncrypt},
		{status.Error(codes.DeadlineExceeded, "deadline"), domain.CodeKMSUnavailable, permEncrypt},
		{status.Error(codes.ResourceExhausted, "quota"), domain.CodeKMSUnavailable, permEncrypt},
		{status.Error(codes.Internal, "oops"), domain.CodeKMSUnavailable, permEncrypt},
		{context.DeadlineExceeded, domain.CodeKMSUnavailable, permEncrypt},
		{fmt.Errorf("dial: %w", errors.New("no route to host")), domain.CodeKMSUnavailable, permEncrypt},
	} {
		e := classify(permEncrypt, tc.err)
		if e.Code != tc.code || e.Action != tc.action || !errors.Is(e, tc.err) {
			t.Errorf("classify(%v) = %s %s, want %s %s", tc.err, e.Code, e.Action, tc.code, tc.action)
		}
	}
}

func TestContextAAD_IsCanonicalAndUnambiguous(t *testing.T) {
	t.Parallel()
	a := contextAAD(map[string]string{"cmekd:org": "o1", "cmekd:collection": "c1"})
	b := contextAAD(map[string]string{"cmekd:collection": "c1", "cmekd:org": "o1"})
	if !bytes.Equal(a, b) {
		t.Fatal("the same context serialised two ways")
	}
	seen := map[string]string{}
	for _, c := range []map[string]string{
		nil, {"": ""}, {"a": "bc"}, {"ab": "c"}, {"a": "b", "c": ""}, {"a": "b\x00\x00\x00\x01c"}, {"a\x00": "b"},
	} {
		s := string(contextAAD(c))
		if prev, dup := seen[s]; dup {
			t.Errorf("contexts %s and %v serialise alike", prev, c)
		}
		seen[s] = fmt.Sprint(c)
	}
}
