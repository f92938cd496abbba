package provider_test

import (
	"context"
	"crypto/x509"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/keyarn"
	"github.com/cmekd/cmekd/internal/provider"
	awsprovider "github.com/cmekd/cmekd/internal/provider/aws"
	"github.com/cmekd/cmekd/internal/provider/azure"
	"github.com/cmekd/cmekd/internal/provider/gcp"
	"github.com/cmekd/cmekd/internal/testing/cloudtest"
	"github.com/cmekd/cmekd/internal/testing/kmstest"
	"github.com/cmekd/cmekd/internal/verify"
)

// pool trusts the CA in file.
func pool(b *testing.B, file string) *x509.CertPool {
	b.Helper()
	pem, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(pem)
	return p
}

// benchProviders are the three providers, each against its emulator, with a key that admits the
// platform exactly as the provider's access says.
func benchProviders(b *testing.B) []struct {
	p     provider.Provider
	key   string
	state string
} {
	ctx := context.Background()
	kenv := kmstest.StartEmulator(b)
	rules := keyarn.Rules{Regions: []string{kenv.Region}}
	client := kenv.PlatformClient(b)
	aws := awsprovider.New(awsprovider.Config{Data: client, Verifier: verify.New(client, rules, verify.Options{}), Rules: rules,
		PlatformPrincipal: kenv.PlatformPrincipal})

	g := cloudtest.StartGCP(b)
	gp, err := gcp.New(ctx, gcp.Config{Endpoint: g.Addr, CredentialsFile: g.PlatformKeyFile, RootCAs: pool(b, g.CAFile),
		Principal: g.Platform, Regions: []string{"us-central1"}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = gp.Close() })
	gkey := g.Key(b, "us-central1", "ring", "data")
	access, err := gp.Access(gkey, "json")
	if err != nil {
		b.Fatal(err)
	}
	g.SetBindings(b, gkey, access)

	a := cloudtest.StartAzure(b)
	ap, err := azure.New(azure.Config{Endpoint: a.Endpoint, RootCAs: pool(b, a.CAFile), Principal: a.Platform.ObjectID,
		Regions: []string{"eastus"}, ClientSecret: &azure.ClientSecret{TenantID: a.Platform.TenantID, ClientID: a.Platform.ClientID,
			Secret: a.Platform.ClientSecret}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(ap.Close)
	akey := a.Key(b, "data")
	access, err = ap.Access(akey, "json")
	if err != nil {
		b.Fatal(err)
	}
	a.Assign(b, access)
	return []struct {
		p     provider.Provider
		key   string
		state string
	}{
		{aws, kenv.CreateCustomerKey(b, kenv.Region, kmstest.KeyOptions{}), kenv.Region},
		{gp, gkey, "us-central1"},
		{ap, akey, "eastus"},
	}
}

// BenchmarkProviders is the cost of one full verification (onboarding, key checks) and one probe of
// the monitor for each provider, against the emulator over its real wire (HTTP for AWS, gRPC over
// TLS for Google Cloud, HTTPS for Azure) through the official SDKs. The providers take turns in
// one loop, each iteration starting with the next one, so that all three meet the same machine:
// <provider>_ms is one operation's time and <provider>_cpu_ms the process's CPU time during it
// (client, emulator and TLS alike), and x_aws and x_aws_cpu their ratios to AWS's.
func BenchmarkProviders(b *testing.B) {
	ps := benchProviders(b)
	for _, steps := range []struct {
		name  string
		steps verify.Steps
	}{{"verify", verify.Full}, {"probe", verify.Health}} {
		b.Run(steps.name, func(b *testing.B) {
			wall, cpu := make([]time.Duration, len(ps)), make([]time.Duration, len(ps))
			turn := 0
			for b.Loop() {
				for j := range ps {
					i := (turn + j) % len(ps)
					x := ps[i]
					req := verify.Request{Key: x.key, Region: x.state, OrgID: "org_bench", Steps: steps.steps}
					start, cpu0 := time.Now(), processCPU(b)
					if r := x.p.Verify(context.Background(), req); !r.OK() {
						b.Fatalf("%s: %+v", x.p.Name(), r.Checks)
					}
					wall[i] += time.Since(start)
					cpu[i] += processCPU(b) - cpu0
				}
				turn++
			}
			perOp := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
			for i, x := range ps {
				b.ReportMetric(perOp(wall[i]), x.p.Name()+"_ms")
				b.ReportMetric(perOp(cpu[i]), x.p.Name()+"_cpu_ms")
				if i > 0 {
					b.ReportMetric(float64(wall[i])/float64(wall[0]), x.p.Name()+"_x_aws")
					b.ReportMetric(float64(cpu[i])/float64(cpu[0]), x.p.Name()+"_x_aws_cpu")
				}
			}
		})
	}
}

// processCPU is the CPU time the process has used, user and system.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
