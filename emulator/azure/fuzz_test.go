package azure_test

import (
	"strings"
	"testing"

	"github.com/cmekd/cmekd/emulator/azure"
)

// FuzzParse feeds untrusted text to every parser of the emulator: key ids, Resource Manager
// scopes and bearer tokens. None may panic, and what parses must hold together.
func FuzzParse(f *testing.F) {
	f.Add("https://v1.vault.azure.net/keys/cmk/0123456789abcdef0123456789abcdef")
	f.Add("/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/v/keys/k")
	f.Add("eyJhbGciOiJIUzI1NiJ9.e30.AAAA")
	key := []byte("0123456789abcdef0123456789abcdef")
	f.Fuzz(func(t *testing.T, s string) {
		if id, err := azure.ParseKeyID(s); err == nil {
			if id.Name == "" || id.Zone == "" || (id.Version != "" && len(id.Version) != 32) {
				t.Fatalf("ParseKeyID(%q) = %+v", s, id)
			}
		}
		if sc, err := azure.ParseScope(s); err == nil {
			if sc.Subscription == "" || (sc.Vault != "" && sc.ResourceGroup == "") || (sc.Key != "" && sc.Vault == "") {
				t.Fatalf("ParseScope(%q) = %+v", s, sc)
			}
		}
		if c, err := azure.ParseJWT(key, s); err == nil && strings.Count(s, ".") != 2 {
			t.Fatalf("ParseJWT accepted %q as %+v", s, c)
		}
	})
}
