package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/cmekd/cmekd/client"
	"github.com/cmekd/cmekd/internal/testing/kmstest"
	"github.com/cmekd/cmekd/internal/testing/testserver"
)

// screenshotDir is where the browser tests leave their screenshots: $CMEKD_SCREENSHOTS_DIR, or a
// temporary directory of the test.
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("CMEKD_SCREENSHOTS_DIR")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// chromium finds Debian's Chromium (or another Chrome) or skips, saying why.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium on PATH (.ci/run installs Debian's chromium; locally: apt-get install chromium chromium-driver)")
	return ""
}

// page is one headless Chromium tab of the given width, with a fresh profile.
type page struct {
	t     *testing.T
	ctx   context.Context
	dir   string
	width int
	shots int
	// prefix starts the screenshots' file names, so that tests sharing $CMEKD_SCREENSHOTS_DIR keep
	// apart.
	prefix string
}

func openBrowser(t *testing.T, width, height int) *page {
	exe := chromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// Containers often have a tiny /dev/shm, where Chromium's tabs crash.
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		t.Skipf("Chromium (%s) does not start here: %v", exe, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancel)
	dir := screenshotDir(t)
	t.Logf("screenshots of the %d px run go to %s", width, dir)
	return &page{t: t, ctx: ctx, dir: dir, width: width}
}

func (p *page) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		body, _ := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS("main")))
		p.shot("failed-" + strings.ReplaceAll(what, " ", "-"))
		p.t.Fatalf("%s: %v\npage text:\n%s", what, err, body)
	}
}

// shot saves a full-page screenshot and checks what every page must hold at this width: no
// sideways scrolling, and a label for every form field.
func (p *page) shot(name string) {
	p.t.Helper()
	png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	fits, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth + 1`))
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	labelled, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](`[...document.querySelectorAll('input, select, textarea')].every(e => e.labels && e.labels.length > 0 && e.labels[0].textContent.trim() !== '')`))
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	p.shots++
	file := filepath.Join(p.dir, fmt.Sprintf("%s%dpx-%02d-%s.png", p.prefix, p.width, p.shots, name))
	if err := os.WriteFile(file, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot: %s", file)
	if !fits {
		p.t.Errorf("%s: the page scrolls sideways at %d px", name, p.width)
	}
	if !labelled {
		p.t.Errorf("%s: a form field has no label", name)
	}
}

// waitText waits until the element matched by sel contains want.
func waitText(sel, want string) chromedp.Action[chromedp.Void] {
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && e.innerText.includes(%q); })()`, sel, want)
	return chromedp.Poll[chromedp.Void](js, chromedp.WithPollingInterval(100*time.Millisecond))
}

// awsCLI returns the first AWS CLI v2 on PATH, or "" (pip's awscli is v1 and is passed over).
func awsCLI() string {
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		p := filepath.Join(dir, "aws")
		out, err := exec.Command(p, "--version").CombinedOutput()
		if err == nil && strings.HasPrefix(string(out), "aws-cli/2.") {
			return p
		}
	}
	return ""
}

// asOwner does one thing to the key as its owner: with the AWS CLI when it is installed (a subtest
// that skips, saying so, when it is not), otherwise with the SDK.
func asOwner(t *testing.T, s *testserver.Server, what string, cli []string, sdk func(*awskms.Client) error) {
	t.Helper()
	done := t.Run("aws cli: "+what, func(t *testing.T) {
		bin := awsCLI()
		if bin == "" {
			t.Skip("the AWS CLI v2 is not installed (.ci/run installs Debian's awscli); doing it with the SDK instead")
		}
		home := t.TempDir()
		cmd := exec.Command(bin, append([]string{"--endpoint-url", s.KMS.Endpoint, "--region", testserver.Home, "kms"}, cli...)...)
		cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "AWS_ACCESS_KEY_ID=" + s.KMS.CustomerAccessKey,
			"AWS_SECRET_ACCESS_KEY=x", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=",
			"AWS_EC2_METADATA_DISABLED=true"}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("aws kms %s: %v\n%s", strings.Join(cli, " "), err, out)
		}
	})
	if !done && !t.Failed() { // skipped: no CLI
		if err := sdk(customerKMS(t, s)); err != nil {
			t.Fatalf("%s with the SDK: %v", what, err)
		}
	}
}

// customerKMS is the key owner's KMS client in the home region: asOwner's fallback, and what tests
// that do without the CLI use, through the calls below.
func customerKMS(t *testing.T, s *testserver.Server) *awskms.Client {
	return s.KMS.SDK(t, testserver.Home, s.KMS.CustomerAccessKey)
}

// setKeyEnabled enables the key (on) or disables it.
func setKeyEnabled(c *awskms.Client, keyARN string, on bool) error {
	var err error
	if on {
		_, err = c.EnableKey(context.Background(), &awskms.EnableKeyInput{KeyId: aws.String(keyARN)})
	} else {
		_, err = c.DisableKey(context.Background(), &awskms.DisableKeyInput{KeyId: aws.String(keyARN)})
	}
	return err
}

// putKeyPolicy replaces the key's policy with policy.
func putKeyPolicy(c *awskms.Client, keyARN string, policy []byte) error {
	_, err := c.PutKeyPolicy(context.Background(), &awskms.PutKeyPolicyInput{KeyId: aws.String(keyARN), PolicyName: aws.String("default"), Policy: aws.String(string(policy))})
	return err
}

// revokeGrant revokes one grant on the key.
func revokeGrant(c *awskms.Client, keyARN, grantID string) error {
	_, err := c.RevokeGrant(context.Background(), &awskms.RevokeGrantInput{KeyId: aws.String(keyARN), GrantId: aws.String(grantID)})
	return err
}

// replicateKey makes the replica of the multi-region key in region, with policy, and returns its ARN.
func replicateKey(c *awskms.Client, keyARN, region, policy string) (string, error) {
	out, err := c.ReplicateKey(context.Background(), &awskms.ReplicateKeyInput{
		KeyId: aws.String(keyARN), ReplicaRegion: aws.String(region), Policy: aws.String(policy)})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.ReplicaKeyMetadata.Arn), nil
}

// switchKey enables the key (on) or disables it as its owner, with the AWS CLI or the SDK.
func switchKey(t *testing.T, s *testserver.Server, keyARN string, on bool) {
	t.Helper()
	what, verb := "disable the key", "disable-key"
	if on {
		what, verb = "enable the key", "enable-key"
	}
	asOwner(t, s, what, []string{verb, "--key-id", keyARN}, func(c *awskms.Client) error { return setKeyEnabled(c, keyARN, on) })
}

// TestConsole_OnboardAKeyFixItsPolicyAndSeeItHalt is the console's story as a platform engineer
// lives it, in headless Chromium at desktop and phone widths, driven by the keyboard where a user
// would type.
func TestConsole_OnboardAKeyFixItsPolicyAndSeeItHalt(t *testing.T) {
	t.Parallel()
	p := openBrowser(t, 1280, 900)
	// Collections pause a second after their key became unavailable, so the resume button shows.
	s := testserver.Start(t, map[string]string{"CMEKD_PAUSE_AFTER": "1s"})
	keyARN := s.KMS.CreateCustomerKey(t, testserver.Home, kmstest.KeyOptions{DefaultPolicy: true})

	p.run("open the console", chromedp.Navigate(s.URL+"/console/"), chromedp.WaitVisible(chromedp.ID("token")))
	p.shotBoth("sign-in")
	p.run("sign in with the keyboard",
		chromedp.SendKeys(chromedp.ID("token"), testserver.AdminToken+kb.Enter),
		waitText("h1", "Organisations"))
	p.shotBoth("organisations")

	p.run("open the wizard", chromedp.Click(chromedp.CSS(`nav a[href="#/onboard"]`)), chromedp.WaitVisible(chromedp.ID("key-id")))
	p.run("check a key that does not admit the platform",
		chromedp.SendKeys(chromedp.ID("key-id"), keyARN+kb.Enter),
		waitText("#checks-failed", "describe_key (kms:DescribeKey denied)"),
		waitText("#results table", "access_denied"),
		waitText("#policy", `"Sid"`))
	advice, err1 := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS("#results table")))
	stmtText, err2 := chromedp.Run(p.ctx, chromedp.Text(chromedp.ID("policy")))
	if err1 != nil || err2 != nil {
		t.Fatalf("read the advice and the statement: %v %v", err1, err2)
	}
	if !strings.Contains(advice, "✗") || !strings.Contains(stmtText, kmstest.PlatformPrincipal) || !strings.Contains(stmtText, "kms:GenerateDataKey*") {
		t.Errorf("the wizard shows no failed check or no statement naming the platform:\n%s\n%s", advice, stmtText)
	}
	p.shotBoth("wizard-check-failed")
	p.run("show the policy as Terraform", chromedp.Click(chromedp.ID("tab-terraform")), waitText("#policy", `resource "aws_kms_key_policy"`))
	p.shotBoth("wizard-terraform")

	// The customer adds exactly the statement the console showed, beside the owner's own.
	var stmt map[string]any
	if err := json.Unmarshal([]byte(stmtText), &stmt); err != nil {
		t.Fatalf("the JSON tab is not JSON: %v\n%s", err, stmtText)
	}
	policy, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{
		map[string]any{"Sid": "Owner", "Effect": "Allow", "Principal": map[string]any{"AWS": "arn:aws:iam::" + s.KMS.Account + ":root"}, "Action": "kms:*", "Resource": "*"},
		stmt}})
	policyFile := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(policyFile, policy, 0o600); err != nil {
		t.Fatal(err)
	}
	asOwner(t, s, "put the key policy", []string{"put-key-policy", "--key-id", keyARN, "--policy-name", "default", "--policy", "file://" + policyFile},
		func(c *awskms.Client) error { return putKeyPolicy(c, keyARN, policy) })

	p.run("check again", chromedp.Click(chromedp.ID("check-again")), waitText("#checks-ok", "Every check passed"))
	p.shotBoth("wizard-check-passed")
	p.run("create the organisation",
		chromedp.SendKeys(chromedp.ID("org-name"), "Acme"+kb.Enter),
		waitText("h1", "Acme"), waitText("main", "customer_managed"),
		waitText("#org-provider", "AWS KMS"), waitText("#org-key-id", keyARN))
	p.run("create a collection",
		chromedp.SendKeys(chromedp.ID("collection-name"), "events"+kb.Enter),
		waitText("section[aria-labelledby=collections] table", "active"))
	p.shotBoth("organisation-active")

	switchKey(t, s, keyARN, false)
	p.run("check the key now and see the collection halt",
		chromedp.Click(chromedp.ID("probe")),
		waitText("section[aria-labelledby=collections] table", "ingest_halted"),
		waitText("section[aria-labelledby=key-health] table", "unavailable"),
		waitText("#timeline", "collection.ingest_halted"))
	p.shotBoth("organisation-halted")

	time.Sleep(1100 * time.Millisecond) // past CMEKD_PAUSE_AFTER, on the server's real clock
	p.run("check again and see the collection pause",
		chromedp.Click(chromedp.ID("probe")),
		waitText("section[aria-labelledby=collections] table", "paused"))
	p.shotBoth("organisation-paused")
	switchKey(t, s, keyARN, true)
	p.run("resume the collection with the keyboard",
		chromedp.Focus(chromedp.CSS(`button[aria-label="Resume events"]`)),
		chromedp.KeyEvent(kb.Enter),
		waitText("section[aria-labelledby=collections] table", "active"),
		waitText("#timeline", "collection.resumed"))
	p.shotBoth("organisation-resumed")
	revealSecret(t, p, s)

	p.run("back to the organisations", chromedp.Click(chromedp.CSS(`nav a[href="#/orgs"]`)), waitText("main table", "Acme"))
	p.run("sign out", chromedp.Click(chromedp.ID("signout")), chromedp.WaitVisible(chromedp.ID("token")))
	if strings.Contains(s.Logs(), testserver.AdminToken) {
		t.Error("the server logged the token")
	}
}

// revealSecret writes a scope and a secret through the API into the organisation the page shows,
// reloads it, and reveals the value with the keyboard: the page holds the value only after that.
func revealSecret(t *testing.T, p *page, s *testserver.Server) {
	t.Helper()
	hash, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](`location.hash`))
	if err != nil || !strings.HasPrefix(hash, "#/orgs/org_") || strings.Count(hash, "/") != 2 {
		t.Fatalf("the organisation page's address: %q %v", hash, err)
	}
	org := strings.TrimPrefix(hash, "#/orgs/")
	api, err := client.New(s.URL, testserver.AdminToken, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const value = "snowflake password: 7Hq!z<b>&amp;"
	if r, err := api.CreateSecretScopeWithResponse(ctx, org, client.SecretScopeCreate{Name: "snowflake-scope"}); err != nil || r.JSON201 == nil {
		t.Fatalf("create the scope: %v %s", err, r.Body)
	}
	if r, err := api.PutSecretWithResponse(ctx, org, "snowflake-scope", "snowflake-password", client.SecretPut{Value: value}); err != nil || r.JSON201 == nil {
		t.Fatalf("put the secret: %v %s", err, r.Body)
	}
	p.run("see the scope, its manager and its key",
		chromedp.Click(chromedp.ID("tab-link-secrets")),
		waitText("#scopes-body", "snowflake-scope"),
		waitText("#scopes-body", "snowflake-password"),
		waitText("#scopes-body", "admin"),
		waitText("#scopes-body", "manager"))
	preloaded, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](fmt.Sprintf(`document.documentElement.outerHTML.includes(%q) || document.documentElement.innerText.includes(%q)`, "7Hq!z", "7Hq!z")))
	if err != nil || preloaded {
		t.Errorf("the value is in the page before Reveal (%v)", err)
	}
	p.shotBoth("secret-scopes")
	reveal := chromedp.CSS(`button[aria-label="Reveal the value of snowflake-password"]`)
	p.run("reveal the value with the keyboard",
		chromedp.Focus(reveal), chromedp.KeyEvent(kb.Enter),
		waitText("#scopes-body code.secret", value))
	p.shotBoth("secret-revealed")
	p.run("hide it again",
		chromedp.Click(chromedp.CSS(`button[aria-label="Hide the value of snowflake-password"]`)),
		chromedp.WaitVisible(reveal))
	if shown, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](`document.documentElement.innerText.includes("7Hq!z")`)); err != nil || shown {
		t.Errorf("the value stays on the page after Hide (%v)", err)
	}
}
