package kms_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/cmekd/cmekd/internal/kms"
)

// operationError wraps err the way the SDK returns every failure of a KMS operation.
func operationError(err error) error {
	return &smithy.OperationError{ServiceID: "KMS", OperationName: "GenerateDataKey", Err: err}
}

// httpError wraps err in the HTTP response error the SDK reports with status.
func httpError(status int, err error) error {
	return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: err}}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		code string
	}{
		{"access denied", httpError(http.StatusBadRequest, &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized"}), kms.CodeAccessDenied},
		{"disabled", &types.DisabledException{Message: aws.String("key is disabled")}, kms.CodeKeyDisabled},
		{"not found", &types.NotFoundException{Message: aws.String("does not exist")}, kms.CodeKeyNotFound},
		{"pending deletion (AWS)", &types.KMSInvalidStateException{
			Message: aws.String("arn:aws:kms:us-east-1:111122223333:key/k is pending deletion.")}, kms.CodeKeyPendingDeletion},
		{"pending deletion (state name)", &types.KMSInvalidStateException{
			Message: aws.String("key/k is PendingDeletion")}, kms.CodeKeyPendingDeletion},
		{"pending replica deletion", &types.KMSInvalidStateException{
			Message: aws.String("key/mrk-1 is pending replica deletion")}, kms.CodeKeyPendingDeletion},
		{"other invalid state", &types.KMSInvalidStateException{
			Message: aws.String("key/k is pending import")}, kms.CodeKeyStateInvalid},
		{"invalid key usage", &types.InvalidKeyUsageException{}, kms.CodeWrongKeyUsage},
		{"invalid ciphertext", &types.InvalidCiphertextException{}, kms.CodeInvalidCiphertext},
		{"incorrect key", &types.IncorrectKeyException{}, kms.CodeInvalidCiphertext},
		{"invalid ARN", &types.InvalidArnException{}, kms.CodeInvalidKeyARN},
		{"throttling", &smithy.GenericAPIError{Code: "ThrottlingException"}, kms.CodeUnavailable},
		{"limit exceeded", &types.LimitExceededException{}, kms.CodeUnavailable},
		{"internal", &types.KMSInternalException{}, kms.CodeUnavailable},
		{"dependency timeout", &types.DependencyTimeoutException{}, kms.CodeUnavailable},
		{"key unavailable", &types.KeyUnavailableException{}, kms.CodeUnavailable},
		{"unknown 5xx", httpError(http.StatusBadGateway, &smithy.GenericAPIError{Code: "BadGateway"}), kms.CodeUnavailable},
		{"server fault", &smithy.GenericAPIError{Code: "Mystery", Fault: smithy.FaultServer}, kms.CodeUnavailable},
		{"validation", httpError(http.StatusBadRequest, &smithy.GenericAPIError{Code: "ValidationException"}), kms.CodeKMSError},
		{"unrecognized client", &smithy.GenericAPIError{Code: "UnrecognizedClientException"}, kms.CodeKMSError},
		{"retries exhausted", &retry.MaxAttemptsError{Attempt: 3,
			Err: httpError(http.StatusBadRequest, &smithy.GenericAPIError{Code: "ThrottlingException"})}, kms.CodeUnavailable},
		{"deadline", &aws.RequestCanceledError{Err: context.DeadlineExceeded}, kms.CodeUnavailable},
		{"cancelled", fmt.Errorf("send: %w", context.Canceled), kms.CodeUnavailable},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, kms.CodeUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := operationError(tc.err)
			got := kms.Classify("kms:GenerateDataKey", err)
			if got == nil {
				t.Fatal("Classify returned nil for an error")
			}
			if got.Code != tc.code || got.Action != "kms:GenerateDataKey" {
				t.Errorf("Classify = %s on %s, want %s on kms:GenerateDataKey", got.Code, got.Action, tc.code)
			}
			if got.Transient() != (tc.code == kms.CodeUnavailable) {
				t.Errorf("Transient() = %v for %s", got.Transient(), got.Code)
			}
			if !errors.Is(got, tc.err) {
				t.Error("the classified error does not unwrap to the SDK error")
			}
			if got.Message == "" {
				t.Error("no message")
			}
		})
	}
}

func TestClassify_KeepsMessageOfKMS(t *testing.T) {
	t.Parallel()
	got := kms.Classify("kms:Decrypt", operationError(&types.DisabledException{Message: aws.String("key/k is disabled.")}))
	if got.Message != "key/k is disabled." {
		t.Errorf("Message = %q, want KMS's own message", got.Message)
	}
	if want := "kms:Decrypt: key_disabled: key/k is disabled."; got.Error() != want {
		t.Errorf("Error() = %q, want %q", got.Error(), want)
	}
}

func TestClassify_NilAndClassified(t *testing.T) {
	t.Parallel()
	if got := kms.Classify("kms:Decrypt", nil); got != nil {
		t.Errorf("Classify(nil) = %v, want nil", got)
	}
	classified := &kms.Error{Code: kms.CodeKeyDisabled, Action: "kms:Decrypt", Message: "disabled"}
	if got := kms.Classify("kms:Encrypt", fmt.Errorf("probe: %w", classified)); got != classified {
		t.Errorf("Classify of a classified error = %v, want it unchanged", got)
	}
}
