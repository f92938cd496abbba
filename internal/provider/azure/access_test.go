package azure_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/provider/azure"
	"github.com/cmekd/cmekd/internal/verify"
)

// Granting exactly what Access says (its JSON, with the vault's subscription and resource group
// filled in) is enough for every check.
func TestAccess_JSONIsExactlyEnough(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.rsaKey("cmk")
	out, err := f.p.Access(id, "json")
	if err != nil {
		t.Fatal(err)
	}
	var a azure.Assignment
	if err := json.Unmarshal(out, &a); err != nil {
		t.Fatalf("access json: %v\n%s", err, out)
	}
	if st, ok := f.p.Statement(id).(azure.Assignment); !ok || st != a {
		t.Fatalf("Statement = %#v, want the JSON form %#v", f.p.Statement(id), a)
	}
	fill := strings.NewReplacer(azure.SubscriptionPlaceholder, f.admin.SubscriptionID, azure.ResourceGroupPlaceholder, f.admin.ResourceGroup)
	if a.PrincipalID != f.platform.ObjectID || a.PrincipalType != "ServicePrincipal" || fill.Replace(a.Scope) != f.scope("cmk") {
		t.Fatalf("assignment %+v: want the platform at the key's scope %s", a, f.scope("cmk"))
	}
	wantFailure(t, f.verify(id), azure.CheckGetKey, domain.CodeAccessDenied)
	f.assignProps(fill.Replace(a.Scope), armauthorization.RoleAssignmentProperties{
		RoleDefinitionID: to.Ptr(fill.Replace(a.RoleDefinitionID)),
		PrincipalID:      to.Ptr(a.PrincipalID),
		PrincipalType:    to.Ptr(armauthorization.PrincipalType(a.PrincipalType)),
	})
	wantOK(t, f.verify(id))
}

func TestAccess_TerraformAndCLI(t *testing.T) {
	t.Parallel()
	p := newProvider(t, "", noCredential{}, "11111111-2222-3333-4444-555555555555")
	vault, hsm := "https://cmek.vault.azure.net/keys/data", "https://cmekhsm.managedhsm.azure.net/keys/data"
	for _, tc := range []struct{ key, format string }{
		{vault, "terraform"}, {vault, "cli"}, {hsm, "terraform"}, {hsm, "cli"}, {hsm, "json"},
	} {
		out, err := p.Access(tc.key, tc.format)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.key, tc.format, err)
		}
		want := map[string][]string{
			vault + " terraform": {`resource "azurerm_role_assignment" "cmekd_data"`, `scope                = "${data.azurerm_key_vault.cmekd_data.id}/keys/data"`,
				`role_definition_name = "Key Vault Crypto Service Encryption User"`, `principal_id         = "11111111-2222-3333-4444-555555555555"`},
			vault + " cli": {`az role assignment create --role "Key Vault Crypto Service Encryption User" --assignee-object-id 11111111-2222-3333-4444-555555555555`,
				`--assignee-principal-type ServicePrincipal --scope "$(az keyvault show --name cmek --query id -o tsv)/keys/data"`},
			hsm + " terraform": {`resource "azurerm_key_vault_managed_hardware_security_module_role_assignment" "cmekd_data"`, `scope              = "/keys/data"`,
				`name           = "33413926-3206-4cdd-b39a-83574fe37a17"`},
			hsm + " cli":  {`az keyvault role assignment create --hsm-name cmekhsm --role "Managed HSM Crypto Service Encryption User"`, "--scope /keys/data"},
			hsm + " json": {`"scope": "/keys/data"`, `"managedHsm": "https://cmekhsm.managedhsm.azure.net"`},
		}[tc.key+" "+tc.format]
		wantIn(t, string(out), want...)
	}
	if again, _ := p.Access(hsm, "terraform"); !strings.Contains(string(again), "name               = \"") {
		t.Fatalf("HSM assignment has no name:\n%s", again)
	}
	if _, err := p.Access(vault, "yaml"); err == nil {
		t.Fatal("format yaml accepted")
	}
	if _, err := p.Access(vault+"/0123456789abcdef0123456789abcdef", "json"); err == nil {
		t.Fatal("versioned key id accepted")
	}
}

// Without a Credential the provider reads the platform's identity from AZURE_TENANT_ID,
// AZURE_CLIENT_ID and AZURE_CLIENT_SECRET and reaches Entra ID through its own transport.
func TestNew_EnvironmentCredential(t *testing.T) {
	f := newFixture(t)
	id := f.usableKey("cmk")
	t.Setenv("AZURE_TENANT_ID", f.platform.TenantID)
	t.Setenv("AZURE_CLIENT_ID", f.platform.ClientID)
	t.Setenv("AZURE_CLIENT_SECRET", f.platform.ClientSecret)
	p := newProvider(t, emu.addr, nil, f.platform.ObjectID)
	wantOK(t, p.Verify(context.Background(), verify.Request{Key: id, Steps: verify.Health}))
}

// BenchmarkVerifyAndProbe measures a full verification and a health probe against the emulator.
func BenchmarkVerifyAndProbe(b *testing.B) {
	f := newFixture(b)
	id := f.usableKey("cmk")
	for _, steps := range []struct {
		name  string
		steps verify.Steps
	}{{"verify", verify.Full}, {"probe", verify.Health}} {
		b.Run(steps.name, func(b *testing.B) {
			for b.Loop() {
				if r := f.p.Verify(context.Background(), verify.Request{Key: id, Region: "eastus", Steps: steps.steps}); !r.OK() {
					b.Fatal(describe(r))
				}
			}
		})
	}
}
