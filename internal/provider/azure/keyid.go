package azure

import (
	"net/url"
	"slices"
	"strings"

	"github.com/cmekd/cmekd/internal/domain"
)

// The DNS zones of Key Vault and Managed HSM in the public cloud, Azure China and Azure US Government.
var (
	vaultZones = []string{"vault.azure.net", "vault.azure.cn", "vault.usgovcloudapi.net"}
	hsmZones   = []string{"managedhsm.azure.net", "managedhsm.azure.cn", "managedhsm.usgovcloudapi.net"}
)

// idShape is the sentence every refusal of a key id ends with.
const idShape = "an Azure key id is https://<vault>.vault.azure.net/keys/<name> or https://<hsm>.managedhsm.azure.net/keys/<name> " +
	"(in Azure China or US Government: vault.azure.cn, vault.usgovcloudapi.net, managedhsm.azure.cn, managedhsm.usgovcloudapi.net), " +
	"without a version, so that rotation is followed"

// keyRef is a parsed versionless key id.
type keyRef struct {
	host  string // lower case: <vault>.<zone>
	vault string // the vault's or HSM's name
	hsm   bool
	name  string
}

func (k keyRef) vaultURL() string { return "https://" + k.host }

// String is the canonical key id.
func (k keyRef) String() string { return k.vaultURL() + "/keys/" + k.name }

// parseKeyID parses a versionless key id; its refusal is a 422 whose code names what is wrong.
func parseKeyID(id string) (keyRef, *domain.Error) {
	u, err := url.Parse(id)
	if err != nil || u.Scheme != "https" || u.Opaque != "" || u.User != nil || u.Port() != "" ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.RawPath != "" {
		return keyRef{}, invalidID(id, "it is not a plain https URL without port, query or fragment")
	}
	host := strings.ToLower(u.Hostname())
	vault, zone, _ := strings.Cut(host, ".")
	k := keyRef{host: host, vault: vault, hsm: slices.Contains(hsmZones, zone)}
	if !k.hsm && !slices.Contains(vaultZones, zone) {
		return keyRef{}, invalidID(id, "its host is not a Key Vault or Managed HSM host")
	}
	if !validVaultName(vault) {
		return keyRef{}, invalidID(id, "the vault name must be 3-24 letters, digits and single dashes, starting with a letter")
	}
	seg := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	if len(seg) < 2 || len(seg) > 3 || seg[0] != "keys" || !validKeyName(seg[1]) {
		return keyRef{}, invalidID(id, "its path is not /keys/<name> (a name of 1-127 letters, digits and dashes)")
	}
	if len(seg) == 3 {
		if validVersion(seg[2]) {
			return keyRef{}, domain.Errorf(domain.KindInvalid, domain.CodeKeyVersionNotAllowed,
				"key id %q names a key version; give the versionless %s so that the platform follows rotation (%s)",
				domain.Clip(id, 300), k.vaultURL()+"/keys/"+seg[1], idShape)
		}
		return keyRef{}, invalidID(id, "its path is not /keys/<name>")
	}
	k.name = seg[1]
	return k, nil
}

func invalidID(id, why string) *domain.Error {
	return domain.Errorf(domain.KindInvalid, domain.CodeInvalidKeyID, "key id %q is not an Azure key id: %s; %s", domain.Clip(id, 300), why, idShape)
}

// validVaultName is Azure's rule for vault and HSM names.
func validVaultName(s string) bool {
	if len(s) < 3 || len(s) > 24 || !isLetter(s[0]) || s[len(s)-1] == '-' || strings.Contains(s, "--") {
		return false
	}
	return strings.IndexFunc(s, func(c rune) bool { return !isNameChar(c) }) < 0
}

// validKeyName is Key Vault's rule for key names.
func validKeyName(s string) bool {
	return len(s) >= 1 && len(s) <= 127 && strings.IndexFunc(s, func(c rune) bool { return !isNameChar(c) }) < 0
}

// validVersion is a key version: 32 hexadecimal digits.
func validVersion(s string) bool {
	return len(s) == 32 && strings.IndexFunc(s, func(c rune) bool { return !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') }) < 0
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isNameChar(c rune) bool { return c == '-' || c >= '0' && c <= '9' || c < 128 && isLetter(byte(c)) }

// Identify checks keyID as a key linked in region ("" for any) and returns its canonical form.
// Azure's data plane does not tell a key's region, so only that the region is served is checked.
func (p *Provider) Identify(keyID, region string) (string, error) {
	k, derr := parseKeyID(keyID)
	if derr != nil {
		return "", derr
	}
	if derr := p.checkRegion(region); derr != nil {
		return "", derr
	}
	return k.String(), nil
}

func (p *Provider) checkRegion(region string) *domain.Error {
	if region == "" || slices.Contains(p.regions, strings.ToLower(region)) {
		return nil
	}
	return domain.Errorf(domain.KindInvalid, domain.CodeUnsupportedRegion,
		"region %q is not served for Azure keys; this deployment serves %s", domain.Clip(region, 40), strings.Join(p.regions, ", "))
}
