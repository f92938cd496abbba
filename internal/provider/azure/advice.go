package azure

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/kms"
)

// target is the az arguments naming k: its vault or HSM and its name.
func target(k keyRef) string {
	flag := "--vault-name"
	if k.hsm {
		flag = "--hsm-name"
	}
	return flag + " " + k.vault + " --name " + k.name
}

func showCommand(k keyRef) string { return "az keyvault key show " + target(k) }

// advice is a sentence a customer can act on for a failure of k, with the az command that fixes it.
func advice(k keyRef, principal string, e *kms.Error) string {
	set := "az keyvault key set-attributes " + target(k)
	switch e.Code {
	case domain.CodeAccessDenied:
		return fmt.Sprintf("The platform's service principal (%s) may not perform %s on the key. Give it the one role it needs: %s",
			principal, e.Action, cliCommand(k, principal))
	case domain.CodeKeyDisabled:
		return "The key is disabled (" + e.Message + "). Enable it: " + set + " --enabled true"
	case domain.CodeKeyExpired:
		return "The key is past its expiry (" + e.Message + "). Extend it: " + set + " --expires <a later time, like 2030-01-01T00:00:00Z>"
	case domain.CodeKeyNotYetValid:
		return "The key is not valid yet (" + e.Message + "). Make it valid now: " + set + " --not-before \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\""
	case domain.CodeKeyOpsNotAllowed:
		return "The key does not allow wrapKey and unwrapKey (" + e.Message + "). Allow them: " + set + " --ops " + opsWithWrap(e.Message)
	case domain.CodeWrongKeyType:
		return "The platform wraps data keys with an RSA key of 2048 bits or more (RSA-OAEP-256) or, on Managed HSM, a 256-bit oct-HSM key (A256KW); " +
			e.Message + ". Create a suitable key and link it: " + createCommand(k)
	case domain.CodeKeyNotFound:
		return "Key Vault does not find the key (" + e.Message + "). If it was deleted, recover it: az keyvault key recover " + target(k) +
			"; otherwise check the key id (" + showCommand(k) + ")."
	case domain.CodeKMSUnavailable:
		return "Azure Key Vault could not be reached or throttled the request; try again shortly. (" + e.Message + ")"
	}
	return e.Message
}

func createCommand(k keyRef) string {
	if k.hsm {
		return "az keyvault key create " + target(k) + " --kty RSA-HSM --size 3072 --ops wrapKey unwrapKey"
	}
	return "az keyvault key create " + target(k) + " --kty RSA --size 3072 --ops wrapKey unwrapKey"
}

// deletedAdvice explains a soft-deleted key and how to recover it.
func deletedAdvice(k keyRef, d azkeys.DeletedKey) string {
	until := ""
	if d.ScheduledPurgeDate != nil {
		until = " until " + d.ScheduledPurgeDate.UTC().Format(time.RFC3339)
	}
	return "The key was deleted and can be recovered" + until + ": az keyvault key recover " + target(k)
}

// opsList is the message of a key whose key_ops lack wrapKey or unwrapKey: "key_ops: a b".
func opsList(ops []*azkeys.KeyOperation) string {
	names := []string{}
	for _, o := range ops {
		if o != nil {
			names = append(names, string(*o))
		}
	}
	return "key_ops: " + strings.Join(names, " ")
}

// opsWithWrap is the --ops a key needs: wrapKey and unwrapKey beside the operations it has, when
// msg names them (as opsList does).
func opsWithWrap(msg string) string {
	have, ok := strings.CutPrefix(msg, "key_ops:")
	ops := []string{}
	if ok {
		ops = strings.Fields(have)
	}
	for _, need := range []string{"wrapKey", "unwrapKey"} {
		if !slices.Contains(ops, need) {
			ops = append(ops, need)
		}
	}
	return strings.Join(ops, " ")
}
