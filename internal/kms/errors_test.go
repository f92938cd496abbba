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

	"github.com/cmekd/cmekd/internal/domain"
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
		{"access denied", httpError(http.StatusBadRequest, &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized"}), domain.CodeAccessDenied},
		{"disabled", &types.DisabledException{Message: aws.String("key is disabled")}, domain.CodeKeyDisabled},
		{"not found", &types.NotFoundException{Message: aws.String("does not exist")}, domain.CodeKeyNotFound},
		{"pending deletion (AWS)", &types.KMSInvalidStateException{
			Message: aws.String("arn:aws:kms:us-east-1:111122223333:key/k is pending deletion.")}, domain.CodeKeyPendingDeletion},
		{"pending deletion (state name)", &types.KMSInvalidStateException{
			Message: aws.String("key/k is PendingDeletion")}, domain.CodeKeyPendingDeletion},
		{"pending replica deletion", &types.KMSInvalidStateException{
			Message: aws.String("key/mrk-1 is pending replica deletion")}, domain.CodeKeyPendingDeletion},
		{"other invalid state", &types.KMSInvalidStateException{
			Message: aws.String("key/k is pending import")}, domain.CodeKeyStateInvalid},
		{"invalid key usage", &types.InvalidKeyUsageException{}, domain.CodeWrongKeyUsage},
		{"invalid ciphertext", &types.InvalidCiphertextException{}, domain.CodeInvalidCiphertext},
		{"incorrect key", &types.IncorrectKeyException{}, domain.CodeInvalidCiphertext},
		{"invalid ARN", &types.InvalidArnException{}, domain.CodeInvalidKeyARN},
		{"throttling", &smithy.GenericAPIError{Code: "ThrottlingException"}, domain.CodeKMSUnavailable},
		{"limit exceeded", &types.LimitExceededException{}, domain.CodeKMSUnavailable},
		{"internal", &types.KMSInternalException{}, domain.CodeKMSUnavailable},
		{"dependency timeout", &types.DependencyTimeoutException{}, domain.CodeKMSUnavailable},
		{"key unavailable", &types.KeyUnavailableException{}, domain.CodeKMSUnavailable},
		{"unknown 5xx", httpError(http.StatusBadGateway, &smithy.GenericAPIError{Code: "BadGateway"}), domain.CodeKMSUnavailable},
		{"server fault", &smithy.GenericAPIError{Code: "Mystery", Fault: smithy.FaultServer}, domain.CodeKMSUnavailable},
		{"validation", httpError(http.StatusBadRequest, &smithy.GenericAPIError{Code: "ValidationException"}), domain.CodeKMSError},
		{"unrecognized client", &smithy.GenericAPIError{Code: "UnrecognizedClientException"}, domain.CodeKMSError},
		{"retries exhausted", &retry.MaxAttemptsError{Attempt: 3,
			Err: httpError(http.StatusBadRequest, &smithy.GenericAPIError{Code: "ThrottlingException"})}, domain.CodeKMSUnavailable},
		{"deadline", &aws.RequestCanceledError{Err: context.DeadlineExceeded}, domain.CodeKMSUnavailable},
		{"cancelled", fmt.Errorf("send: %w", context.Canceled), domain.CodeKMSUnavailable},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, domain.CodeKMSUnavailable},
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
			if got.Transient() != (tc.code == domain.CodeKMSUnavailable) {
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
	classified := &kms.Error{Code: domain.CodeKeyDisabled, Action: "kms:Decrypt", Message: "disabled"}
	if got := kms.Classify("kms:Encrypt", fmt.Errorf("probe: %w", classified)); got != classified {
		t.Errorf("Classify of a classified error = %v, want it unchanged", got)
	}
}
