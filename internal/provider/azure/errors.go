package azure

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"regexp"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/kms"
	"github.com/cmekd/cmekd/internal/provider"
)

// operation is a Key Vault data-plane operation and the data actions that permit it on a vault and
// on a Managed HSM.
type operation struct{ vault, hsm string }

var (
	opGet     = operation{"Microsoft.KeyVault/vaults/keys/read", "Microsoft.KeyVault/managedHsm/keys/read/action"}
	opWrap    = operation{"Microsoft.KeyVault/vaults/keys/wrap/action", "Microsoft.KeyVault/managedHsm/keys/wrap/action"}
	opUnwrap  = operation{"Microsoft.KeyVault/vaults/keys/unwrap/action", "Microsoft.KeyVault/managedHsm/keys/unwrap/action"}
	opDeleted = operation{"Microsoft.KeyVault/vaults/deletedKeys/read/action", "Microsoft.KeyVault/managedHsm/keys/deletedKeys/read/action"}
)

// action is the data action of op on k's vault or HSM.
func (op operation) action(k keyRef) string {
	if k.hsm {
		return op.hsm
	}
	return op.vault
}

// forbidden maps Key Vault's inner error codes of a 403 to check codes; any other 403 is a missing
// role (Azure's ForbiddenByRbac).
var forbidden = map[string]string{
	"KeyDisabled":           domain.CodeKeyDisabled,
	"KeyExpired":            domain.CodeKeyExpired,
	"KeyNotYetValid":        domain.CodeKeyNotYetValid,
	"KeyOperationForbidden": domain.CodeKeyOpsNotAllowed,
}

// deniedAction is the permission Key Vault names in an RBAC denial ("Action: '…'").
var deniedAction = regexp.MustCompile(`Action: '([^']+)'`)

// classify turns any failure of op on k into a *kms.Error. Nothing is blamed on the customer's key
// unless Azure said so: no answer, throttling and 5xx are kms_unavailable.
func classify(k keyRef, op operation, err error) *kms.Error {
	if err == nil {
		return nil
	}
	e, done := provider.Classified(op.action(k), err)
	if done {
		return e
	}
	var re *azcore.ResponseError
	var af *azidentity.AuthenticationFailedError
	var dns *net.DNSError
	switch {
	case errors.As(err, &af):
		// The platform's own credentials were refused: neither the customer's fault nor an outage,
		// unless Entra ID failed on its side.
		if af.RawResponse != nil && !transientStatus(af.RawResponse.StatusCode) {
			e.Code = domain.CodeKMSError
		}
	case errors.As(err, &re):
		fromResponse(e, re, op)
	case errors.As(err, &dns) && dns.IsNotFound:
		// Every vault has its own DNS name: a name that does not resolve is a vault that does not exist.
		e.Code, e.Message = domain.CodeKeyNotFound, "the vault "+k.host+" does not exist (its name does not resolve)"
	}
	return e
}

func transientStatus(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= http.StatusInternalServerError
}

// fromResponse classifies Key Vault's error answer.
func fromResponse(e *kms.Error, re *azcore.ResponseError, op operation) {
	var body struct {
		Error struct {
			Code, Message string
			InnerError    struct{ Code string } `json:"innererror"`
		}
	}
	if b, err := runtime.Payload(re.RawResponse); err == nil {
		_ = json.Unmarshal(b, &body)
	}
	if body.Error.Message != "" {
		e.Message = body.Error.Message
	}
	switch status := re.StatusCode; {
	case transientStatus(status):
		e.Code = domain.CodeKMSUnavailable
	case status == http.StatusForbidden && forbidden[body.Error.InnerError.Code] != "":
		e.Code = forbidden[body.Error.InnerError.Code]
	case status == http.StatusForbidden:
		provider.Denied(e, deniedAction)
	case status == http.StatusNotFound:
		e.Code = domain.CodeKeyNotFound
	case status == http.StatusBadRequest && op == opUnwrap:
		e.Code = domain.CodeInvalidCiphertext
	default:
		e.Code = domain.CodeKMSError
	}
}
