package awsemu_test

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	awsemu "github.com/cmekd/cmekd/emulator/aws"
	"github.com/cmekd/cmekd/internal/testing/testkit"
)

// restartable serves the emulator kept in one state file; restart replaces it
// with a new one read from that file, as a new process would.
type restartable struct {
	t     *testing.T
	file  string
	clock *testkit.Clock
	srv   *httptest.Server
	*env
}

func startKept(t *testing.T, file string) *restartable {
	r := &restartable{t: t, file: file, clock: testkit.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))}
	r.restart()
	t.Cleanup(func() { r.srv.Close() })
	return r
}

func (r *restartable) restart() {
	r.t.Helper()
	if r.srv != nil {
		r.srv.Close()
	}
	em, err := awsemu.Open(testOptions(awsemu.Options{StateFile: r.file}, r.clock))
	if err != nil {
		r.t.Fatalf("awsemu.Open: %v", err)
	}
	r.srv = httptest.NewServer(em)
	r.env = &env{url: r.srv.URL, clock: r.clock}
}

func TestState_KeptAcrossRestarts(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "kms-state.json")
	e := startKept(t, file)
	c := e.root()
	platform := e.client("us-west-2", akidPlatform)
	policy := policyOf(rootStatement, allow(`{"AWS":"`+platformRole+`"}`, `"kms:DescribeKey"`))
	md := createKey(t, c, &kms.CreateKeyInput{Description: aws.String("kept"), Policy: aws.String(policy),
		Tags: []types.Tag{{TagKey: aws.String("team"), TagValue: aws.String("data")}}})
	_, err := c.CreateAlias(bg, &kms.CreateAliasInput{AliasName: aws.String("alias/kept"), TargetKeyId: md.KeyId})
	ok(t, err)
	g, err := c.CreateGrant(bg, &kms.CreateGrantInput{KeyId: md.KeyId, GranteePrincipal: aws.String(platformRole),
		Operations: grantOps("GenerateDataKey", "Decrypt", "RetireGrant")})
	ok(t, err)
	dk, err := platform.GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: md.Arn, KeySpec: types.DataKeySpecAes256,
		EncryptionContext: map[string]string{"org": "1"}})
	ok(t, err)
	managed, err := c.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String("alias/aws/cmekd-test"), Plaintext: []byte("managed")})
	ok(t, err)
	east := e.client("us-east-1", akidRoot)
	mrk := createKey(t, east, &kms.CreateKeyInput{MultiRegion: aws.Bool(true)})
	_, err = east.ReplicateKey(bg, &kms.ReplicateKeyInput{KeyId: mrk.KeyId, ReplicaRegion: aws.String("eu-west-1")})
	ok(t, err)
	mrkBlob, err := east.Encrypt(bg, &kms.EncryptInput{KeyId: mrk.KeyId, Plaintext: []byte("everywhere")})
	ok(t, err)
	doomed := createKey(t, c, nil)
	_, err = c.ScheduleKeyDeletion(bg, &kms.ScheduleKeyDeletionInput{KeyId: doomed.KeyId, PendingWindowInDays: aws.Int32(7)})
	ok(t, err)

	e.restart()
	c, platform = e.root(), e.client("us-west-2", akidPlatform)
	got := describe(t, c, "alias/kept")
	if *got.KeyId != *md.KeyId || aws.ToString(got.Description) != "kept" || !got.CreationDate.Equal(md.CreationDate.UTC()) {
		t.Fatalf("key after restart = %+v", got)
	}
	pol, err := c.GetKeyPolicy(bg, &kms.GetKeyPolicyInput{KeyId: md.KeyId})
	ok(t, err)
	if *pol.Policy != policy {
		t.Errorf("policy after restart = %s", *pol.Policy)
	}
	tags, err := c.ListResourceTags(bg, &kms.ListResourceTagsInput{KeyId: md.KeyId})
	ok(t, err)
	if len(tags.Tags) != 1 || *tags.Tags[0].TagKey != "team" || *tags.Tags[0].TagValue != "data" {
		t.Errorf("tags after restart = %+v", tags.Tags)
	}
	// The grant still admits the platform, which reads yesterday's data key.
	out, err := platform.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: map[string]string{"org": "1"}})
	ok(t, err)
	if string(out.Plaintext) != string(dk.Plaintext) {
		t.Error("the data key decrypted to something else after the restart")
	}
	out, err = c.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: managed.CiphertextBlob})
	ok(t, err)
	if string(out.Plaintext) != "managed" {
		t.Errorf("AWS-managed key's ciphertext = %q", out.Plaintext)
	}
	out, err = e.client("eu-west-1", akidRoot).Decrypt(bg, &kms.DecryptInput{CiphertextBlob: mrkBlob.CiphertextBlob})
	ok(t, err)
	if string(out.Plaintext) != "everywhere" {
		t.Errorf("replica decrypted %q", out.Plaintext)
	}
	if got := describe(t, c, *doomed.KeyId); got.KeyState != types.KeyStatePendingDeletion {
		t.Errorf("scheduled key after restart: %s", got.KeyState)
	}
	// Yesterday's grant token is still recognised, and retires its grant.
	_, err = platform.RetireGrant(bg, &kms.RetireGrantInput{GrantToken: g.GrantToken})
	ok(t, err)
	e.restart()
	_, err = e.client("us-west-2", akidPlatform).Decrypt(bg, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: map[string]string{"org": "1"}})
	wantCode(t, err, "AccessDeniedException")

	// The file holds key material: only its owner reads it, and no temporary file is left.
	fi, err := os.Stat(file)
	ok(t, err)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v", fi.Mode().Perm())
	}
	entries, err := os.ReadDir(filepath.Dir(file))
	ok(t, err)
	if len(entries) != 1 {
		t.Errorf("state directory holds %d entries, want the state file alone", len(entries))
	}
}

func TestState_BadFileRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	kept := filepath.Join(dir, "kept.json")
	e := startKept(t, kept)
	createKey(t, e.root(), nil)
	tests := []struct {
		name, content string
		opts          awsemu.Options
		want          string
	}{
		{"not JSON", "{", awsemu.Options{}, "kms emulator state"},
		{"another version", `{"version":99,"account":"111122223333"}`, awsemu.Options{}, "version 99"},
	}
	for _, tc := range tests {
		file := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
		ok(t, os.WriteFile(file, []byte(tc.content), 0o600))
		tc.opts.StateFile = file
		if _, err := awsemu.Open(tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Open = %v, want an error naming %q", tc.name, err, tc.want)
		}
	}
	if _, err := awsemu.Open(awsemu.Options{Account: "444455556666", StateFile: kept}); err == nil ||
		!strings.Contains(err.Error(), "account 111122223333") {
		t.Errorf("Open of another account's state = %v", err)
	}
	if _, err := awsemu.Open(awsemu.Options{StateFile: filepath.Join(dir, "absent.json")}); err != nil {
		t.Errorf("a missing state file is an empty state, got %v", err)
	}
}
