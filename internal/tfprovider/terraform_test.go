package tfprovider_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cmekd/cmekd/client"
	"github.com/cmekd/cmekd/internal/testing/kmstest"
	"github.com/cmekd/cmekd/internal/testing/testserver"
	"github.com/cmekd/cmekd/internal/testing/tftest"
)

// second is the region the configuration adds beside the home region.
const second = "eu-west-1"

// customerKeys is the customer's side: their keys in the home and the second region, each with the
// whole key policy cmekd generates for it, and cmekd's check of the home key once the policy is on.
func customerKeys(kmsEndpoint string) string {
	key := func(name, provider string) string {
		return `
resource "aws_kms_key" "` + name + `" {
  ` + provider + `
  description             = "cmekd ` + name + ` key"
  deletion_window_in_days = 7
}

data "cmekd_key_policy" "` + name + `" {
  key_arn = aws_kms_key.` + name + `.arn
}

resource "aws_kms_key_policy" "` + name + `" {
  ` + provider + `
  key_id = aws_kms_key.` + name + `.key_id
  policy = data.cmekd_key_policy.` + name + `.json
}
`
	}
	aws := func(alias, region string) string {
		return tftest.AWSProvider(alias, region, kmstest.CustomerAccessKey, kmsEndpoint, "kms", "sts")
	}
	return aws("", testserver.Home) + aws("second", second) +
		key("home", "") + key("second", "provider = aws.second") + `
data "cmekd_key_check" "home" {
  key_arn    = aws_kms_key.home.arn
  region     = "` + testserver.Home + `"
  depends_on = [aws_kms_key_policy.home]
}

output "key_ok" { value = data.cmekd_key_check.home.ok }
output "home_arn" { value = aws_kms_key.home.arn }
output "second_arn" { value = aws_kms_key.second.arn }
`
}

// platform is the organisation and what it holds: a second region, two collections, a webhook and
// a secret scope. The keys are references to customerKeys' resources, or ARNs once those are gone
// from the configuration; dependsOn orders the organisation after the policies.
func platform(receiver, orgName, orgKey, secondKey, dependsOn string) string {
	return `
terraform {
  required_providers {
    cmekd = { source = "cmekd/cmekd" } # aws is hashicorp/aws by default
  }
}

provider "cmekd" {} # CMEKD_URL and CMEKD_TOKEN

` + linked("cmekd_organization", "acme", `
  name       = "`+orgName+`"
  region     = "`+testserver.Home+`"
  key_arn    = `+orgKey, dependsOn) + `

` + linked("cmekd_region", "second", `
  org_id     = cmekd_organization.acme.id
  region     = "`+second+`"
  key_arn    = `+secondKey, dependsOn) + `

resource "cmekd_collection" "events" {
  org_id = cmekd_organization.acme.id
  name   = "events"
}

resource "cmekd_collection" "archive" {
  org_id      = cmekd_organization.acme.id
  name        = "archive"
  region      = cmekd_region.second.region
  recoverable = false
}

resource "cmekd_webhook" "alerts" {
  org_id = cmekd_organization.acme.id
  url    = "` + receiver + `"
  events = ["*"]
}

resource "cmekd_secret_scope" "snowflake" {
  org_id = cmekd_organization.acme.id
  name   = "snowflake"
}

output "org_id" { value = cmekd_organization.acme.id }
output "collection_id" { value = cmekd_collection.events.id }
output "webhook_id" { value = cmekd_webhook.alerts.id }
output "webhook_secret" {
  value     = cmekd_webhook.alerts.secret
  sensitive = true
}
`
}

// linked is a resource whose key cmekd verifies at creation (an organisation, a region): attrs,
// after dependsOn (the key policies), within a minute.
func linked(typ, name, attrs, dependsOn string) string {
	return `resource "` + typ + `" "` + name + `" {` + attrs + `
  depends_on = [` + dependsOn + `]
  timeouts {
    create = "1m"
  }
}
`
}

// keyEvents turns the organisation's key events on; rotate is its rotate argument.
func keyEvents(rotate string) string {
	return `
resource "cmekd_key_events" "acme" {
  org_id = cmekd_organization.acme.id
  rotate = "` + rotate + `"
}

output "key_events_api_key" {
  value     = cmekd_key_events.acme.api_key
  sensitive = true
}
output "key_events_endpoint" { value = cmekd_key_events.acme.endpoint }
`
}

// TestTerraform_ManagesAnOrganisationAndItsKey runs the provider, built from this repository, with
// the terraform CLI against a real cmekd and the KMS emulator (whose keys the AWS provider makes):
// apply (key events included), an empty second plan, a rename in place, key events rotated, a key change refused at plan time in cmekd's words,
// a collection deleted out of band and planned back, every resource imported, and destroy.
func TestTerraform_ManagesAnOrganisationAndItsKey(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t, map[string]string{"CMEKD_WEBHOOK_HTTP_HOSTS": "127.0.0.1"})
	receiver := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(receiver.Close)

	tf := terraformFor(t, srv)
	dir := t.TempDir()
	write := func(name, text string) { tftest.WriteFile(t, dir, name, text) }
	plan := func(want int, contains ...string) string {
		t.Helper()
		out, code := tf.Exec(t, dir, "plan", "-input=false", "-detailed-exitcode")
		if code != want {
			t.Fatalf("plan exit %d, want %d:\n%s", code, want, out)
		}
		for _, s := range contains {
			if !strings.Contains(out, s) {
				t.Errorf("plan output lacks %q:\n%s", s, out)
			}
		}
		return out
	}
	apply := func() string {
		t.Helper()
		out, _ := tf.Run(t, dir, "apply", "-input=false", "-auto-approve")
		return out
	}
	api, err := client.New(srv.URL, testserver.AdminToken, client.Options{})
	if err != nil {
		t.Fatal(err)
	}

	// init installs only what a registry or mirror serves and stops at the overridden provider, so
	// it sees the AWS provider alone (examples/terraform/README.md does the same).
	write("main.tf", `terraform {
  required_providers {
    aws = { source = "hashicorp/aws" }
  }
}
`)
	tf.Run(t, dir, "init", "-input=false")
	policies := "aws_kms_key_policy.home, aws_kms_key_policy.second"
	write("keys.tf", customerKeys(srv.KMS.Endpoint))
	write("main.tf", platform(receiver.URL, "Acme", "aws_kms_key.home.arn", "aws_kms_key.second.arn", policies))
	write("events.tf", keyEvents("1"))
	apply()
	var outputs map[string]struct{ Value any }
	if err := json.Unmarshal(tf.Output(t, dir, "output", "-json"), &outputs); err != nil {
		t.Fatal(err)
	}
	value := func(name string) string { s, _ := outputs[name].Value.(string); return s }
	orgID, colID, whID := value("org_id"), value("collection_id"), value("webhook_id")
	if secret := value("webhook_secret"); !strings.HasPrefix(secret, "whsec_") {
		t.Errorf("webhook secret in state = %q, want the whsec_… cmekd showed at creation", secret)
	}
	apiKey := value("key_events_api_key")
	if !strings.HasPrefix(apiKey, "kev_") || !strings.HasSuffix(value("key_events_endpoint"), "/v1/key-events/aws/"+orgID) {
		t.Errorf("key events in state: api key %q, endpoint %q; want the kev_… cmekd showed and the organisation's endpoint", apiKey, value("key_events_endpoint"))
	}
	if st, err := api.GetKeyEventsWithResponse(t.Context(), orgID); err != nil || st.JSON200 == nil || !st.JSON200.Configured {
		t.Errorf("key events after apply: %+v (%v), want configured", st, err)
	}
	if ok, _ := outputs["key_ok"].Value.(bool); !ok {
		t.Errorf("cmekd_key_check.ok = false after cmekd's policy was applied")
	}
	org, err := api.GetOrgWithResponse(t.Context(), orgID)
	if err != nil || org.JSON200 == nil || org.JSON200.Encryption.Mode != "customer_managed" || len(org.JSON200.Regions) != 2 {
		t.Fatalf("organisation after apply: %+v (%v)", org, err)
	}
	plan(0) // a second plan after apply is empty, the key policies cmekd generated included

	// The rest concerns cmekd alone: the customer's keys leave this configuration (the AWS
	// provider's every start is what makes Terraform slow here) and are named by ARN.
	tf.Run(t, dir, "state", "rm", "aws_kms_key.home", "aws_kms_key_policy.home", "aws_kms_key.second", "aws_kms_key_policy.second")
	if err := os.Remove(filepath.Join(dir, "keys.tf")); err != nil {
		t.Fatal(err)
	}
	homeARN, secondARN := strconv.Quote(value("home_arn")), strconv.Quote(value("second_arn"))

	// A rename is an update in place, and the only change: the key ARNs written out are the ones
	// in state.
	write("main.tf", platform(receiver.URL, "Acme Corp", homeARN, secondARN, ""))
	if out := apply(); !strings.Contains(out, "cmekd_organization.acme will be updated in-place") || !strings.Contains(out, "0 added, 1 changed, 0 destroyed") {
		t.Errorf("rename:\n%s", out)
	}
	if org, err := api.GetOrgWithResponse(t.Context(), orgID); err != nil || org.JSON200 == nil || org.JSON200.Name != "Acme Corp" || org.JSON200.Id != orgID {
		t.Fatalf("organisation after rename: %+v (%v)", org, err)
	}

	// Another rotate value replaces the key events: a new api key.
	write("events.tf", keyEvents("2"))
	if out := apply(); !strings.Contains(out, "cmekd_key_events.acme must be replaced") || !strings.Contains(out, "1 added, 0 changed, 1 destroyed") {
		t.Errorf("rotate:\n%s", out)
	}
	if rotated := string(tf.Output(t, dir, "output", "-raw", "key_events_api_key")); !strings.HasPrefix(rotated, "kev_") || rotated == apiKey {
		t.Errorf("api key after rotate = %q, want a new kev_… (was %q)", rotated, apiKey)
	}

	// Another key for the organisation, or for the region: the plan fails in cmekd's words.
	write("main.tf", platform(receiver.URL, "Acme Corp", secondARN, secondARN, ""))
	plan(1, "key_link_immutable")
	write("main.tf", platform(receiver.URL, "Acme Corp", homeARN, homeARN, ""))
	plan(1, "region_already_linked")
	write("main.tf", platform(receiver.URL, "Acme Corp", homeARN, secondARN, ""))

	// Drift: a collection deleted and key events turned off out of band are planned back.
	if out, err := api.DeleteCollectionWithResponse(t.Context(), orgID, colID); err != nil || out.StatusCode() != http.StatusNoContent {
		t.Fatalf("deleting the collection out of band: %v %v", out, err)
	}
	if out, err := api.DisableKeyEventsWithResponse(t.Context(), orgID); err != nil || out.StatusCode() != http.StatusNoContent {
		t.Fatalf("turning key events off out of band: %v %v", out, err)
	}
	if out := apply(); !strings.Contains(out, "cmekd_collection.events will be created") || !strings.Contains(out, "cmekd_key_events.acme will be created") ||
		!strings.Contains(out, "2 added, 0 changed, 0 destroyed") {
		t.Errorf("drift:\n%s", out)
	}

	// Import: every resource forgotten, then imported by id, plans clean.
	colID = string(tf.Output(t, dir, "output", "-raw", "collection_id"))
	tf.Run(t, dir, "state", "rm", "cmekd_organization.acme", "cmekd_region.second", "cmekd_collection.events",
		"cmekd_webhook.alerts", "cmekd_secret_scope.snowflake", "cmekd_key_events.acme")
	tf.Run(t, dir, "import", "-input=false", "cmekd_organization.acme", orgID) // the CLI form
	write("imports.tf", `
import {
  to = cmekd_region.second
  id = "`+orgID+`/`+second+`"
}
import {
  to = cmekd_collection.events
  id = "`+orgID+`/`+colID+`"
}
import {
  to = cmekd_webhook.alerts
  id = "`+orgID+`/`+whID+`"
}
import {
  to = cmekd_secret_scope.snowflake
  id = "`+orgID+`/snowflake"
}
import {
  to = cmekd_key_events.acme
  id = "`+orgID+`"
}
`)
	// The organisation and the region change only to record their timeouts, which no import can know.
	// Key events imported have no api key: cmekd showed it once. rotate, which cmekd does not keep,
	// comes back from the configuration: an update in place that sends nothing.
	if out := apply(); !strings.Contains(out, "5 imported, 0 added, 3 changed, 0 destroyed") {
		t.Errorf("import:\n%s", out)
	}
	if err := os.Remove(filepath.Join(dir, "imports.tf")); err != nil {
		t.Fatal(err)
	}
	plan(0)
	// A null output leaves the state's outputs altogether.
	outputs = nil
	if err := json.Unmarshal(tf.Output(t, dir, "output", "-json"), &outputs); err != nil {
		t.Fatal(err)
	}
	if key, ok := outputs["key_events_api_key"]; ok && key.Value != nil {
		t.Errorf("api key after import = %v, want none (cmekd shows it once)", key.Value)
	}

	out, _ := tf.Run(t, dir, "destroy", "-input=false", "-auto-approve")
	if !strings.Contains(out, "cmekd keeps the region") {
		t.Errorf("destroy does not warn that the region link stays:\n%s", out)
	}
	if org, err := api.GetOrgWithResponse(t.Context(), orgID); err != nil || org.StatusCode() != http.StatusNotFound {
		t.Errorf("organisation after destroy: %v (%v), want 404", org.Status(), err)
	}
	if !strings.Contains(out, "cmekd_key_events.acme: Destruction complete") {
		t.Errorf("destroy did not turn key events off:\n%s", out)
	}
}
