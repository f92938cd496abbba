package azure_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/provider/azure"
)

// noCredential is a credential Identify never uses.
type noCredential struct{}

func (noCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, errors.New("no credential in this test")
}

func TestIdentify_TakesVersionlessVaultAndHSMKeysOfEveryCloud(t *testing.T) {
	t.Parallel()
	p, err := azure.New(azure.Config{Credential: noCredential{}, Principal: "00000000-0000-0000-0000-000000000001", Regions: []string{"eastus", "WestEurope"}})
	if err != nil {
		t.Fatal(err)
	}
	const version = "0123456789abcdef0123456789abcdef"
	for _, tc := range []struct{ in, region, want, code string }{
		{in: "https://cmek.vault.azure.net/keys/data", want: "https://cmek.vault.azure.net/keys/data"},
		{in: "HTTPS://CMEK.Vault.Azure.Net/keys/Data-1", region: "eastus", want: "https://cmek.vault.azure.net/keys/Data-1"},
		{in: "https://cmek.managedhsm.azure.net/keys/data", region: "westeurope", want: "https://cmek.managedhsm.azure.net/keys/data"},
		{in: "https://cmek.vault.azure.cn/keys/data", want: "https://cmek.vault.azure.cn/keys/data"},
		{in: "https://cmek.vault.usgovcloudapi.net/keys/data", want: "https://cmek.vault.usgovcloudapi.net/keys/data"},
		{in: "https://cmek.managedhsm.azure.cn/keys/data", want: "https://cmek.managedhsm.azure.cn/keys/data"},
		{in: "https://cmek.managedhsm.usgovcloudapi.net/keys/data", want: "https://cmek.managedhsm.usgovcloudapi.net/keys/data"},
		{in: "https://cmek.vault.azure.net/keys/data/" + version, code: domain.CodeKeyVersionNotAllowed},
		{in: "https://cmek.managedhsm.azure.net/keys/data/" + strings.ToUpper(version), code: domain.CodeKeyVersionNotAllowed},
		{in: "https://cmek.vault.azure.net/keys/data", region: "mars-1", code: domain.CodeUnsupportedRegion},
		{in: "http://cmek.vault.azure.net/keys/data", code: domain.CodeInvalidKeyID},
		{in: "https://cmek.vault.azure.net:443/keys/data", code: domain.CodeInvalidKeyID},
		{in: "https://cmek.vault.azure.net/keys/data?api-version=7.4", code: domain.CodeInvalidKeyID},
		{in: "https://cmek.vault.azure.net/keys/data#x", code: domain.CodeInvalidKeyID},
		{in: "https://cmek.vault.azure.net/secrets/data", code: domain.CodeInvalidKeyID},
		{in: "https://cmek.vault.azure.net/keys/data/", code: domain.CodeInvalidKeyID},
		{in: "https://cmek.vault.azure.net/keys/data/notaversion", code: domain.CodeInvalidKeyID},
		{in: "https://cmek.vault.azure.net/keys/da_ta", code: domain.CodeInvalidKeyID},
		{in: "https://cmek.vault.azure.net/keys/d%61ta", code: domain.CodeInvalidKeyID},
		{in: "https://cmek.vault.azure.net/keys", code: domain.CodeInvalidKeyID},
		{in: "https://user@cmek.vault.azure.net/keys/data", code: domain.CodeInvalidKeyID},
		{in: "https://cmek.example.com/keys/data", code: domain.CodeInvalidKeyID},
		{in: "https://vault.azure.net/keys/data", code: domain.CodeInvalidKeyID},
		{in: "https://a.vault.azure.net/keys/data", code: domain.CodeInvalidKeyID},
		{in: "https://1cmek.vault.azure.net/keys/data", code: domain.CodeInvalidKeyID},
		{in: "https://cm--ek.vault.azure.net/keys/data", code: domain.CodeInvalidKeyID},
		{in: "https://cmek.evil.vault.azure.net/keys/data", code: domain.CodeInvalidKeyID},
		{in: "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", code: domain.CodeInvalidKeyID},
		{in: "", code: domain.CodeInvalidKeyID},
	} {
		got, err := p.Identify(tc.in, tc.region)
		if tc.code == "" {
			if err != nil || got != tc.want {
				t.Errorf("Identify(%q, %q) = %q, %v; want %q", tc.in, tc.region, got, err, tc.want)
			}
			continue
		}
		var de *domain.Error
		if !errors.As(err, &de) || de.Code != tc.code || de.Kind != domain.KindInvalid {
			t.Errorf("Identify(%q, %q) = %q, %v; want 422 %s", tc.in, tc.region, got, err, tc.code)
			continue
		}
		if tc.code != domain.CodeUnsupportedRegion && !strings.Contains(de.Message, "https://<vault>.vault.azure.net/keys/<name>") {
			t.Errorf("Identify(%q): message does not state the expected shape: %s", tc.in, de.Message)
		}
	}
}

func TestNew_NamesTheMissingSetting(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  azure.Config
		want string
	}{
		{azure.Config{Credential: noCredential{}, Regions: []string{"eastus"}}, "CMEKD_AZURE_PRINCIPAL"},
		{azure.Config{Credential: noCredential{}, Principal: "p"}, "CMEKD_AZURE_REGIONS"},
		{azure.Config{Credential: noCredential{}, Principal: "p", Regions: []string{"eastus"}, Endpoint: "no-port"}, "CMEKD_AZURE_ENDPOINT"},
	} {
		if _, err := azure.New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v; want an error naming %s", tc.cfg, err, tc.want)
		}
	}
}
