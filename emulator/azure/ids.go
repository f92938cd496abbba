package azure

import (
	"errors"
	"strings"
)

type kind int

const (
	kindUnknown kind = iota
	kindLogin
	kindARM
	kindVault
	kindHSM
)

// clouds are the host names of the public and sovereign clouds the SDKs know.
var (
	loginHosts = []string{"login.microsoftonline.com", "login.chinacloudapi.cn", "login.microsoftonline.us"}
	armHosts   = []string{"management.azure.com", "management.chinacloudapi.cn", "management.usgovcloudapi.net"}
	vaultZones = []string{"vault.azure.net", "vault.azure.cn", "vault.usgovcloudapi.net"}
	hsmZones   = []string{"managedhsm.azure.net", "managedhsm.azure.cn", "managedhsm.usgovcloudapi.net"}
)

func hostKind(host string) kind {
	for _, h := range loginHosts {
		if host == h {
			return kindLogin
		}
	}
	for _, h := range armHosts {
		if host == h {
			return kindARM
		}
	}
	if _, zone := splitVaultHost(host); zone != "" {
		for _, z := range hsmZones {
			if zone == z {
				return kindHSM
			}
		}
		return kindVault
	}
	return kindUnknown
}

// splitVaultHost splits "<name>.<zone>" where zone is a Key Vault or Managed HSM DNS zone.
func splitVaultHost(host string) (name, zone string) {
	name, zone, ok := strings.Cut(host, ".")
	if !ok || name == "" {
		return "", ""
	}
	for _, z := range append(append([]string{}, vaultZones...), hsmZones...) {
		if zone == z {
			return name, zone
		}
	}
	return "", ""
}

// KeyID is a parsed Key Vault or Managed HSM key identifier.
type KeyID struct {
	Vault   string // vault or HSM name
	HSM     bool
	Zone    string // DNS zone, e.g. vault.azure.net
	Name    string
	Version string // empty when versionless
}

// ParseKeyID parses https://<vault>.<zone>/keys/<name>[/<version>] (an optional :443 port too).
func ParseKeyID(id string) (KeyID, error) {
	rest, ok := strings.CutPrefix(id, "https://")
	if !ok {
		return KeyID{}, errors.New("key id: not an https URL")
	}
	host, path, _ := strings.Cut(rest, "/")
	host = strings.TrimSuffix(strings.ToLower(host), ":443")
	name, zone := splitVaultHost(host)
	if zone == "" {
		return KeyID{}, errors.New("key id: not a Key Vault or Managed HSM host")
	}
	seg := strings.Split(strings.TrimSuffix(path, "/"), "/")
	if len(seg) < 2 || len(seg) > 3 || seg[0] != "keys" || !validObjectName(seg[1]) {
		return KeyID{}, errors.New("key id: path is not /keys/<name>[/<version>]")
	}
	k := KeyID{Vault: name, HSM: hostKind(host) == kindHSM, Zone: zone, Name: seg[1]}
	if len(seg) == 3 {
		if !validVersion(seg[2]) {
			return KeyID{}, errors.New("key id: version is not 32 hexadecimal digits")
		}
		k.Version = seg[2]
	}
	return k, nil
}

// validObjectName is Key Vault's rule for key names: 1-127 letters, digits and dashes.
func validObjectName(s string) bool {
	if len(s) == 0 || len(s) > 127 {
		return false
	}
	for _, c := range s {
		if !(c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

func validVersion(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Scope is a parsed Resource Manager scope the emulator knows how to authorise at.
type Scope struct {
	Subscription  string
	ResourceGroup string // empty at subscription scope
	Vault         string // vault or HSM name; empty above it
	HSM           bool
	Key           string // empty above a key
}

// ParseScope parses /subscriptions/<s>[/resourceGroups/<rg>[/providers/Microsoft.KeyVault/
// (vaults|managedHSMs)/<v>[/keys/<k>]]], with Resource Manager's case-insensitive segment names.
func ParseScope(s string) (Scope, error) {
	seg := strings.Split(strings.Trim(s, "/"), "/")
	if len(seg) < 2 || !strings.EqualFold(seg[0], "subscriptions") || seg[1] == "" {
		return Scope{}, errors.New("scope: must start /subscriptions/<id>")
	}
	sc := Scope{Subscription: strings.ToLower(seg[1])}
	seg = seg[2:]
	if len(seg) == 0 {
		return sc, nil
	}
	if len(seg) < 2 || !strings.EqualFold(seg[0], "resourceGroups") || seg[1] == "" {
		return Scope{}, errors.New("scope: expected resourceGroups/<name>")
	}
	sc.ResourceGroup, seg = strings.ToLower(seg[1]), seg[2:]
	if len(seg) == 0 {
		return sc, nil
	}
	if len(seg) < 4 || !strings.EqualFold(seg[0], "providers") || !strings.EqualFold(seg[1], "Microsoft.KeyVault") || seg[3] == "" {
		return Scope{}, errors.New("scope: expected providers/Microsoft.KeyVault/vaults/<name>")
	}
	switch {
	case strings.EqualFold(seg[2], "vaults"):
	case strings.EqualFold(seg[2], "managedHSMs"):
		sc.HSM = true
	default:
		return Scope{}, errors.New("scope: only vaults and managedHSMs are modelled")
	}
	sc.Vault, seg = strings.ToLower(seg[3]), seg[4:]
	if len(seg) == 0 {
		return sc, nil
	}
	if len(seg) != 2 || !strings.EqualFold(seg[0], "keys") || !validObjectName(seg[1]) {
		return Scope{}, errors.New("scope: expected keys/<name> below a vault")
	}
	sc.Key = seg[1]
	return sc, nil
}
