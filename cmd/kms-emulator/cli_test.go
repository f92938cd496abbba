package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	customerAccount = "111122223333"
	// The customer administers the key with an access key the emulator does
	// not map, so it acts as the account's root.
	customerAKID = "AKIDCUSTOMERADMIN"
	// The platform is another account's role, mapped with -principal.
	platformAKID = "AKIDPLATFORM"
	platformRole = "arn:aws:iam::999988887777:role/cmekd-platform"
	home         = "us-east-1"
	replicaHome  = "eu-west-1"
	// exitServiceError is the AWS CLI v2 exit status for "the service
	// answered with an error".
	exitServiceError = 254
)

// TestAWSCLI_KeyLife drives the kms-emulator binary's server with the AWS CLI
// v2 through a customer's whole key life: create, alias, admit the platform
// in the key policy, use the key under an encryption context, disable,
// schedule and cancel deletion, replicate a multi-region key, grant.
func TestAWSCLI_KeyLife(t *testing.T) {
	t.Parallel()
	cli := startCLI(t)
	customer := cli.as(customerAKID, home)
	platform := cli.as(platformAKID, home)
	dir := t.TempDir()

	// Create the key and describe it.
	var created struct{ KeyMetadata keyMetadata }
	customer.ok(t, &created, "create-key", "--description", "acme CMEK for cmekd")
	md := created.KeyMetadata
	if md.Description != "acme CMEK for cmekd" || md.KeyState != "Enabled" || !md.Enabled ||
		md.KeyManager != "CUSTOMER" || md.KeySpec != "SYMMETRIC_DEFAULT" || md.KeyUsage != "ENCRYPT_DECRYPT" || md.MultiRegion {
		t.Fatalf("create-key metadata = %+v", md)
	}
	keyARN := "arn:aws:kms:" + home + ":" + customerAccount + ":key/" + md.KeyId
	if md.Arn != keyARN {
		t.Fatalf("create-key Arn = %q, want %q", md.Arn, keyARN)
	}
	if got := customer.describe(t, md.KeyId); got.Arn != keyARN || got.Description != md.Description {
		t.Fatalf("describe-key by id = %+v", got)
	}

	// An alias names the key, by alias name and by alias ARN.
	const aliasName = "alias/acme-cmek"
	aliasARN := "arn:aws:kms:" + home + ":" + customerAccount + ":" + aliasName
	customer.ok(t, nil, "create-alias", "--alias-name", aliasName, "--target-key-id", md.KeyId)
	var aliases struct {
		Aliases []struct{ AliasName, AliasArn, TargetKeyId string }
	}
	customer.ok(t, &aliases, "list-aliases", "--key-id", keyARN)
	if len(aliases.Aliases) != 1 || aliases.Aliases[0].AliasName != aliasName ||
		aliases.Aliases[0].AliasArn != aliasARN || aliases.Aliases[0].TargetKeyId != md.KeyId {
		t.Fatalf("list-aliases --key-id = %+v", aliases)
	}
	// The full listing is paginated by the CLI one alias per page.
	customer.ok(t, &aliases, "list-aliases", "--page-size", "1")
	var names []string
	for _, a := range aliases.Aliases {
		names = append(names, a.AliasName)
	}
	if len(names) < 2 || !slices.Contains(names, aliasName) {
		t.Fatalf("list-aliases = %v, want the AWS-managed alias and %s", names, aliasName)
	}
	for _, id := range []string{aliasName, aliasARN} {
		if got := customer.describe(t, id); got.Arn != keyARN {
			t.Fatalf("describe-key %s names %s, want %s", id, got.Arn, keyARN)
		}
	}

	// The default key policy trusts the customer's account alone.
	var pol struct{ Policy string }
	customer.ok(t, &pol, "get-key-policy", "--key-id", md.KeyId, "--policy-name", "default")
	if !strings.Contains(pol.Policy, `"arn:aws:iam::`+customerAccount+`:root"`) || strings.Contains(pol.Policy, platformRole) {
		t.Fatalf("default key policy = %s", pol.Policy)
	}
	platform.fails(t, "AccessDeniedException", "generate-data-key", "--key-id", keyARN, "--key-spec", "AES_256",
		"--encryption-context", "tenant=acme")

	// Admit the platform: it may describe the key and use it for tenant acme.
	policy := `{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "CustomerAdmin", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::` + customerAccount + `:root"},
     "Action": "kms:*", "Resource": "*"},
    {"Sid": "PlatformDescribe", "Effect": "Allow", "Principal": {"AWS": "` + platformRole + `"},
     "Action": "kms:DescribeKey", "Resource": "*"},
    {"Sid": "PlatformUse", "Effect": "Allow", "Principal": {"AWS": "` + platformRole + `"},
     "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*",
     "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": "acme"}}}
  ]
}`
	policyFile := writeFile(t, dir, "policy.json", []byte(policy))
	customer.ok(t, nil, "put-key-policy", "--key-id", md.KeyId, "--policy-name", "default", "--policy", "file://"+policyFile)
	customer.ok(t, &pol, "get-key-policy", "--key-id", md.KeyId, "--policy-name", "default")
	if !sameJSON(t, pol.Policy, policy) {
		t.Fatalf("get-key-policy after put = %s, want %s", pol.Policy, policy)
	}

	// The platform, through the key ARN (the alias is the customer's account's
	// name), generates a data key under an encryption context and decrypts it.
	if got := platform.describe(t, keyARN); got.KeyId != md.KeyId {
		t.Fatalf("platform describe-key = %+v", got)
	}
	var dk struct {
		CiphertextBlob, Plaintext []byte
		KeyId                     string
	}
	platform.ok(t, &dk, "generate-data-key", "--key-id", keyARN, "--key-spec", "AES_256",
		"--encryption-context", "tenant=acme,document=doc-1")
	if len(dk.Plaintext) != 32 || len(dk.CiphertextBlob) == 0 || dk.KeyId != keyARN {
		t.Fatalf("generate-data-key = %d-byte plaintext, %d-byte ciphertext, key %s", len(dk.Plaintext), len(dk.CiphertextBlob), dk.KeyId)
	}
	dataKeyFile := writeFile(t, dir, "data-key.bin", dk.CiphertextBlob)
	decryptDataKey := []string{"decrypt", "--ciphertext-blob", "fileb://" + dataKeyFile, "--encryption-context", "tenant=acme,document=doc-1"}
	if got := platform.decrypt(t, decryptDataKey...); !bytes.Equal(got, dk.Plaintext) {
		t.Fatalf("decrypt gave %x, want the data key %x", got, dk.Plaintext)
	}
	// The encryption context is bound to the ciphertext and checked by the policy.
	platform.fails(t, "InvalidCiphertextException", "decrypt", "--ciphertext-blob", "fileb://"+dataKeyFile,
		"--encryption-context", "tenant=acme,document=doc-2")
	platform.fails(t, "AccessDeniedException", "decrypt", "--ciphertext-blob", "fileb://"+dataKeyFile,
		"--encryption-context", "tenant=globex,document=doc-1")

	// Encrypt and decrypt binary from files (fileb://), as the platform.
	secret := []byte("row 42 \x00\xff\x80 of acme's ledger")
	var enc struct {
		CiphertextBlob      []byte
		KeyId               string
		EncryptionAlgorithm string
	}
	platform.ok(t, &enc, "encrypt", "--key-id", keyARN, "--plaintext", "fileb://"+writeFile(t, dir, "secret.bin", secret),
		"--encryption-context", `{"tenant":"acme","document":"doc-2"}`)
	if enc.KeyId != keyARN || enc.EncryptionAlgorithm != "SYMMETRIC_DEFAULT" {
		t.Fatalf("encrypt = key %s, algorithm %s", enc.KeyId, enc.EncryptionAlgorithm)
	}
	if got := platform.decrypt(t, "decrypt", "--ciphertext-blob", "fileb://"+writeFile(t, dir, "secret.enc", enc.CiphertextBlob),
		"--encryption-context", "tenant=acme,document=doc-2"); !bytes.Equal(got, secret) {
		t.Fatalf("decrypt of a fileb:// ciphertext = %q, want %q", got, secret)
	}

	// Text in, base64 out: CLI v2 reads blobs as base64 unless told otherwise.
	customer.ok(t, &enc, "encrypt", "--key-id", aliasName, "--plaintext", "hello from the CLI", "--cli-binary-format", "raw-in-base64-out")
	out := customer.ok(t, nil, "decrypt", "--ciphertext-blob", base64.StdEncoding.EncodeToString(enc.CiphertextBlob),
		"--key-id", aliasARN, "--query", "Plaintext", "--output", "text")
	if got, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(out))); err != nil || string(got) != "hello from the CLI" {
		t.Fatalf("decrypt --output text = %q (%v)", out, err)
	}

	// Data keys of other sizes, and without plaintext.
	customer.ok(t, &dk, "generate-data-key", "--key-id", aliasName, "--number-of-bytes", "64")
	if len(dk.Plaintext) != 64 {
		t.Fatalf("generate-data-key --number-of-bytes 64 gave %d bytes", len(dk.Plaintext))
	}
	dk.Plaintext = nil
	customer.ok(t, &dk, "generate-data-key-without-plaintext", "--key-id", md.KeyId, "--key-spec", "AES_128")
	if dk.Plaintext != nil || len(dk.CiphertextBlob) == 0 {
		t.Fatalf("generate-data-key-without-plaintext = %+v", dk)
	}

	// Disabled: the platform's calls fail with DisabledException.
	customer.ok(t, nil, "disable-key", "--key-id", md.KeyId)
	customer.wantState(t, md.KeyId, "Disabled")
	platform.fails(t, "DisabledException", "generate-data-key", "--key-id", keyARN, "--key-spec", "AES_256",
		"--encryption-context", "tenant=acme")
	platform.fails(t, "DisabledException", decryptDataKey...)
	customer.ok(t, nil, "enable-key", "--key-id", md.KeyId)
	customer.wantState(t, md.KeyId, "Enabled")
	platform.decrypt(t, decryptDataKey...)

	// Scheduled for deletion: unusable and not re-enableable until cancelled,
	// which leaves the key disabled.
	before := time.Now()
	var sched struct {
		KeyId, KeyState     string
		DeletionDate        time.Time
		PendingWindowInDays int
	}
	customer.ok(t, &sched, "schedule-key-deletion", "--key-id", md.KeyId, "--pending-window-in-days", "7")
	week := 7 * 24 * time.Hour
	if sched.KeyId != keyARN || sched.KeyState != "PendingDeletion" || sched.PendingWindowInDays != 7 ||
		sched.DeletionDate.Before(before.Add(week).Truncate(time.Millisecond)) || sched.DeletionDate.After(time.Now().Add(week)) {
		t.Fatalf("schedule-key-deletion = %+v, want deletion a week after %s", sched, before)
	}
	if got := customer.wantState(t, md.KeyId, "PendingDeletion"); got.DeletionDate == nil || !got.DeletionDate.Equal(sched.DeletionDate) {
		t.Fatalf("describe-key DeletionDate = %v, want %v", got.DeletionDate, sched.DeletionDate)
	}
	platform.fails(t, "KMSInvalidStateException", decryptDataKey...)
	customer.fails(t, "KMSInvalidStateException", "enable-key", "--key-id", md.KeyId)
	var cancelled struct{ KeyId string }
	customer.ok(t, &cancelled, "cancel-key-deletion", "--key-id", md.KeyId)
	if cancelled.KeyId != keyARN {
		t.Fatalf("cancel-key-deletion KeyId = %q", cancelled.KeyId)
	}
	if got := customer.wantState(t, md.KeyId, "Disabled"); got.DeletionDate != nil {
		t.Fatalf("a cancelled deletion still has DeletionDate %v", got.DeletionDate)
	}
	customer.ok(t, nil, "enable-key", "--key-id", md.KeyId)
	customer.wantState(t, md.KeyId, "Enabled")
	if got := platform.decrypt(t, decryptDataKey...); len(got) != 32 {
		t.Fatalf("decrypt after the key came back gave %d bytes", len(got))
	}

	// A multi-region key replicated to another region decrypts there what its
	// primary encrypted.
	customer.ok(t, &created, "create-key", "--multi-region", "--description", "acme multi-region CMEK")
	mrk := created.KeyMetadata
	if !strings.HasPrefix(mrk.KeyId, "mrk-") || !mrk.MultiRegion || mrk.MultiRegionConfiguration == nil ||
		mrk.MultiRegionConfiguration.MultiRegionKeyType != "PRIMARY" {
		t.Fatalf("create-key --multi-region = %+v", mrk)
	}
	var replicated struct{ ReplicaKeyMetadata keyMetadata }
	customer.ok(t, &replicated, "replicate-key", "--key-id", mrk.KeyId, "--replica-region", replicaHome)
	replicaARN := "arn:aws:kms:" + replicaHome + ":" + customerAccount + ":key/" + mrk.KeyId
	if replicated.ReplicaKeyMetadata.Arn != replicaARN || replicated.ReplicaKeyMetadata.KeyState != "Creating" {
		t.Fatalf("replicate-key = %+v, want %s Creating", replicated.ReplicaKeyMetadata, replicaARN)
	}
	customerEU := cli.as(customerAKID, replicaHome)
	// As on AWS, the replica is usable once it is Enabled (here after -replica-delay, 2 s by default).
	replica := customerEU.waitState(t, mrk.KeyId, "Enabled", 10*time.Second)
	if cfg := replica.MultiRegionConfiguration; replica.Arn != replicaARN || replica.KeyState != "Enabled" || cfg == nil ||
		cfg.MultiRegionKeyType != "REPLICA" || cfg.PrimaryKey.Arn != mrk.Arn || cfg.PrimaryKey.Region != home {
		t.Fatalf("describe-key in %s = %+v", replicaHome, replica)
	}
	if cfg := customer.describe(t, mrk.KeyId).MultiRegionConfiguration; cfg == nil || len(cfg.ReplicaKeys) != 1 ||
		cfg.ReplicaKeys[0].Arn != replicaARN || cfg.ReplicaKeys[0].Region != replicaHome {
		t.Fatalf("primary's replicas = %+v", cfg)
	}
	customer.ok(t, &enc, "encrypt", "--key-id", mrk.KeyId, "--plaintext", "fileb://"+writeFile(t, dir, "mrk.bin", secret))
	if got := customerEU.decrypt(t, "decrypt", "--ciphertext-blob", "fileb://"+writeFile(t, dir, "mrk.enc", enc.CiphertextBlob),
		"--key-id", replicaARN); !bytes.Equal(got, secret) {
		t.Fatalf("decrypt in %s = %q, want %q", replicaHome, got, secret)
	}

	// A grant admits the platform for a second tenant, which the key policy
	// does not; the platform retires it with its token.
	globexDataKey := []string{"generate-data-key", "--key-id", keyARN, "--key-spec", "AES_256", "--encryption-context", "tenant=globex"}
	platform.fails(t, "AccessDeniedException", globexDataKey...)
	var grant struct{ GrantId, GrantToken string }
	customer.ok(t, &grant, "create-grant", "--key-id", md.KeyId, "--name", "globex",
		"--grantee-principal", platformRole, "--retiring-principal", platformRole,
		"--operations", "GenerateDataKey", "Decrypt", "--constraints", "EncryptionContextSubset={tenant=globex}")
	if len(grant.GrantId) == 0 || len(grant.GrantToken) == 0 {
		t.Fatalf("create-grant = %+v", grant)
	}
	platform.ok(t, &dk, append(globexDataKey, "--grant-tokens="+grant.GrantToken)...)
	if len(dk.Plaintext) != 32 {
		t.Fatalf("generate-data-key under the grant gave %d bytes", len(dk.Plaintext))
	}
	grants := customer.grants(t, md.KeyId)
	if len(grants) != 1 {
		t.Fatalf("list-grants = %+v, want one grant", grants)
	}
	g := grants[0]
	if g.GrantId != grant.GrantId || g.Name != "globex" || g.KeyId != keyARN || g.GranteePrincipal != platformRole ||
		g.RetiringPrincipal != platformRole || !reflect.DeepEqual(g.Operations, []string{"Decrypt", "GenerateDataKey"}) ||
		!reflect.DeepEqual(g.Constraints.EncryptionContextSubset, map[string]string{"tenant": "globex"}) {
		t.Fatalf("list-grants entry = %+v", g)
	}
	platform.ok(t, nil, "retire-grant", "--grant-token="+grant.GrantToken)
	platform.fails(t, "AccessDeniedException", globexDataKey...)

	// The customer revokes a grant it made.
	customer.ok(t, &grant, "create-grant", "--key-id", keyARN, "--grantee-principal", platformRole, "--operations", "Decrypt")
	if grants := customer.grants(t, md.KeyId); len(grants) != 1 || grants[0].GrantId != grant.GrantId {
		t.Fatalf("list-grants = %+v, want the new grant alone", grants)
	}
	customer.ok(t, nil, "revoke-grant", "--key-id", md.KeyId, "--grant-id", grant.GrantId)
	if grants := customer.grants(t, md.KeyId); len(grants) != 0 {
		t.Fatalf("list-grants after revoke-grant = %+v", grants)
	}
}

type keyMetadata struct {
	KeyId, Arn, Description  string
	KeyState, KeyManager     string
	KeySpec, KeyUsage        string
	Enabled, MultiRegion     bool
	DeletionDate             *time.Time
	MultiRegionConfiguration *struct {
		MultiRegionKeyType string
		PrimaryKey         regionalKey
		ReplicaKeys        []regionalKey
	}
}

type regionalKey struct{ Arn, Region string }

type grantEntry struct {
	KeyId, GrantId, Name                string
	GranteePrincipal, RetiringPrincipal string
	Operations                          []string
	Constraints                         struct{ EncryptionContextSubset map[string]string }
}

// awsCLI runs the AWS CLI v2 against one emulator.
type awsCLI struct {
	bin      string
	endpoint string
	env      []string // everything but the access key id
}

// caller is one identity in one region.
type caller struct {
	cli          *awsCLI
	akid, region string
}

func (c *awsCLI) as(akid, region string) caller { return caller{c, akid, region} }

// run runs "aws kms <args>" and returns its output and exit status.
func (c caller) run(t *testing.T, args ...string) (stdout []byte, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	full := append([]string{"--endpoint-url", c.cli.endpoint, "--region", c.region, "--output", "json", "kms"}, args...)
	cmd := exec.CommandContext(ctx, c.cli.bin, full...)
	cmd.Env = append(slices.Clone(c.cli.env), "AWS_ACCESS_KEY_ID="+c.akid)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("aws kms %s: %v", strings.Join(args, " "), err)
	}
	return out.Bytes(), errOut.String(), code
}

// ok runs a command that must succeed and decodes its JSON output into v (if
// not nil); it returns the raw output.
func (c caller) ok(t *testing.T, v any, args ...string) []byte {
	t.Helper()
	out, stderr, code := c.run(t, args...)
	if code != 0 {
		t.Fatalf("aws kms %s (as %s in %s): exit %d\n%s", strings.Join(args, " "), c.akid, c.region, code, stderr)
	}
	if v != nil {
		if err := json.Unmarshal(out, v); err != nil {
			t.Fatalf("aws kms %s printed %q: %v", args[0], out, err)
		}
	}
	return out
}

// fails runs a command that the service must refuse with the named exception.
func (c caller) fails(t *testing.T, exception string, args ...string) {
	t.Helper()
	out, stderr, code := c.run(t, args...)
	if code != exitServiceError || !strings.Contains(stderr, "An error occurred ("+exception+")") {
		t.Fatalf("aws kms %s (as %s): exit %d, stderr %q, stdout %q; want exit %d naming %s",
			strings.Join(args, " "), c.akid, code, stderr, out, exitServiceError, exception)
	}
}

func (c caller) describe(t *testing.T, keyID string) keyMetadata {
	t.Helper()
	var out struct{ KeyMetadata keyMetadata }
	c.ok(t, &out, "describe-key", "--key-id", keyID)
	return out.KeyMetadata
}

func (c caller) wantState(t *testing.T, keyID, state string) keyMetadata {
	t.Helper()
	md := c.describe(t, keyID)
	if md.KeyState != state || md.Enabled != (state == "Enabled") {
		t.Fatalf("key state = %s (Enabled %v), want %s", md.KeyState, md.Enabled, state)
	}
	return md
}

// waitState describes keyID until it is in state, for at most limit.
func (c caller) waitState(t *testing.T, keyID, state string, limit time.Duration) keyMetadata {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		md := c.describe(t, keyID)
		if md.KeyState == state {
			return md
		}
		if time.Now().After(deadline) {
			t.Fatalf("key %s is %s after %s, want %s", keyID, md.KeyState, limit, state)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// decrypt runs a decrypt command and returns the plaintext.
func (c caller) decrypt(t *testing.T, args ...string) []byte {
	t.Helper()
	var out struct {
		Plaintext []byte
		KeyId     string
	}
	c.ok(t, &out, args...)
	return out.Plaintext
}

func (c caller) grants(t *testing.T, keyID string) []grantEntry {
	t.Helper()
	var out struct{ Grants []grantEntry }
	c.ok(t, &out, "list-grants", "--key-id", keyID, "--page-size", "1")
	return out.Grants
}

// startCLI serves the emulator through run, as the binary does, on a free
// loopback port, and returns the AWS CLI pointed at it.
func startCLI(t *testing.T, args ...string) *awsCLI {
	t.Helper()
	env := cliEnv(t, t.TempDir())
	bin := findCLIv2(t, env)
	srv := startServer(t, args...)
	return &awsCLI{bin: bin, endpoint: srv.endpoint, env: env}
}

// server is the emulator served by run on a loopback port.
type server struct {
	endpoint string
	logs     *logSink
	stop     func() // shuts it down, as SIGTERM does; Cleanup calls it too
}

// startServer runs the binary's run with the test principals and args, and
// waits until it listens.
func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &logSink{listening: make(chan string, 1)}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-addr", "127.0.0.1:0", "-account", customerAccount,
			"-principal", platformAKID + "=" + platformRole}, args...), logs)
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
			if !strings.Contains(logs.String(), `"msg":"kms emulator stopped"`) {
				t.Errorf("no shutdown log line in:\n%s", logs.String())
			}
		})
	}
	t.Cleanup(stop)
	select {
	case addr := <-logs.listening:
		return &server{endpoint: "http://" + addr, logs: logs, stop: stop}
	case err := <-done:
		t.Fatalf("run returned before listening: %v\n%s", err, logs.String())
	}
	return nil
}

// cliEnv is the test process's environment without anything that could point
// the CLI at a real account or another Python: empty config and credential
// files, a secret (never checked by the emulator), no pager, no instance
// metadata, no retries.
func cliEnv(t *testing.T, dir string) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "AWS_") || name == "HOME" || name == "PYTHONPATH" || name == "PYTHONHOME" {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HOME="+dir,
		"AWS_CONFIG_FILE="+writeFile(t, dir, "config", nil),
		"AWS_SHARED_CREDENTIALS_FILE="+writeFile(t, dir, "credentials", nil),
		"AWS_SECRET_ACCESS_KEY=emulator-ignores-the-signature",
		"AWS_PAGER=",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_MAX_ATTEMPTS=1",
	)
}

// findCLIv2 returns the first "aws" on PATH that is the AWS CLI v2; a v1
// (pip's awscli) earlier on PATH is passed over, its options differ.
func findCLIv2(t *testing.T, env []string) string {
	t.Helper()
	const skip = "AWS CLI v2 (`aws`) not installed; .ci/run installs it: apt-get install awscli"
	tried := map[string]bool{}
	var others []string
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		path, err := filepath.EvalSymlinks(filepath.Join(dir, "aws"))
		if err != nil || tried[path] {
			continue
		}
		tried[path] = true
		if fi, err := os.Stat(path); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			continue
		}
		cmd := exec.Command(path, "--version")
		cmd.Env = env
		out, _ := cmd.CombinedOutput()
		if bytes.HasPrefix(out, []byte("aws-cli/2.")) {
			return path
		}
		others = append(others, path+": "+strings.TrimSpace(string(out)))
	}
	if len(others) > 0 {
		t.Skipf("%s (found only %s)", skip, strings.Join(others, "; "))
	}
	t.Skip(skip)
	return ""
}

// logSink collects the emulator's JSON log and reports the address it
// listens on.
type logSink struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	listening chan string
	seen      bool
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	for _, line := range bytes.Split(p, []byte("\n")) {
		var rec struct{ Msg, Addr string }
		if !s.seen && json.Unmarshal(line, &rec) == nil && rec.Msg == "kms emulator listening" {
			s.seen = true
			s.listening <- rec.Addr
		}
	}
	return len(p), nil
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// sameJSON tells whether two JSON texts hold the same value.
func sameJSON(t *testing.T, a, b string) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal([]byte(a), &va); err != nil {
		t.Fatalf("not JSON: %q: %v", a, err)
	}
	if err := json.Unmarshal([]byte(b), &vb); err != nil {
		t.Fatalf("not JSON: %q: %v", b, err)
	}
	return reflect.DeepEqual(va, vb)
}
