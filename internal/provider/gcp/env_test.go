package gcp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/iam/apiv1/iampb"
	kmsapi "cloud.google.com/go/kms/apiv1"
	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	gcpemu "github.com/cmekd/cmekd/emulator/gcp"
	"github.com/cmekd/cmekd/emulator/tlsca"
	"github.com/cmekd/cmekd/internal/provider/gcp"
	"github.com/cmekd/cmekd/internal/verify"
)

const (
	emuProject  = "acme-prod"
	emuLocation = "us-central1"
	adminSA     = "admin@acme-prod.iam.gserviceaccount.com"
	platformSA  = "cmekd@platform-1.iam.gserviceaccount.com"
)

// Env is a Cloud KMS endpoint under test: the customer's admin client that makes keys and sets
// their IAM policies, and the provider under test acting as the platform's service account.
type Env struct {
	Provider *gcp.Provider
	Admin    *kmsapi.KeyManagementClient
	// Project and Location are where keys are made; Principal is the platform's IAM member.
	Project, Location, Principal string
	// Prefix starts every key ring's id, so that runs against a real project do not collide.
	Prefix string
	// Settle is how long an IAM or state change may take to show (Cloud IAM propagates within
	// minutes); 0 on the emulator.
	Settle time.Duration
	// DestroyNow makes a version scheduled for destruction destroyed at once; nil where the target
	// cannot (a real project waits at least a day).
	DestroyNow func(t testing.TB, version string)
	rings      atomic.Int64
}

// emulatorEnv is an Env on an emulator serving on a random port, with its own CA and identities.
type emulatorEnv struct {
	Env
	emu   *gcpemu.Emulator
	addr  string
	ca    *tlsca.CA
	creds string
}

var (
	sharedOnce sync.Once
	sharedEnv  *emulatorEnv
)

// shared is one emulator for the tests that change nothing but their own keys; it lives as long as
// the test binary.
func shared(t testing.TB) *emulatorEnv {
	sharedOnce.Do(func() { sharedEnv = startEmulator(t, nil) })
	if sharedEnv == nil {
		t.Fatal("the shared emulator did not start")
	}
	return sharedEnv
}

// startEmulator serves an emulator with the customer's admin (cloudkms.admin of the project) and
// the platform's service account (no role); cleanup, when given, registers its shutdown.
func startEmulator(t testing.TB, cleanup func(func())) *emulatorEnv {
	t.Helper()
	dir, err := os.MkdirTemp("", "gcp-provider-test")
	must(t, err)
	ca, err := tlsca.Open(filepath.Join(dir, "tls"))
	must(t, err)
	tlsCfg, err := ca.ServerConfig()
	must(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	en := &emulatorEnv{addr: ln.Addr().String(), ca: ca, creds: filepath.Join(dir, "creds")}
	en.emu, err = gcpemu.New(gcpemu.Options{CredentialsDir: en.creds, TokenURL: "https://" + en.addr + "/token"})
	must(t, err)
	go func() { _ = en.emu.Serve(ln, tlsCfg) }()
	for _, id := range [][2]string{{adminSA, emuProject}, {platformSA, ""}} {
		_, err := en.emu.AddIdentity(id[0], id[1])
		must(t, err)
	}
	en.Project, en.Location, en.Principal, en.Prefix = emuProject, emuLocation, "serviceAccount:"+platformSA, "ring"
	en.Admin = en.adminClient(t)
	en.Provider = en.provider(t, en.addr, gcp.Config{})
	en.DestroyNow = en.destroyNow
	if cleanup != nil {
		cleanup(func() {
			_ = en.Provider.Close()
			_ = en.Admin.Close()
			_ = en.emu.Close()
			_ = os.RemoveAll(dir)
		})
	}
	return en
}

func (en *emulatorEnv) adminClient(t testing.TB) *kmsapi.KeyManagementClient {
	c, err := kmsapi.NewKeyManagementClient(context.Background(),
		option.WithEndpoint(en.addr),
		option.WithAuthCredentialsFile(option.ServiceAccount, filepath.Join(en.creds, adminSA+".json")),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(credentials.NewTLS(en.ca.ClientConfig()))))
	must(t, err)
	return c
}

// provider is a Provider of the platform's service account on addr; cfg's zero fields take the
// test defaults (the emulator's CA, two regions, short backoff).
func (en *emulatorEnv) provider(t testing.TB, addr string, cfg gcp.Config) *gcp.Provider {
	t.Helper()
	cfg.Endpoint = addr
	cfg.CredentialsFile = filepath.Join(en.creds, platformSA+".json")
	cfg.RootCAs = en.ca.Pool()
	cfg.Principal = en.Principal
	if cfg.Regions == nil {
		cfg.Regions = []string{emuLocation, "europe-west1"}
	}
	if cfg.Backoff == nil {
		cfg.Backoff = []time.Duration{10 * time.Millisecond}
	}
	p, err := gcp.New(context.Background(), cfg)
	must(t, err)
	return p
}

// destroyNow moves a scheduled destruction into the past through the emulator's state, since its
// clock also judges the callers' tokens and cannot be moved on.
func (en *emulatorEnv) destroyNow(t testing.TB, version string) {
	t.Helper()
	raw, err := en.emu.MarshalState()
	must(t, err)
	var st map[string]any
	must(t, json.Unmarshal(raw, &st))
	key, n := filepath.Dir(filepath.Dir(version)), 0
	_, err = fmt.Sscan(filepath.Base(version), &n)
	must(t, err)
	k := st["crypto_keys"].(map[string]any)[key].(map[string]any)
	v := k["versions"].([]any)[n-1].(map[string]any)
	v["destroy_time"] = time.Now().Add(-time.Minute).Format(time.RFC3339Nano)
	raw, err = json.Marshal(st)
	must(t, err)
	must(t, en.emu.UnmarshalState(raw))
}

// key makes a key ring of its own and in it a key of purpose (ENCRYPT_DECRYPT by default).
func (e *Env) key(t testing.TB, purpose kmspb.CryptoKey_CryptoKeyPurpose) string {
	t.Helper()
	ctx := context.Background()
	ring, err := e.Admin.CreateKeyRing(ctx, &kmspb.CreateKeyRingRequest{
		Parent:    "projects/" + e.Project + "/locations/" + e.Location,
		KeyRingId: fmt.Sprintf("%s-%d", e.Prefix, e.rings.Add(1)),
	})
	must(t, err)
	ck := &kmspb.CryptoKey{Purpose: purpose}
	if purpose == kmspb.CryptoKey_ASYMMETRIC_SIGN {
		ck.VersionTemplate = &kmspb.CryptoKeyVersionTemplate{Algorithm: kmspb.CryptoKeyVersion_EC_SIGN_P256_SHA256}
	}
	k, err := e.Admin.CreateCryptoKey(ctx, &kmspb.CreateCryptoKeyRequest{Parent: ring.GetName(), CryptoKeyId: "data", CryptoKey: ck})
	must(t, err)
	return k.GetName()
}

// grant sets the platform's roles on resource to exactly roles, keeping other members' bindings.
func (e *Env) grant(t testing.TB, resource string, roles ...string) {
	t.Helper()
	ctx := context.Background()
	p, err := e.Admin.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: resource})
	must(t, err)
	var kept []*iampb.Binding
	for _, b := range p.GetBindings() {
		b.Members = slices.DeleteFunc(b.Members, func(m string) bool { return m == e.Principal })
		if len(b.Members) > 0 {
			kept = append(kept, b)
		}
	}
	for _, r := range roles {
		kept = append(kept, &iampb.Binding{Role: r, Members: []string{e.Principal}})
	}
	p.Bindings = kept
	_, err = e.Admin.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: resource, Policy: p})
	must(t, err)
}

// verify runs a full verification of key until want holds of it or Settle has passed, and
// returns the last report.
func (e *Env) verify(t testing.TB, key string, steps verify.Steps, want func(verify.Report) bool) verify.Report {
	t.Helper()
	deadline := time.Now().Add(e.Settle)
	for {
		r := e.Provider.Verify(context.Background(), verify.Request{Key: key, Region: e.Location, OrgID: "onboarding", Steps: steps})
		if want(r) || !time.Now().Before(deadline) {
			return r
		}
		time.Sleep(5 * time.Second)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
