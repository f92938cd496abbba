package console_test

import (
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/cmekd/cmekd/internal/testing/testserver"
)

// operatorControls are what an operator is offered and a member is not, tab by tab: checking the
// key now, creating and backing up a collection, adding a region, deleting and restoring a backup,
// renewing grants, creating a workspace.
var operatorControls = map[string][]string{
	"overview": {"#probe", "#add-collection", `button[aria-label="Back up orders"]`},
	"regions":  {"#region-name"},
	"backups":  {`button[aria-label^="Delete bak_"]`, "#restore-name"},
	"grants":   {"#renew-grants"},
	"access":   {"#workspace-name"},
}

// ownerControls are what only an owner (or the admin) is offered: the webhooks tab, creating tokens,
// turning key events on.
var ownerControls = map[string][]string{
	"overview":   {"#tab-link-webhooks"},
	"access":     {"#token-name"},
	"key-events": {"#key-events-on"},
}

// TestConsole_RolesSeeTheirControls: the console's session names the signed-in token's role and
// organisation, never the token; a member is offered none of an operator's controls, and an operator
// is offered them all but none of an owner's.
func TestConsole_RolesSeeTheirControls(t *testing.T) {
	t.Parallel()
	p := openBrowser(t, 1280, 900)
	p.prefix = "roles-"
	s := testserver.Start(t, nil)
	org := mustAPI(t, s, "POST", "/v1/orgs", map[string]any{"name": "Hooli", "region": testserver.Home}, http.StatusCreated)["id"].(string)
	col := mustAPI(t, s, "POST", "/v1/orgs/"+org+"/collections", map[string]any{"name": "orders"}, http.StatusCreated)["id"].(string)
	mustAPI(t, s, "POST", "/v1/orgs/"+org+"/collections/"+col+"/backups", nil, http.StatusCreated)
	tokens := map[string]string{}
	for _, role := range []string{"member", "operator"} {
		tokens[role] = mustAPI(t, s, "POST", "/v1/orgs/"+org+"/tokens", map[string]any{"name": role, "role": role}, http.StatusCreated)["token"].(string)
		st, _, m := newBrowser(t, s.URL).do("POST", "/console/session", map[string]string{"token": tokens[role]}, map[string]string{"Origin": s.URL})
		if st != http.StatusOK || m["role"] != role || m["org_id"] != org || m["csrf_token"] == "" {
			t.Errorf("the %s's session: %d %v", role, st, m)
		}
		for k, v := range m {
			if v == tokens[role] {
				t.Errorf("the session answer holds the token in %s", k)
			}
		}
	}

	p.run("open the console", chromedp.Navigate(s.URL+"/console/"), chromedp.WaitVisible(chromedp.ID("token")))
	signInAs(p, tokens["member"], "member")
	offered(t, p, "member", operatorControls, false)
	offered(t, p, "member", ownerControls, false)
	p.run("sign out", chromedp.Click(chromedp.ID("signout")), chromedp.WaitVisible(chromedp.ID("token")))
	signInAs(p, tokens["operator"], "operator")
	offered(t, p, "operator", operatorControls, true)
	offered(t, p, "operator", ownerControls, false)
}

// signInAs signs in with token and opens the one organisation it sees.
func signInAs(p *page, token, role string) {
	p.t.Helper()
	p.run("sign in as the "+role, chromedp.SendKeys(chromedp.ID("token"), token+kb.Enter), drawn(), waitText("main table", "Hooli"))
	p.run("open the organisation", chromedp.Click(chromedp.CSS(`main table a`)), drawn(), waitText("h1", "Hooli"))
}

// offered opens each tab of controls and checks that its controls are on the page when want, and
// none of them otherwise.
func offered(t *testing.T, p *page, role string, controls map[string][]string, want bool) {
	t.Helper()
	for tab, sels := range controls {
		if tab != "overview" || p.eval(`location.hash.split('/').length > 3`) {
			if !p.eval(`!!document.getElementById('tab-link-` + tab + `')`) {
				t.Errorf("the %s has no %s tab", role, tab)
				continue
			}
			p.tab(tab)
		}
		for _, sel := range sels {
			if got := p.eval(`document.querySelector('` + sel + `') !== null`); got != want {
				t.Errorf("the %s on the %s tab: %s offered %v, want %v", role, tab, sel, got, want)
			}
		}
		if tab == "overview" {
			p.shotBoth(role + "-" + tab)
		}
	}
}
