package azure

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"text/template"

	"github.com/cmekd/cmekd/internal/provider"
)

// The built-in roles the customer assigns: read a key's metadata, wrap and unwrap with it.
const (
	RoleCryptoServiceEncryptionUser           = "Key Vault Crypto Service Encryption User"
	RoleCryptoServiceEncryptionUserID         = "e147488a-f6f5-4113-8e2d-b22465e65bf6"
	RoleManagedHSMCryptoServiceEncryptionUser = "Managed HSM Crypto Service Encryption User"
	RoleManagedHSMCryptoServiceEncryptionID   = "33413926-3206-4cdd-b39a-83574fe37a17"
)

// Placeholders of the Resource Manager scope of a vault key, which its URL does not tell.
const (
	SubscriptionPlaceholder  = "{subscription-id}"
	ResourceGroupPlaceholder = "{resource-group}"
)

// Assignment is the one role assignment the customer makes: its properties as Azure names them.
// On a vault it is a Resource Manager assignment at the key's resource id (whose subscription and
// resource group are placeholders); on a Managed HSM a local assignment of the HSM at /keys/<name>.
type Assignment struct {
	RoleDefinitionID   string `json:"roleDefinitionId"`
	RoleDefinitionName string `json:"roleDefinitionName"`
	PrincipalID        string `json:"principalId"`
	PrincipalType      string `json:"principalType"`
	Scope              string `json:"scope"`
	// ManagedHSM is the HSM whose local role assignments hold it; "" on a vault.
	ManagedHSM string `json:"managedHsm,omitempty"`
}

func assignment(k keyRef, principal string) Assignment {
	a := Assignment{PrincipalID: principal, PrincipalType: "ServicePrincipal"}
	if k.hsm {
		a.RoleDefinitionID = "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/" + RoleManagedHSMCryptoServiceEncryptionID
		a.RoleDefinitionName, a.Scope, a.ManagedHSM = RoleManagedHSMCryptoServiceEncryptionUser, "/keys/"+k.name, k.vaultURL()
		return a
	}
	a.RoleDefinitionID = "/subscriptions/" + SubscriptionPlaceholder + "/providers/Microsoft.Authorization/roleDefinitions/" + RoleCryptoServiceEncryptionUserID
	a.RoleDefinitionName = RoleCryptoServiceEncryptionUser
	a.Scope = "/subscriptions/" + SubscriptionPlaceholder + "/resourceGroups/" + ResourceGroupPlaceholder +
		"/providers/Microsoft.KeyVault/vaults/" + k.vault + "/keys/" + k.name
	return a
}

// Access is the role assignment the customer makes on keyID: "json" (its properties), "terraform"
// (azurerm) or "cli" (az).
func (p *Provider) Access(keyID, format string) ([]byte, error) {
	k, derr := parseKeyID(keyID)
	if derr != nil {
		return nil, derr
	}
	return provider.AccessText(format, assignment(k, p.principal), func() ([]byte, error) { return terraform(k, p.principal) },
		func() string { return cliCommand(k, p.principal) + "\n" })
}

// Statement is the JSON form of the access as a value; nil for a key id that is not Azure's.
func (p *Provider) Statement(keyID string) any {
	k, derr := parseKeyID(keyID)
	if derr != nil {
		return nil
	}
	return assignment(k, p.principal)
}

// cliCommand is the az command that makes the assignment. A vault key's Resource Manager id is
// its vault's id (which az looks up) with /keys/<name>.
func cliCommand(k keyRef, principal string) string {
	a := assignment(k, principal)
	if k.hsm {
		return fmt.Sprintf(`az keyvault role assignment create --hsm-name %s --role "%s" --assignee-object-id %s --assignee-principal-type ServicePrincipal --scope %s`,
			k.vault, a.RoleDefinitionName, principal, a.Scope)
	}
	return fmt.Sprintf(`az role assignment create --role "%s" --assignee-object-id %s --assignee-principal-type ServicePrincipal --scope "$(az keyvault show --name %s --query id -o tsv)/keys/%s"`,
		a.RoleDefinitionName, principal, k.vault, k.name)
}

var terraformTemplate = template.Must(template.New("tf").Parse(`# The platform's access to {{.Key}}: one role assignment.
variable "{{.Label}}_resource_group" {
  type        = string
  description = "The resource group of {{if .HSM}}Managed HSM{{else}}key vault{{end}} {{.Vault}}"
}
{{if .HSM}}
data "azurerm_key_vault_managed_hardware_security_module" "{{.Label}}" {
  name                = "{{.Vault}}"
  resource_group_name = var.{{.Label}}_resource_group
}

data "azurerm_key_vault_managed_hardware_security_module_role_definition" "{{.Label}}" {
  managed_hsm_id = data.azurerm_key_vault_managed_hardware_security_module.{{.Label}}.id
  name           = "{{.RoleID}}"
}

resource "azurerm_key_vault_managed_hardware_security_module_role_assignment" "{{.Label}}" {
  managed_hsm_id     = data.azurerm_key_vault_managed_hardware_security_module.{{.Label}}.id
  name               = "{{.Name}}"
  scope              = "{{.Scope}}"
  role_definition_id = data.azurerm_key_vault_managed_hardware_security_module_role_definition.{{.Label}}.resource_manager_id
  principal_id       = "{{.Principal}}"
}
{{else}}
data "azurerm_key_vault" "{{.Label}}" {
  name                = "{{.Vault}}"
  resource_group_name = var.{{.Label}}_resource_group
}

resource "azurerm_role_assignment" "{{.Label}}" {
  scope                = "${data.azurerm_key_vault.{{.Label}}.id}/keys/{{.KeyName}}"
  role_definition_name = "{{.Role}}"
  principal_id         = "{{.Principal}}"
  principal_type       = "ServicePrincipal"
}
{{end}}`))

func terraform(k keyRef, principal string) ([]byte, error) {
	a := assignment(k, principal)
	sum := sha256.Sum256([]byte(k.String() + "\n" + principal))
	h := hex.EncodeToString(sum[:16])
	var b bytes.Buffer
	err := terraformTemplate.Execute(&b, map[string]any{
		"Key": k.String(), "Label": "cmekd_" + k.name, "HSM": k.hsm, "Vault": k.vault, "KeyName": k.name,
		"Role": a.RoleDefinitionName, "RoleID": RoleManagedHSMCryptoServiceEncryptionID, "Scope": a.Scope, "Principal": principal,
		// The HSM's local assignments are named by a GUID: one derived from key and principal keeps
		// the output stable.
		"Name": h[0:8] + "-" + h[8:12] + "-5" + h[13:16] + "-8" + h[17:20] + "-" + h[20:32],
	})
	return b.Bytes(), err
}
