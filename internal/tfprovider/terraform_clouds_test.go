package tfprovider_test

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/cmekd/cmekd/client"
	"github.com/cmekd/cmekd/internal/testing/cloudtest"
	"github.com/cmekd/cmekd/internal/testing/testserver"
	"github.com/cmekd/cmekd/internal/testing/tftest"
	"github.com/cmekd/cmekd/internal/tfprovider"
)

// terraformFor finds the terraform CLI (or skips, saying why) with the provider built from this
// repository, pointed at srv as its admin.
func terraformFor(t *testing.T, srv *testserver.Server) *tftest.Terraform {
	t.Helper()
	return tftest.Find(t, tftest.Options{
		DevOverrides: map[string]string{tfprovider.Address: tftest.BuildProvider(t, "../../cmd/terraform-provider-cmekd", "terraform-provider-cmekd")},
		Env:          map[string]string{"CMEKD_URL": srv.URL, "CMEKD_TOKEN": testserver.AdminToken},
	})
}

// cloudsConfig asks cmekd for the access to a Google Cloud and an Azure key and checks them and an
// Azure key nobody granted anything; it links a Google Cloud organisation and, by key_id, a second
// region (regionKey).
func cloudsConfig(gcpKey, regionKey, azureKey, bareKey string) string {
	return `
terraform {
  required_providers {
    cmekd = { source = "cmekd/cmekd" }
  }
}

provider "cmekd" {}

data "cmekd_key_policy" "gcp" {
  key_provider = "gcp"
  key_id       = "` + gcpKey + `"
}

data "cmekd_key_policy" "azure" {
  key_provider = "azure"
  key_id       = "` + azureKey + `"
}

data "cmekd_key_check" "gcp" {
  key_provider = "gcp"
  key_id       = "` + gcpKey + `"
  region       = "us-central1"
}

data "cmekd_key_check" "azure" {
  key_provider = "azure"
  key_id       = "` + azureKey + `"
  region       = "eastus"
}

data "cmekd_key_check" "bare" {
  key_provider = "azure"
  key_id       = "` + bareKey + `"
}

resource "cmekd_organization" "gcp" {
  name         = "Initech"
  region       = "us-central1"
  key_provider = "gcp"
  key_id       = data.cmekd_key_check.gcp.key_id
}

resource "cmekd_region" "east" {
  org_id = cmekd_organization.gcp.id
  region = "us-east1"
  key_id = "` + regionKey + `"
}

output "policies" { value = { gcp = data.cmekd_key_policy.gcp, azure = data.cmekd_key_policy.azure } }
output "checks" { value = { gcp = data.cmekd_key_check.gcp, azure = data.cmekd_key_check.azure, bare = data.cmekd_key_check.bare } }
output "region" { value = cmekd_region.east }
`
}

// keyPolicyState is a cmekd_key_policy or cmekd_key_check (the attributes they share, and the
// check's) as terraform output -json shows it.
type keyPolicyState struct {
	KeyProvider string `json:"key_provider"`
	KeyID       string `json:"key_id"`
	JSON        string `json:"json"`
	Terraform   string `json:"terraform"`
	CLI         string `json:"cli"`
	OK          bool   `json:"ok"`
	Checks      []struct {
		Name string  `json:"name"`
		OK   bool    `json:"ok"`
		Code *string `json:"code"`
	} `json:"checks"`
}

// TestTerraform_GoogleCloudAndAzureKeys runs cmekd_key_policy and cmekd_key_check through the
// terraform CLI against a real cmekd serving the Google Cloud and Azure emulators, in one apply
// that also links a Google Cloud organisation and a region by key_id; a second plan is empty, and
// another key_id for the region fails the plan in cmekd's words. The platform's credentials are the
// process's environment, so this test does not run in parallel.
func TestTerraform_GoogleCloudAndAzureKeys(t *testing.T) {
	g, a := cloudtest.StartGCP(t), cloudtest.StartAzure(t)
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", g.PlatformKeyFile)
	a.Env(t)
	srv := testserver.Start(t, map[string]string{
		"CMEKD_PROVIDERS": "aws,gcp,azure", "CMEKD_TLS_CA_FILE": caBundle(t, g.CAFile, a.CAFile),
		"CMEKD_GCP_PRINCIPAL": g.Platform, "CMEKD_GCP_KMS_ENDPOINT": g.Addr, "CMEKD_GCP_REGIONS": "us-central1,us-east1",
		"CMEKD_AZURE_PRINCIPAL": a.Platform.ObjectID, "CMEKD_AZURE_ENDPOINT": a.Endpoint, "CMEKD_AZURE_REGIONS": "eastus,westeurope",
	})
	tf := terraformFor(t, srv)
	api, err := client.New(srv.URL, testserver.AdminToken, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	access := func(provider client.Provider, key string) []byte {
		t.Helper()
		out, err := api.GetKeyPolicyWithResponse(t.Context(), &client.GetKeyPolicyParams{Provider: &provider, KeyId: &key})
		if err != nil || out.StatusCode() != 200 {
			t.Fatalf("access for %s: %v %v", key, out, err)
		}
		return out.Body
	}
	gcpKey, regionKey := g.Key(t, "us-central1", "ring", "data"), g.Key(t, "us-east1", "ring", "data")
	azureKey, bareKey := a.Key(t, "data"), a.Key(t, "bare")
	gcpAccess, azureAccess := access("gcp", gcpKey), access("azure", azureKey)
	g.SetBindings(t, gcpKey, gcpAccess)
	g.SetBindings(t, regionKey, access("gcp", regionKey))
	a.Assign(t, azureAccess)

	dir := t.TempDir()
	tftest.WriteFile(t, dir, "main.tf", cloudsConfig(gcpKey, regionKey, azureKey, bareKey))
	tf.Run(t, dir, "apply", "-input=false", "-auto-approve")
	var out struct {
		Policies struct {
			Value struct{ GCP, Azure keyPolicyState }
		}
		Checks struct {
			Value struct{ GCP, Azure, Bare keyPolicyState }
		}
		Region struct {
			Value struct {
				KeyID  string  `json:"key_id"`
				KeyARN *string `json:"key_arn"`
				Status string  `json:"status"`
			}
		}
	}
	if err := json.Unmarshal(tf.Output(t, dir, "output", "-json"), &out); err != nil {
		t.Fatal(err)
	}
	wantAccess(t, "gcp", out.Policies.Value.GCP, gcpAccess, "google_kms_crypto_key_iam_member", "gcloud kms keys add-iam-policy-binding")
	wantAccess(t, "azure", out.Policies.Value.Azure, azureAccess, "azurerm_role_assignment", "az role assignment create")
	for name, c := range map[string]keyPolicyState{"gcp": out.Checks.Value.GCP, "azure": out.Checks.Value.Azure} {
		if !c.OK || c.KeyProvider != name || len(c.Checks) == 0 {
			t.Errorf("cmekd_key_check.%s of a key with the access granted: %+v, want ok with its checks", name, c)
		}
	}
	if bare := out.Checks.Value.Bare; bare.OK || !failedCheck(bare) {
		t.Errorf("cmekd_key_check.bare of a key granted nothing: %+v, want not ok with a failed check and its code", bare)
	}
	if r := out.Region.Value; r.KeyID != regionKey || r.KeyARN != nil || r.Status != "healthy" {
		t.Errorf("cmekd_region by key_id: %+v, want key_id %s, no key_arn, healthy", r, regionKey)
	}
	if plan, code := tf.Exec(t, dir, "plan", "-input=false", "-detailed-exitcode"); code != 0 {
		t.Errorf("a second plan is not empty (exit %d):\n%s", code, plan)
	}

	tftest.WriteFile(t, dir, "main.tf", cloudsConfig(gcpKey, gcpKey, azureKey, bareKey))
	plan, code := tf.Exec(t, dir, "plan", "-input=false", "-detailed-exitcode")
	if code != 1 || !strings.Contains(plan, "region_already_linked") || strings.Count(plan, "Error: ") != 1 ||
		!strings.Contains(plan, `key_id = "`+gcpKey+`"`) {
		t.Errorf("plan of another key_id for the region: exit %d; want one region_already_linked error, on key_id:\n%s", code, plan)
	}
}

// wantAccess fails unless a cmekd_key_policy of a Google Cloud or Azure key holds the access cmekd
// answers as JSON, and as Terraform and CLI lines.
func wantAccess(t *testing.T, name string, got keyPolicyState, api []byte, terraform, cli string) {
	t.Helper()
	var want bytes.Buffer
	if err := json.Compact(&want, api); err != nil {
		t.Fatal(err)
	}
	if got.JSON != want.String() || !strings.Contains(got.Terraform, terraform) || !strings.Contains(got.CLI, cli) || got.KeyProvider != name {
		t.Errorf("cmekd_key_policy.%s: %+v\nwant json %s, terraform with %s, cli with %s", name, got, want.String(), terraform, cli)
	}
}

// failedCheck says a check failed with a code other than skipped.
func failedCheck(c keyPolicyState) bool {
	for _, x := range c.Checks {
		if !x.OK && x.Code != nil && *x.Code != "skipped" {
			return true
		}
	}
	return false
}

// caBundle writes the emulators' CAs into one PEM file, as CMEKD_TLS_CA_FILE takes them.
func caBundle(t *testing.T, files ...string) string {
	t.Helper()
	var b []byte
	for _, f := range files {
		pem, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, pem...)
	}
	return tftest.WriteFile(t, t.TempDir(), "ca.pem", string(b))
}
