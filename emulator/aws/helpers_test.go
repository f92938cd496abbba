package awsemu_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	awsemu "github.com/cmekd/cmekd/emulator/aws"
	"github.com/cmekd/cmekd/internal/testing/testkit"
)

const (
	account = "111122223333"
	// Access key ids the test emulators map to principals.
	akidRoot     = "AKIDROOT" // unmapped: the emulator account's root
	akidApp      = "AKIDAPP"  // a role in the emulator account
	akidPlatform = "AKIDPLAT" // a role in another account
	akidAuditor  = "AKIDAUDIT"
	akidSession  = "AKIDSESSION" // a session of platformRole
	appRole      = "arn:aws:iam::111122223333:role/app"
	platformRole = "arn:aws:iam::999988887777:role/cmekd-platform"
	auditorUser  = "arn:aws:iam::999988887777:user/auditor"
	sessionARN   = "arn:aws:sts::999988887777:assumed-role/cmekd-platform/probe-1"
)

// env is one emulator behind a real HTTP server, with a clock it reads.
type env struct {
	url   string
	clock *testkit.Clock // settable, so tests cross days without sleeping
}

func setup(t testing.TB) *env {
	t.Helper()
	return setupWith(t, awsemu.Options{})
}

// setupWith is setup with options; the account, principals and clock are the tests' own.
func setupWith(t testing.TB, opts awsemu.Options) *env {
	t.Helper()
	clk := testkit.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	em, err := awsemu.Open(testOptions(opts, clk))
	if err != nil {
		t.Fatalf("awsemu.Open: %v", err)
	}
	srv := httptest.NewServer(em)
	t.Cleanup(srv.Close)
	return &env{url: srv.URL, clock: clk}
}

// testOptions fills in the tests' account, principals and clock.
func testOptions(opts awsemu.Options, clk *testkit.Clock) awsemu.Options {
	opts.Account = account
	opts.Principals = map[string]string{
		akidApp:      appRole,
		akidPlatform: platformRole,
		akidAuditor:  auditorUser,
		akidSession:  sessionARN,
	}
	opts.Now = clk.Now
	return opts
}

// client is the real aws-sdk-go-v2 KMS client for one region and access key.
func (e *env) client(region, akid string) *kms.Client {
	cfg := aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider(akid, "secret-"+akid, ""),
	}
	return kms.NewFromConfig(cfg, func(o *kms.Options) {
		o.BaseEndpoint = aws.String(e.url)
		o.Retryer = aws.NopRetryer{}
	})
}

// root is the emulator account's root in us-west-2, the usual key owner.
func (e *env) root() *kms.Client { return e.client("us-west-2", akidRoot) }

// ownerAndPlatform sets up an emulator and returns the clients of the account's root (the usual
// key owner) and of the platform, both in us-west-2.
func ownerAndPlatform(t *testing.T) (*env, *kms.Client, *kms.Client) {
	t.Helper()
	e := setup(t)
	return e, e.root(), e.client("us-west-2", akidPlatform)
}

// rootKey sets up an emulator and a new key of the account's root in us-west-2, and returns the
// root's client and the key.
func rootKey(t *testing.T) (*env, *kms.Client, *types.KeyMetadata) {
	t.Helper()
	e := setup(t)
	c := e.root()
	return e, c, createKey(t, c, nil)
}

// errCode is the AWS error name of err ("" for nil).
func errCode(err error) string {
	if err == nil {
		return ""
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return "not an API error: " + err.Error()
}

func errMessage(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorMessage()
	}
	return ""
}

// wantCode fails the test unless err is the AWS error named code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := errCode(err); got != code {
		t.Fatalf("error = %q (%v), want %s", got, err, code)
	}
}

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// createKey makes a symmetric customer key and returns its metadata.
func createKey(t *testing.T, c *kms.Client, in *kms.CreateKeyInput) *types.KeyMetadata {
	t.Helper()
	if in == nil {
		in = &kms.CreateKeyInput{}
	}
	out, err := c.CreateKey(context.Background(), in)
	ok(t, err)
	return out.KeyMetadata
}

func describe(t *testing.T, c *kms.Client, keyID string) *types.KeyMetadata {
	t.Helper()
	out, err := c.DescribeKey(context.Background(), &kms.DescribeKeyInput{KeyId: aws.String(keyID)})
	ok(t, err)
	return out.KeyMetadata
}

// roundTrip proves a key works: a data key generated under it decrypts back.
func roundTrip(c *kms.Client, keyID string, encCtx map[string]string) error {
	ctx := context.Background()
	dk, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId: aws.String(keyID), KeySpec: types.DataKeySpecAes256, EncryptionContext: encCtx,
	})
	if err != nil {
		return err
	}
	out, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: encCtx})
	if err != nil {
		return err
	}
	if string(out.Plaintext) != string(dk.Plaintext) {
		return errors.New("decrypted data key differs")
	}
	return nil
}

var bg = context.Background()
