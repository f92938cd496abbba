package gcp

import (
	"fmt"
	"strings"

	"github.com/cmekd/cmekd/internal/provider"
)

// grantedRoles are the roles the customer grants the platform's service account on the key:
// exactly enough to verify, probe and use it (Encrypt, Decrypt, GetCryptoKey).
var grantedRoles = []string{roleEncrypterDecrypter, roleViewer}

// Binding is one IAM binding on the CryptoKey.
type Binding struct {
	Role    string   `json:"role"`
	Members []string `json:"members"`
}

// Bindings are the IAM bindings the customer adds to the key's policy.
type Bindings struct {
	Bindings []Binding `json:"bindings"`
}

// Statement is the bindings as one JSON value.
func (p *Provider) Statement(string) any {
	var b Bindings
	for _, r := range grantedRoles {
		b.Bindings = append(b.Bindings, Binding{Role: r, Members: []string{p.principal}})
	}
	return b
}

// Access is what the customer grants the platform on keyID: the two bindings as JSON ("json" or
// ""), as google_kms_crypto_key_iam_member resources ("terraform") or as gcloud commands ("cli").
func (p *Provider) Access(keyID, format string) ([]byte, error) {
	k, err := parseKey(keyID)
	if err != nil {
		return nil, err
	}
	return provider.AccessText(format, p.Statement(keyID), func() ([]byte, error) { return p.terraform(k), nil }, func() string {
		var b strings.Builder
		for _, r := range grantedRoles {
			b.WriteString(p.grantCmd(k, r) + "\n")
		}
		return b.String()
	})
}

// terraform is one google_kms_crypto_key_iam_member resource per role. Members are additive: the
// key's other bindings stay as they are.
func (p *Provider) terraform(k keyName) []byte {
	var b strings.Builder
	for i, r := range grantedRoles {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "resource \"google_kms_crypto_key_iam_member\" \"cmekd_%s\" {\n", terraformName(r))
		fmt.Fprintf(&b, "  crypto_key_id = %q\n  role          = %q\n  member        = %q\n}\n", k.String(), r, p.principal)
	}
	return []byte(b.String())
}

// terraformName is a resource name for role: "roles/cloudkms.viewer" is "viewer".
func terraformName(role string) string {
	name := strings.TrimPrefix(role, "roles/cloudkms.")
	var b strings.Builder
	for _, c := range name {
		if c >= 'A' && c <= 'Z' {
			b.WriteByte('_')
			c += 'a' - 'A'
		}
		b.WriteRune(c)
	}
	return b.String()
}

// grantCmd is the gcloud command that gives the platform role on the key.
func (p *Provider) grantCmd(k keyName, role string) string {
	return fmt.Sprintf("gcloud kms keys add-iam-policy-binding %s %s --member %s --role %s", k.Key, k.flags(), p.principal, role)
}
