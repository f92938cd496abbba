package console_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/cmekd/cmekd/internal/testing/kmstest"
	"github.com/cmekd/cmekd/internal/testing/testserver"
)

// apiCall sends one request to the server's API with token and returns the status and the JSON
// answer: what the console did, read back the way any client reads it.
func apiCall(t *testing.T, s *testserver.Server, token, method, path string, body any) (int, map[string]any) {
	t.Helper()
	code, _, out := newBrowser(t, s.URL).do(method, path, body, map[string]string{"Authorization": "Bearer " + token})
	return code, out
}

// mustAPI is apiCall that fails the test unless the status is want.
func mustAPI(t *testing.T, s *testserver.Server, method, path string, body any, want int) map[string]any {
	t.Helper()
	code, out := apiCall(t, s, testserver.AdminToken, method, path, body)
	if code != want {
		t.Fatalf("%s %s: %d, want %d: %v", method, path, code, want, out)
	}
	return out
}

// listLen is how many items the list at path holds under key.
func listLen(t *testing.T, s *testserver.Server, path, key string) int {
	t.Helper()
	items, _ := mustAPI(t, s, "GET", path, nil, http.StatusOK)[key].([]any)
	return len(items)
}

// shotBoth saves the page at the desktop width and again at a phone's 390 px, then goes back.
func (p *page) shotBoth(name string) {
	p.t.Helper()
	w := p.width
	p.shot(name)
	p.width = 390
	p.run("narrow to 390 px", chromedp.EmulateViewport(390, 844), chromedp.Sleep(150*time.Millisecond))
	p.shot(name)
	p.width = w
	p.run("widen again", chromedp.EmulateViewport(int64(w), 900))
}

// text is the visible text of the element sel.
func (p *page) text(sel string) string {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatalf("read %s: %v", sel, err)
	}
	return v
}

// eval runs a boolean JavaScript expression in the page.
func (p *page) eval(js string) bool {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](js))
	if err != nil {
		p.t.Fatalf("%s: %v", js, err)
	}
	return v
}

// drawn waits until the page of the address shown has been drawn.
func drawn() chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](`document.getElementById('main').dataset.shown === (location.hash || '#/orgs')`, chromedp.WithPollingInterval(50*time.Millisecond))
}

// tab opens one of the organisation's tabs and waits for it to be drawn.
func (p *page) tab(name string) {
	p.t.Helper()
	p.run("open the "+name+" tab", chromedp.Click(chromedp.ID("tab-link-"+name)), drawn())
}

// TestConsole_EveryPage clicks through every page an owner and an operator use — regions with live
// checks, backups and restore, grants, key events, webhooks, tokens and workspaces, documents and
// events paged — on one server in one browser, and reads back through the API what each click did.
// Key health refreshes by itself: the server probes every second and the page shows the disabled
// key without a reload.
func TestConsole_EveryPage(t *testing.T) {
	t.Parallel()
	p := openBrowser(t, 1280, 900)
	p.prefix = "pages-"
	// Probes every second, also after the key event the test delivers (which would otherwise slow
	// them to CMEKD_PROBE_INTERVAL_WITH_EVENTS).
	s := testserver.Start(t, map[string]string{"CMEKD_PROBE_INTERVAL": "1s", "CMEKD_PROBE_INTERVAL_WITH_EVENTS": "1s",
		"CMEKD_WEBHOOK_HTTP_HOSTS": "127.0.0.1"})
	keyARN := s.KMS.CreateCustomerKey(t, testserver.Home, kmstest.KeyOptions{MultiRegion: true})
	org := mustAPI(t, s, "POST", "/v1/orgs", map[string]any{"name": "Globex", "region": testserver.Home,
		"encryption": map[string]any{"mode": "customer_managed", "key_id": keyARN}}, http.StatusCreated)["id"].(string)

	signedOut(t, p, s)
	p.run("sign in", chromedp.SendKeys(chromedp.ID("token"), testserver.AdminToken+kb.Enter), drawn(), waitText("main table", "Globex"))
	p.shotBoth("organisations")
	p.run("open the organisation", chromedp.Click(chromedp.CSS(`main table a`)), drawn(), waitText("h1", "Globex"), waitText("#key-health-body", "healthy"))

	col := documentsPaged(t, p, s, org)
	backupAndRestore(t, p, s, org, col)
	addRegion(t, p, s, org, keyARN)
	grantsAndKeyEvents(t, p, s, org, keyARN)
	webhooks(t, p, s, org)
	operator := tokensAndWorkspaces(t, p, s, org)
	eventsPaged(t, p, s, org)
	healthRefreshes(t, p, s, keyARN)
	asOperator(t, p, operator)
}

// signedOut: before signing in, only the sign-in form shows — no navigation, no organisation.
func signedOut(t *testing.T, p *page, s *testserver.Server) {
	p.run("open the console", chromedp.Navigate(s.URL+"/console/"), chromedp.WaitVisible(chromedp.ID("token")))
	if !p.eval(`getComputedStyle(document.getElementById('nav')).display === 'none'`) {
		t.Error("signed out, the navigation shows")
	}
	if !p.eval(`[...document.querySelectorAll('a, button, input')].filter(e => e.offsetParent !== null).every(e => e.closest('form') || e.classList.contains('brand') || e.classList.contains('skip'))`) {
		t.Error("signed out, the page offers more than the sign-in form")
	}
	p.shotBoth("signed-out")
}

// documentsPaged makes a collection in the console, ingests 25 documents through the API and pages
// through them ten at a time.
func documentsPaged(t *testing.T, p *page, s *testserver.Server, org string) string {
	p.run("create a collection", chromedp.SendKeys(chromedp.ID("collection-name"), "orders"+kb.Enter),
		waitText("#collections-body", "orders"), waitText("#collections-body", "active"))
	cols := mustAPI(t, s, "GET", "/v1/orgs/"+org+"/collections", nil, http.StatusOK)["collections"].([]any)
	col := cols[0].(map[string]any)["id"].(string)
	docs := make([]any, 25)
	for i := range docs {
		docs[i] = map[string]any{"order": i + 1, "customer": fmt.Sprintf("cust-%02d", i+1)}
	}
	mustAPI(t, s, "POST", "/v1/orgs/"+org+"/collections/"+col+"/documents", map[string]any{"documents": docs}, http.StatusCreated)
	p.run("open the collection", chromedp.Click(chromedp.CSS(`#collections-body a`)), drawn(), waitText("h1", "orders"), waitText("#documents-page", "Page 1"))
	first := p.text("#documents-body")
	p.shotBoth("documents")
	p.run("next page", chromedp.Click(chromedp.ID("documents-next")), waitText("#documents-page", "Page 2"))
	p.run("last page", chromedp.Click(chromedp.ID("documents-next")), waitText("#documents-page", "Page 3"))
	if n, err := chromedp.Run(p.ctx, chromedp.Evaluate[int](`document.querySelectorAll('#documents-body tbody tr').length`)); err != nil || n != 5 {
		t.Errorf("the last page shows %d documents (%v), want 5", n, err)
	}
	if !p.eval(`document.getElementById('documents-next').disabled`) {
		t.Error("Next is enabled on the last page")
	}
	p.run("back to the first page", chromedp.Click(chromedp.ID("documents-prev")), waitText("#documents-page", "Page 2"),
		chromedp.Click(chromedp.ID("documents-prev")), waitText("#documents-page", "Page 1"))
	if again := p.text("#documents-body"); again != first || !strings.Contains(first, `"customer"`) {
		t.Errorf("Previous did not bring back the first page:\n%s\n---\n%s", first, again)
	}
	return col
}

// backupAndRestore backs the collection up with progress, then restores it into a new one.
func backupAndRestore(t *testing.T, p *page, s *testserver.Server, org, col string) {
	p.run("back up the collection", chromedp.Click(chromedp.CSS(`button[aria-label="Back up orders"]`)),
		waitText("#backup-done", "complete, 25 documents"))
	p.run("see the backups", chromedp.Click(chromedp.CSS(`#backup-done a`)), drawn(), waitText("#backups-body", "complete"))
	p.shotBoth("backups")
	p.run("restore it", chromedp.Click(chromedp.CSS(`#backups-body button[aria-label^="Restore"]`)),
		chromedp.SendKeys(chromedp.ID("restore-name"), "orders-restored"+kb.Enter), waitText("#restored", "orders-restored"))
	cols := mustAPI(t, s, "GET", "/v1/orgs/"+org+"/collections", nil, http.StatusOK)["collections"].([]any)
	var restored string
	for _, c := range cols {
		if m := c.(map[string]any); m["name"] == "orders-restored" {
			restored = m["id"].(string)
		}
	}
	if restored == "" || restored == col {
		t.Fatalf("no restored collection in %v", cols)
	}
	if n := listLen(t, s, "/v1/orgs/"+org+"/collections/"+restored+"/documents?limit=100", "documents"); n != 25 {
		t.Errorf("the restored collection holds %d documents, want 25", n)
	}
	p.run("open the restored collection", chromedp.Click(chromedp.CSS(`#restored a`)), drawn(), waitText("h1", "orders-restored"), waitText("#documents-body", "cust-"))
}

// addRegion adds the multi-region key's replica region: first refused in the API's words because the
// replica does not exist, then checked live and added once the customer replicated the key.
func addRegion(t *testing.T, p *page, s *testserver.Server, org, keyARN string) {
	p.run("open the organisation", chromedp.Click(chromedp.CSS(`.crumbs a[href^="#/orgs/org_"]`)), drawn(), waitText("h1", "Globex"))
	p.tab("regions")
	p.run("add a region whose replica key does not exist",
		chromedp.SendKeys(chromedp.ID("region-name"), "us-west-2"+kb.Enter),
		waitText("#add-region [role=alert]", "key_verification_failed"),
		waitText("#add-region [role=alert]", "replicate-key"))
	p.shotBoth("region-refused")
	if n := listLen(t, s, "/v1/orgs/"+org+"/regions", "regions"); n != 1 {
		t.Fatalf("%d regions after a refused one, want 1", n)
	}
	replica, err := replicateKey(customerKMS(t, s), keyARN, "us-west-2", s.KMS.PlatformPolicy())
	if err != nil {
		t.Fatal(err)
	}
	p.run("check the replica in its region",
		chromedp.SendKeys(chromedp.ID("region-key"), replica), chromedp.Click(chromedp.ID("region-check")),
		waitText("#region-check-verdict", "Every check passed"), waitText("#region-results table", "re_encrypt"), waitText("#policy", `"Sid"`))
	p.shotBoth("region-checked")
	p.run("add the region", chromedp.Click(chromedp.CSS(`#add-region button[type=submit]`)),
		waitText("#region-created", "us-west-2 is active"), waitText("#regions-body", "us-west-2"))
	regions := mustAPI(t, s, "GET", "/v1/orgs/"+org+"/regions", nil, http.StatusOK)["regions"].([]any)
	if len(regions) != 2 || regions[1].(map[string]any)["key_id"] != replica {
		t.Errorf("the regions after adding us-west-2: %v", regions)
	}
	p.shotBoth("regions")
}

// grantsAndKeyEvents: a one-identity deployment has no grants and renewing changes nothing; key
// events turn on with the setup to copy, count an event, rotate and turn off.
func grantsAndKeyEvents(t *testing.T, p *page, s *testserver.Server, org, keyARN string) {
	p.tab("grants")
	p.run("see no grants and renew", chromedp.WaitVisible(chromedp.ID("grants-empty")), chromedp.Click(chromedp.ID("renew-grants")),
		waitText("#grants-renewed", "Renewed: 0 active grants"))
	p.shotBoth("grants")

	p.tab("key-events")
	p.run("turn key events on", waitText("#key-events-state", "off"), chromedp.Click(chromedp.ID("key-events-on")),
		waitText("#key-events-api-key", "kev_"), waitText("#key-events-setup-text", "aws events"), waitText("#key-events-state", "on"))
	apiKey := p.text("#key-events-api-key")
	p.run("show the Terraform", chromedp.Click(chromedp.ID("key-events-setup-text-tab-1")), waitText("#key-events-setup-text", "aws_cloudwatch_event_rule"))
	p.run("show the CloudFormation with the keyboard", chromedp.KeyEvent(kb.ArrowRight), waitText("#key-events-setup-text", "AWS::Events::Rule"))
	p.shotBoth("key-events")
	if st := mustAPI(t, s, "GET", "/v1/orgs/"+org+"/key-events", nil, http.StatusOK); st["configured"] != true {
		t.Fatalf("key events after Turn on: %v", st)
	}
	// An EventBridge event arrives; the status shows it without a reload.
	f := strings.Split(keyARN, ":")
	ev := map[string]any{"version": "0", "id": "ev-console-1", "detail-type": "AWS API Call via CloudTrail", "source": "aws.kms",
		"account": f[4], "region": f[3], "time": time.Now().UTC().Format(time.RFC3339), "resources": []string{keyARN},
		"detail": map[string]any{"eventName": "EnableKey", "eventSource": "kms.amazonaws.com", "requestParameters": map[string]any{"keyId": strings.TrimPrefix(f[5], "key/")}}}
	if code, _, out := newBrowser(t, s.URL).do("POST", "/v1/key-events/aws/"+org, ev, map[string]string{"Cmekd-Events-Key": apiKey}); code != http.StatusAccepted {
		t.Fatalf("deliver a key event: %d %v", code, out)
	}
	p.run("see the last event", waitText("#key-events-last", "EnableKey"), waitText("#key-events-received", "1 (1 about a linked key)"))
	p.run("rotate the api key", chromedp.Click(chromedp.ID("key-events-rotate")),
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`(document.getElementById('key-events-api-key') || {}).textContent?.startsWith('kev_') && document.getElementById('key-events-api-key').textContent !== %q`, apiKey),
			chromedp.WithPollingInterval(50*time.Millisecond)))
	p.run("turn key events off", chromedp.Click(chromedp.ID("key-events-off")), waitText("#key-events-state", "off"))
	if p.eval(`document.body.innerText.includes('kev_')`) {
		t.Error("the api key stays on the page after key events were turned off")
	}
	if st := mustAPI(t, s, "GET", "/v1/orgs/"+org+"/key-events", nil, http.StatusOK); st["configured"] != false {
		t.Errorf("key events after Turn off: %v", st)
	}
}

// webhooks adds a webhook (its secret shown once), sends a test and sees its delivery, then deletes it.
func webhooks(t *testing.T, p *page, s *testserver.Server, org string) {
	var got atomic.Int32
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rcv.Close)
	p.tab("webhooks")
	p.run("see no webhooks", chromedp.WaitVisible(chromedp.ID("webhooks-empty")))
	p.run("refuse a private address", chromedp.SendKeys(chromedp.ID("webhook-url"), "http://10.0.0.1/hook"+kb.Enter),
		waitText("#add-webhook [role=alert]", "invalid_webhook_url"))
	p.run("add a webhook", chromedp.Evaluate[chromedp.Void](`document.getElementById('webhook-url').value = ''`),
		chromedp.SendKeys(chromedp.ID("webhook-url"), rcv.URL+"/hook"+kb.Enter),
		waitText("#webhook-secret", "whsec_"), waitText("#webhooks-body", rcv.URL))
	secret := p.text("#webhook-secret")
	p.shotBoth("webhook-created")
	p.run("send a test", chromedp.Click(chromedp.CSS(`button[aria-label^="Send a test"]`)), waitText("#deliveries-body", "webhook.test"), waitText("#deliveries-body", "204"))
	if got.Load() == 0 {
		t.Error("the receiver heard nothing")
	}
	p.shotBoth("webhook-deliveries")
	p.tab("overview")
	p.tab("webhooks")
	p.run("see the webhook again", waitText("#webhooks-body", rcv.URL))
	if p.eval(fmt.Sprintf(`document.documentElement.outerHTML.includes(%q)`, secret)) {
		t.Error("the webhook's secret shows again")
	}
	p.run("delete it", chromedp.Click(chromedp.CSS(`button[aria-label^="Delete http"]`)), chromedp.WaitVisible(chromedp.ID("webhooks-empty")))
	if n := listLen(t, s, "/v1/orgs/"+org+"/webhooks", "webhooks"); n != 0 {
		t.Errorf("%d webhooks after Delete", n)
	}
}

// tokensAndWorkspaces creates a workspace and tokens (each secret shown once), revokes one and
// returns the operator token for the role test.
func tokensAndWorkspaces(t *testing.T, p *page, s *testserver.Server, org string) string {
	p.tab("access")
	p.run("create a workspace", chromedp.Click(chromedp.CSS(`section[aria-labelledby=workspaces] summary`)),
		chromedp.SendKeys(chromedp.ID("workspace-name"), "etl"+kb.Enter), waitText("#workspaces-body", "etl"))
	p.run("create an operator token", chromedp.Click(chromedp.CSS(`section[aria-labelledby=tokens] summary`)),
		chromedp.SendKeys(chromedp.ID("token-name"), "ops"+kb.Enter), waitText("#token-secret", ""), waitText("#tokens-body", "ops"))
	operator := p.text("#token-secret")
	p.run("create a workspace token", chromedp.SetValue(chromedp.ID("token-role"), "workspace"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('token-role').dispatchEvent(new Event('change'))`),
		chromedp.WaitVisible(chromedp.ID("token-workspace")),
		chromedp.SendKeys(chromedp.ID("token-name"), "etl-job"+kb.Enter), waitText("#tokens-body", "etl-job"))
	p.shotBoth("tokens")
	p.run("revoke the workspace token", chromedp.Click(chromedp.CSS(`button[aria-label="Revoke etl-job"]`)),
		chromedp.Poll[chromedp.Void](`!document.getElementById('tokens-body').innerText.includes('etl-job')`, chromedp.WithPollingInterval(50*time.Millisecond)))
	toks := mustAPI(t, s, "GET", "/v1/orgs/"+org+"/tokens", nil, http.StatusOK)["tokens"].([]any)
	if len(toks) != 1 || toks[0].(map[string]any)["role"] != "operator" {
		t.Errorf("the tokens after Revoke: %v", toks)
	}
	p.tab("overview")
	p.tab("access")
	if p.eval(fmt.Sprintf(`document.documentElement.outerHTML.includes(%q)`, operator)) {
		t.Error("the token's secret shows again")
	}
	if code, _ := apiCall(t, s, operator, "GET", "/v1/orgs/"+org, nil); code != http.StatusOK {
		t.Errorf("the operator token shown works: %d", code)
	}
	return operator
}

// eventsPaged pages through the timeline twenty at a time and filters it by type.
func eventsPaged(t *testing.T, p *page, s *testserver.Server, org string) {
	for i := range 20 {
		mustAPI(t, s, "POST", "/v1/orgs/"+org+"/workspaces", map[string]any{"name": fmt.Sprintf("ws-%02d", i)}, http.StatusCreated)
	}
	p.tab("events")
	p.run("see the newest events", waitText("#events-page", "Page 1"), waitText("#timeline", "workspace.created"))
	if n, err := chromedp.Run(p.ctx, chromedp.Evaluate[int](`document.querySelectorAll('#timeline li').length`)); err != nil || n != 20 {
		t.Errorf("the first page holds %d events (%v), want 20", n, err)
	}
	p.shotBoth("events")
	p.run("older events", chromedp.Click(chromedp.ID("events-next")), waitText("#events-page", "Page 2"), waitText("#timeline", "collection.created"))
	p.run("newer again", chromedp.Click(chromedp.ID("events-prev")), waitText("#events-page", "Page 1"))
	p.run("only the backups", chromedp.SetValue(chromedp.ID("event-type"), "backup.created"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('event-type').dispatchEvent(new Event('change'))`),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll('#timeline li').length === 1`, chromedp.WithPollingInterval(50*time.Millisecond)),
		waitText("#timeline", "backup.created"))
}

// healthRefreshes disables the key in the emulator and waits, without a click or a reload, for the
// overview to show it unavailable and the collections halted; then the key comes back.
func healthRefreshes(t *testing.T, p *page, s *testserver.Server, keyARN string) {
	p.tab("overview")
	customer := customerKMS(t, s)
	if err := setKeyEnabled(customer, keyARN, false); err != nil {
		t.Fatal(err)
	}
	p.run("see the key fail by itself", waitText("#key-health-body", "unavailable"), waitText("#collections-body", "ingest_halted"),
		waitText("#timeline", "key.unavailable"))
	p.shotBoth("health-unavailable")
	if err := setKeyEnabled(customer, keyARN, true); err != nil {
		t.Fatal(err)
	}
	p.run("see it come back by itself",
		chromedp.Poll[chromedp.Void](`!document.getElementById('collections-body').innerText.includes('ingest_halted') && !document.getElementById('key-health-body').innerText.includes('unavailable')`,
			chromedp.WithPollingInterval(100*time.Millisecond)))
}

// asOperator signs in with the operator token: what only an owner does is not offered.
func asOperator(t *testing.T, p *page, operator string) {
	p.run("sign out", chromedp.Click(chromedp.ID("signout")), chromedp.WaitVisible(chromedp.ID("token")))
	p.run("sign in as the operator", chromedp.SendKeys(chromedp.ID("token"), operator+kb.Enter), drawn(), waitText("main table", "Globex"))
	if p.eval(`!document.querySelector('nav a[href="#/onboard"]').hidden`) {
		t.Error("the operator is offered New organisation")
	}
	p.run("open the organisation", chromedp.Click(chromedp.CSS(`main table a`)), drawn(), waitText("h1", "Globex"))
	if p.eval(`!!document.getElementById('tab-link-webhooks')`) {
		t.Error("the operator sees the Webhooks tab")
	}
	p.tab("access")
	p.run("tokens are the owner's", chromedp.WaitVisible(chromedp.ID("tokens-owner-only")), waitText("#workspaces-body", "etl"))
	p.shotBoth("operator-access")
	p.tab("key-events")
	p.run("key events are the owner's to turn on", waitText("#key-events-status", "off"), waitText("main", "Only an owner turns key events on"))
	if p.eval(`!!document.getElementById('key-events-on')`) {
		t.Error("the operator is offered Turn on key events")
	}
	p.tab("regions")
	p.run("the operator may add regions", chromedp.WaitVisible(chromedp.ID("region-name")))
}

// TestConsole_GrantsRevokedAndRenewed: on a deployment with a separate data identity, the Grants tab
// lists the key's grant; the customer revokes it, the key health turns unavailable by itself, and
// Renew grants attaches a new one (the old one retired) and brings the key back.
func TestConsole_GrantsRevokedAndRenewed(t *testing.T) {
	t.Parallel()
	p := openBrowser(t, 1280, 900)
	p.prefix = "grants-"
	s := testserver.Start(t, map[string]string{"CMEKD_PROBE_INTERVAL": "1s"}, testserver.GrantMode)
	keyARN := s.KMS.CreateCustomerKey(t, testserver.Home, kmstest.KeyOptions{DefaultPolicy: true})
	policy, _ := json.Marshal(mustAPI(t, s, "GET", "/v1/key-policy?template=full&key_arn="+url.QueryEscape(keyARN), nil, http.StatusOK))
	customer := customerKMS(t, s)
	if err := putKeyPolicy(customer, keyARN, policy); err != nil {
		t.Fatal(err)
	}
	org := mustAPI(t, s, "POST", "/v1/orgs", map[string]any{"name": "Initech", "region": testserver.Home,
		"encryption": map[string]any{"mode": "customer_managed", "key_id": keyARN}}, http.StatusCreated)["id"].(string)
	grantName := "cmekd-" + org + "-" + testserver.Home + "-data"

	p.run("open the console", chromedp.Navigate(s.URL+"/console/#/orgs/"+org+"/grants"), chromedp.WaitVisible(chromedp.ID("token")))
	p.run("sign in and land on the page linked to", chromedp.SendKeys(chromedp.ID("token"), testserver.AdminToken+kb.Enter), drawn(),
		waitText("h1", "Initech"))
	p.run("see the key's grant", waitText("#grants-body", grantName), waitText("#grants-body", "active"), waitText("#grants-body", kmstest.DataPrincipal))
	grants := mustAPI(t, s, "GET", "/v1/orgs/"+org+"/grants", nil, http.StatusOK)["grants"].([]any)
	if len(grants) != 1 {
		t.Fatalf("grants before the revocation: %v", grants)
	}
	old := grants[0].(map[string]any)["grant_id"].(string)
	if err := revokeGrant(customer, keyARN, old); err != nil {
		t.Fatal(err)
	}
	p.tab("overview")
	p.run("see the key fail by itself", waitText("#key-health-body", "unavailable"), waitText("#key-health-body", "access_denied"))
	p.tab("grants")
	p.run("renew the grants", chromedp.Click(chromedp.ID("renew-grants")), waitText("#grants-renewed", "Renewed: 1 active grant;"), waitText("#grants-body", "retired"))
	p.shotBoth("grants-renewed")
	grants = mustAPI(t, s, "GET", "/v1/orgs/"+org+"/grants", nil, http.StatusOK)["grants"].([]any)
	states := map[string]string{}
	for _, g := range grants {
		m := g.(map[string]any)
		states[m["grant_id"].(string)] = m["status"].(string)
	}
	if len(states) != 2 || states[old] != "retired" {
		t.Errorf("grants after Renew: %v", grants)
	}
	p.tab("overview")
	p.run("see the key healthy again", waitText("#key-health-body", "healthy"))
}
