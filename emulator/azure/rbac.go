package azure

import (
	"strings"
)

// role is a built-in Azure role definition: what it permits on the control plane (actions) and
// on the data plane (dataActions).
type role struct {
	ID, Name, Description string
	Actions, NotActions   []string
	DataActions           []string
	NotDataActions        []string
}

// The built-in roles' names, which are also their keys in builtinRoles.
const (
	roleOwner                 = "Owner"
	roleKeyVaultAdministrator = "Key Vault Administrator"
	roleHSMCryptoOfficer      = "Managed HSM Crypto Officer"
	roleHSMCryptoUser         = "Managed HSM Crypto User"
)

// vaultReaderActions are the control-plane actions Azure's Key Vault data-plane roles share:
// reading the vault and its deployment, alert rules and support.
var vaultReaderActions = []string{"Microsoft.Authorization/*/read", "Microsoft.Insights/alertRules/*", "Microsoft.Resources/deployments/*",
	"Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.Support/*", "Microsoft.KeyVault/checkNameAvailability/read",
	"Microsoft.KeyVault/deletedVaults/read", "Microsoft.KeyVault/locations/*/read", "Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/operations/read"}

// builtinRoles are the built-in roles the emulator knows, with Azure's own GUIDs and permissions.
var builtinRoles = []role{
	{ID: "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", Name: roleOwner,
		Description: "Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
		Actions:     []string{"*"}},
	{ID: "00482a5a-887f-4fb3-b363-3b7fe8e74483", Name: roleKeyVaultAdministrator,
		Description: "Perform all data plane operations on a key vault and all objects in it, including certificates, keys, and secrets. Cannot manage key vault resources or manage role assignments.",
		Actions:     vaultReaderActions,
		DataActions: []string{"Microsoft.KeyVault/vaults/*"}},
	{ID: "14b46e9e-c2b7-41b4-b07b-48a6ebf60603", Name: "Key Vault Crypto Officer",
		Description: "Perform any action on the keys of a key vault, except manage permissions.",
		Actions:     vaultReaderActions,
		DataActions: []string{"Microsoft.KeyVault/vaults/keys/*", "Microsoft.KeyVault/vaults/keyrotationpolicies/*"}},
	{ID: "e147488a-f6f5-4113-8e2d-b22465e65bf6", Name: "Key Vault Crypto Service Encryption User",
		Description: "Read metadata of keys and perform wrap/unwrap operations.",
		Actions: []string{"Microsoft.EventGrid/eventSubscriptions/write", "Microsoft.EventGrid/eventSubscriptions/read",
			"Microsoft.EventGrid/eventSubscriptions/delete"},
		DataActions: []string{"Microsoft.KeyVault/vaults/keys/read", "Microsoft.KeyVault/vaults/keys/wrap/action", "Microsoft.KeyVault/vaults/keys/unwrap/action"}},
	{ID: "12338af0-0e69-4776-bea7-57ae8d297424", Name: "Key Vault Crypto User",
		Description: "Perform cryptographic operations using keys.",
		DataActions: []string{"Microsoft.KeyVault/vaults/keys/read", "Microsoft.KeyVault/vaults/keys/update/action",
			"Microsoft.KeyVault/vaults/keys/backup/action", "Microsoft.KeyVault/vaults/keys/encrypt/action",
			"Microsoft.KeyVault/vaults/keys/decrypt/action", "Microsoft.KeyVault/vaults/keys/wrap/action",
			"Microsoft.KeyVault/vaults/keys/unwrap/action", "Microsoft.KeyVault/vaults/keys/sign/action",
			"Microsoft.KeyVault/vaults/keys/verify/action"}},
	{ID: "21090545-7ca7-4776-b22c-e363652d74d2", Name: "Key Vault Reader",
		Description: "Read metadata of key vaults and its certificates, keys, and secrets. Cannot read sensitive values such as secret contents or key material.",
		Actions:     vaultReaderActions,
		DataActions: []string{"Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/vaults/secrets/readMetadata/action"}},
	{ID: "515eb02d-2335-4d2d-92f2-b1cbdf9c3778", Name: roleHSMCryptoOfficer,
		Description: "Grants permissions to perform key management operations on keys, except cryptographic operations.",
		DataActions: []string{"Microsoft.KeyVault/managedHsm/keys/read/action", "Microsoft.KeyVault/managedHsm/keys/write/action",
			"Microsoft.KeyVault/managedHsm/keys/create", "Microsoft.KeyVault/managedHsm/keys/delete",
			"Microsoft.KeyVault/managedHsm/keys/rotate/action", "Microsoft.KeyVault/managedHsm/keys/deletedKeys/read/action",
			"Microsoft.KeyVault/managedHsm/keys/deletedKeys/recover/action", "Microsoft.KeyVault/managedHsm/keys/deletedKeys/delete"}},
	{ID: "21dbd100-6940-42c2-9190-5d6cb909625b", Name: roleHSMCryptoUser,
		Description: "Grants permissions to perform cryptographic operations using keys.",
		DataActions: []string{"Microsoft.KeyVault/managedHsm/keys/read/action", "Microsoft.KeyVault/managedHsm/keys/encrypt/action",
			"Microsoft.KeyVault/managedHsm/keys/decrypt/action", "Microsoft.KeyVault/managedHsm/keys/wrap/action",
			"Microsoft.KeyVault/managedHsm/keys/unwrap/action", "Microsoft.KeyVault/managedHsm/keys/sign/action",
			"Microsoft.KeyVault/managedHsm/keys/verify/action"}},
	{ID: "33413926-3206-4cdd-b39a-83574fe37a17", Name: "Managed HSM Crypto Service Encryption User",
		Description: "Grants permissions to read keys and use them to wrap and unwrap.",
		DataActions: []string{"Microsoft.KeyVault/managedHsm/keys/read/action", "Microsoft.KeyVault/managedHsm/keys/wrap/action",
			"Microsoft.KeyVault/managedHsm/keys/unwrap/action"}},
}

// roleByName returns a built-in role by name.
func roleByName(name string) *role {
	for i := range builtinRoles {
		if builtinRoles[i].Name == name {
			return &builtinRoles[i]
		}
	}
	return nil
}

// roleByDefinitionID returns the built-in role a roleDefinitionId names; Resource Manager accepts
// it with or without the subscription prefix, so only its last segment, the GUID, counts.
func roleByDefinitionID(id string) *role {
	seg := strings.Split(strings.Trim(id, "/"), "/")
	if len(seg) < 2 || !strings.EqualFold(seg[len(seg)-2], "roleDefinitions") {
		return nil
	}
	for i := range builtinRoles {
		if strings.EqualFold(builtinRoles[i].ID, seg[len(seg)-1]) {
			return &builtinRoles[i]
		}
	}
	return nil
}

// permits says whether the role grants action, a data-plane one when data is set.
func (r *role) permits(action string, data bool) bool {
	allow, deny := r.Actions, r.NotActions
	if data {
		allow, deny = r.DataActions, r.NotDataActions
	}
	return anyMatch(allow, action) && !anyMatch(deny, action)
}

func anyMatch(patterns []string, action string) bool {
	for _, p := range patterns {
		if globMatch(strings.ToLower(p), strings.ToLower(action)) {
			return true
		}
	}
	return false
}

// globMatch matches s against a permission pattern whose '*' stands for any run of characters.
func globMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

// assignment is a role assignment: a principal holds a role at a scope and everything below it.
type assignment struct {
	Name             string `json:"name"`
	Scope            string `json:"scope"`
	RoleDefinitionID string `json:"role_definition_id"` // the role's GUID
	PrincipalID      string `json:"principal_id"`
	PrincipalType    string `json:"principal_type"`
	Description      string `json:"description,omitempty"`
	CreatedBy        string `json:"created_by"`
	CreatedOn        int64  `json:"created_on"`
}

// grantLocked gives principal role at scope unless an assignment already does.
func (e *Emulator) grantLocked(principalID, scope, roleName string) {
	r := roleByName(roleName)
	for _, a := range e.st.Assignments {
		if a.PrincipalID == principalID && strings.EqualFold(a.Scope, scope) && a.RoleDefinitionID == r.ID {
			return
		}
	}
	name := newGUID()
	e.st.Assignments[name] = &assignment{Name: name, Scope: scope, RoleDefinitionID: r.ID,
		PrincipalID: principalID, PrincipalType: "ServicePrincipal", CreatedOn: e.opts.Now().Unix()}
}

// allowedLocked says whether an assignment at resource or above it gives principal a role that
// permits action.
func (e *Emulator) allowedLocked(principalID, resource, action string, data bool) bool {
	res := strings.ToLower(resource)
	for _, a := range e.st.Assignments {
		if a.PrincipalID != principalID || !within(res, strings.ToLower(a.Scope)) {
			continue
		}
		if r := roleByDefinitionID("roleDefinitions/" + a.RoleDefinitionID); r != nil && r.permits(action, data) {
			return true
		}
	}
	return false
}

// within says whether the lower-case resource id res is scope or below it.
func within(res, scope string) bool {
	return res == scope || strings.HasPrefix(res, scope+"/")
}
