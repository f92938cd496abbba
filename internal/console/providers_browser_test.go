package console_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/cmekd/cmekd/client"
	"github.com/cmekd/cmekd/internal/testing/cloudtest"
	"github.com/cmekd/cmekd/internal/testing/testserver"
)

// wizardProviders are what the wizard shows for each provider: the radio's id, the key field's
// label and placeholder, and the region field's placeholder.
var wizardProviders = []struct{ id, label, placeholder, region string }{
	{"aws", "Key ARN", "arn:aws:kms:<region>:<account>:key/<id>", "us-west-2"},
	{"gcp", "CryptoKey name", "projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>", "us-central1"},
	{"azure", "Key identifier", "https://<vault>.vault.azure.net/keys/<name>", "eastus"},
}

// signInToWizard signs in with the admin token and opens the organisation wizard.
func signInToWizard(p *page, s *testserver.Server) {
	p.t.Helper()
	p.run("open the console", chromedp.Navigate(s.URL+"/console/"), chromedp.WaitVisible(chromedp.ID("token")))
	p.run("sign in", chromedp.SendKeys(chromedp.ID("token"), testserver.AdminToken+kb.Enter), waitText("h1", "Organisations"))
	p.run("open the wizard", chromedp.Click(chromedp.CSS(`nav a[href="#/onboard"]`)), chromedp.WaitVisible(chromedp.ID("key-id")))
}

// chooseProvider picks a provider with the mouse and checks what the key field says then.
func chooseProvider(p *page, id, label, placeholder string) {
	p.t.Helper()
	p.run("choose "+id, chromedp.Click(chromedp.CSS(`label[for="provider-`+id+`"]`)), waitText("#key-id-label", label))
	got, err := chromedp.Run(p.ctx, chromedp.Evaluate[[]string](`[document.getElementById('key-id').placeholder,
		document.getElementById('key-id').labels[0].textContent, String(document.getElementById('provider-`+id+`').checked)]`))
	if err != nil {
		p.t.Fatal(err)
	}
	if got[0] != placeholder || got[1] != label || got[2] != "true" {
		p.t.Errorf("%s chosen: placeholder %q, label %q, checked %s; want %q, %q", id, got[0], got[1], got[2], placeholder, label)
	}
}

// orgCount is how many organisations the server holds.
func orgCount(t *testing.T, s *testserver.Server) int {
	t.Helper()
	api, err := client.New(s.URL, testserver.AdminToken, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := api.ListOrgsWithResponse(context.Background(), nil)
	if err != nil || r.JSON200 == nil {
		t.Fatalf("list organisations: %v %s", err, r.Body)
	}
	return len(r.JSON200.Orgs)
}

// TestConsole_WizardProviders: on a deployment that serves AWS only, the wizard offers the three
// providers, each with its own key field; a Google Cloud key is refused with the server's own
// unsupported_provider answer and nothing is created; a malformed AWS key fails its first check.
func TestConsole_WizardProviders(t *testing.T) {
	t.Parallel()
	p := openBrowser(t, 1280, 900)
	p.prefix = "providers-"
	s := testserver.Start(t, nil)
	signInToWizard(p, s)
	for _, pr := range wizardProviders {
		chooseProvider(p, pr.id, pr.label, pr.placeholder)
		p.shotBoth("wizard-" + pr.id)
	}

	// Google Cloud on an AWS-only deployment: the server's words, and nothing stored.
	chooseProvider(p, "gcp", "CryptoKey name", wizardProviders[1].placeholder)
	gcpKey := "projects/acme/locations/us-central1/keyRings/ring/cryptoKeys/data"
	p.run("check a Google Cloud key",
		chromedp.SendKeys(chromedp.ID("key-id"), gcpKey+kb.Enter),
		waitText("#results [role=alert]", "unsupported_provider"),
		waitText("#results [role=alert]", `provider "gcp" is not served by this deployment; it serves aws`),
		waitText("#served-providers", "This deployment serves AWS KMS."))
	p.shotBoth("wizard-gcp-unsupported")
	if n, err := chromedp.Run(p.ctx, chromedp.Evaluate[int](`document.querySelectorAll('#org-name, #policy').length`)); err != nil || n != 0 {
		t.Errorf("the wizard offers to create an organisation or shows access after unsupported_provider (%d, %v)", n, err)
	}
	if n := orgCount(t, s); n != 0 {
		t.Errorf("%d organisations after a refused provider, want none", n)
	}

	// Back to AWS: the refusal goes, and a malformed key fails its first check, with advice.
	chooseProvider(p, "aws", "Key ARN", wizardProviders[0].placeholder)
	if n, err := chromedp.Run(p.ctx, chromedp.Evaluate[int](`document.querySelectorAll('#results > *').length`)); err != nil || n != 0 {
		t.Errorf("the other provider's results stay after the provider changed (%d, %v)", n, err)
	}
	p.run("check a malformed key ARN",
		chromedp.Evaluate[chromedp.Void](`document.getElementById('key-id').value = ''`),
		chromedp.SendKeys(chromedp.ID("key-id"), "arn:aws:kms:us-west-2:123:key/not-a-key"+kb.Enter),
		waitText("#checks-failed", "check"),
		waitText("#results table", "✗"))
	table, err := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS("#results table")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table, "invalid_key") {
		t.Errorf("the failed check names no invalid key code:\n%s", table)
	}
	p.shotBoth("wizard-aws-malformed")
	if n := orgCount(t, s); n != 0 {
		t.Errorf("%d organisations after a failed check, want none", n)
	}
}

// TestConsole_OnboardGoogleCloudKey onboards an organisation on a Google Cloud KMS key (the
// emulator's, through the official client) after granting exactly the bindings the wizard shows.
// GOOGLE_APPLICATION_CREDENTIALS is the process's, so this test does not run in parallel.
func TestConsole_OnboardGoogleCloudKey(t *testing.T) {
	chromium(t)
	g := cloudtest.StartGCP(t)
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", g.PlatformKeyFile)
	s := testserver.Start(t, map[string]string{
		"CMEKD_PROVIDERS": "aws,gcp", "CMEKD_GCP_PRINCIPAL": g.Platform, "CMEKD_GCP_KMS_ENDPOINT": g.Addr,
		"CMEKD_TLS_CA_FILE": g.CAFile, "CMEKD_GCP_REGIONS": "us-central1,us-east1",
	})
	for _, size := range []struct{ w, h int }{{1280, 900}, {390, 844}} {
		t.Run(fmt.Sprintf("%dpx", size.w), func(t *testing.T) {
			p := openBrowser(t, size.w, size.h)
			p.prefix = "gcp-"
			key := g.Key(t, "us-central1", fmt.Sprintf("ring-%d", size.w), "data")
			signInToWizard(p, s)
			chooseProvider(p, "gcp", "CryptoKey name", wizardProviders[1].placeholder)
			p.run("check a key the platform was granted nothing on",
				chromedp.SendKeys(chromedp.ID("key-id"), key+kb.Enter),
				waitText("#checks-failed", "failed"),
				waitText("#results table", "✗"),
				waitText("#results table", "cloudkms."),
				waitText("#policy", `"bindings"`))
			p.shot("wizard-gcp-check-failed")
			bindings, err := chromedp.Run(p.ctx, chromedp.Text(chromedp.ID("policy")))
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"roles/cloudkms.cryptoKeyEncrypterDecrypter", "roles/cloudkms.viewer", g.Platform} {
				if !strings.Contains(bindings, want) {
					t.Errorf("the bindings shown lack %s:\n%s", want, bindings)
				}
			}
			p.run("show the access as Terraform", chromedp.Click(chromedp.ID("tab-terraform")),
				waitText("#policy", "google_kms_crypto_key_iam_member"), waitText("#copy-policy", "Copy Terraform"))
			p.run("show the access as gcloud lines, with the keyboard",
				chromedp.Focus(chromedp.ID("tab-terraform")), chromedp.KeyEvent(kb.ArrowRight),
				waitText("#policy", "gcloud kms keys add-iam-policy-binding"), waitText("#copy-policy", "Copy commands"))
			p.shot("wizard-gcp-cli")

			// The customer grants exactly the bindings the console showed.
			g.SetBindings(t, key, []byte(bindings))
			p.run("check again", chromedp.Click(chromedp.ID("check-again")), waitText("#checks-ok", "Every check passed"))
			if v, err := chromedp.Run(p.ctx, chromedp.Value(chromedp.ID("org-region"))); err != nil || v != "us-central1" {
				t.Errorf("the region field holds %q (%v), want the key's location us-central1", v, err)
			}
			p.shot("wizard-gcp-check-passed")
			name := fmt.Sprintf("Acme GCP %d", size.w)
			p.run("create the organisation",
				chromedp.SendKeys(chromedp.ID("org-name"), name+kb.Enter),
				waitText("h1", name), waitText("#org-provider", "Google Cloud KMS"), waitText("#org-key-id", key))
			p.shot("organisation-gcp")
			p.run("see it in the list", chromedp.Click(chromedp.CSS(`nav a[href="#/orgs"]`)),
				waitText("main table", name), waitText("main table", "Google Cloud KMS"))
		})
	}
}

// TestConsole_OnboardAzureKey onboards an organisation on an Azure Key Vault key (the emulator's,
// through the official SDKs) after making exactly the role assignment the wizard shows. The key check
// carries the region typed in the wizard: a region the deployment does not serve is refused in the
// server's words. The organisation is created with a backup key. The AZURE_* variables are the process's, so this test does not run in parallel.
func TestConsole_OnboardAzureKey(t *testing.T) {
	chromium(t)
	a := cloudtest.StartAzure(t)
	a.Env(t)
	s := testserver.Start(t, map[string]string{
		"CMEKD_PROVIDERS": "aws,azure", "CMEKD_AZURE_PRINCIPAL": a.Platform.ObjectID, "CMEKD_AZURE_ENDPOINT": a.Endpoint,
		"CMEKD_TLS_CA_FILE": a.CAFile, "CMEKD_AZURE_REGIONS": "eastus,westeurope",
	})
	p := openBrowser(t, 1280, 900)
	p.prefix = "azure-"
	key := a.Key(t, "data")
	signInToWizard(p, s)
	chooseProvider(p, "azure", "Key identifier", wizardProviders[2].placeholder)
	p.run("check the key in a region the deployment does not serve",
		chromedp.SendKeys(chromedp.ID("org-region"), "westus2"),
		chromedp.SendKeys(chromedp.ID("key-id"), key+kb.Enter),
		waitText("#results [role=alert]", "unsupported_region"))
	p.run("check it in eastus, where the platform was granted nothing",
		chromedp.Evaluate[chromedp.Void](`document.getElementById('org-region').value = ''`),
		chromedp.SendKeys(chromedp.ID("org-region"), "eastus"), chromedp.Click(chromedp.CSS(`form button[type=submit]`)),
		waitText("#checks-failed", "failed"), waitText("#results table", "✗"), waitText("#policy", "roleDefinition"))
	p.shotBoth("wizard-azure-check-failed")
	access, err := chromedp.Run(p.ctx, chromedp.Text(chromedp.ID("policy")))
	if err != nil {
		t.Fatal(err)
	}
	p.run("show the az command", chromedp.Click(chromedp.ID("tab-cli")), waitText("#policy", "az role assignment create"))
	a.Assign(t, []byte(access))
	p.run("check again", chromedp.Click(chromedp.ID("check-again")), waitText("#checks-ok", "Every check passed"), waitText("#create-region", "eastus"))
	p.shotBoth("wizard-azure-check-passed")
	// The backup key may be the data key itself; the API checks and links it like the data key.
	p.run("create the organisation with a backup key", chromedp.SendKeys(chromedp.ID("org-backup-key"), key),
		chromedp.SendKeys(chromedp.ID("org-name"), "Acme Azure"+kb.Enter), drawn(),
		waitText("h1", "Acme Azure"), waitText("#org-provider", "Azure Key Vault"), waitText("#org-key-id", key), waitText("#org-backup-key-id", key))
	p.shotBoth("organisation-azure")
	orgs := mustAPI(t, s, "GET", "/v1/orgs", nil, 200)["orgs"].([]any)
	o := orgs[0].(map[string]any)
	if enc := o["encryption"].(map[string]any); len(orgs) != 1 || o["region"] != "eastus" || enc["provider"] != "azure" || enc["key_id"] != key || enc["backup_key_id"] != key {
		t.Errorf("the organisation the wizard made: %v", orgs)
	}
}
