package azure_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/provider/azure"
	"github.com/cmekd/cmekd/internal/verify"
)

// TestConformance_RealAzure runs the platform's side of the suite against real Azure Key Vault where
// its standard credentials are present: AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET
// (the environment credential), CMEKD_AZURE_PRINCIPAL (that principal's object id) and
// CMEKD_AZURE_TEST_KEY_ID, a versionless key on which that principal holds the one role cmekd asks
// for. It verifies the key, probes it, and wraps and unwraps a data key; it changes nothing.
func TestConformance_RealAzure(t *testing.T) {
	var missing []string
	for _, v := range []string{"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "CMEKD_AZURE_PRINCIPAL", "CMEKD_AZURE_TEST_KEY_ID"} {
		if os.Getenv(v) == "" {
			missing = append(missing, v)
		}
	}
	if len(missing) > 0 {
		t.Skipf("real Azure Key Vault not configured (set %s); the suite runs against the emulator in this package's other tests", strings.Join(missing, ", "))
	}
	key := os.Getenv("CMEKD_AZURE_TEST_KEY_ID")
	p, err := azure.New(azure.Config{Principal: os.Getenv("CMEKD_AZURE_PRINCIPAL"), Regions: []string{"eastus"}, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	ctx := context.Background()
	for _, steps := range []verify.Steps{verify.Full, verify.Health} {
		if r := p.Verify(ctx, verify.Request{Key: key, OrgID: "conformance", Steps: steps}); !r.OK() {
			t.Fatalf("verification (steps %d) of %s: %+v", steps, key, r.Checks)
		}
	}
	plain, wrapped, err := p.GenerateDataKey(ctx, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	back, err := p.Decrypt(ctx, key, wrapped, nil)
	if err != nil || !bytes.Equal(back, plain) {
		t.Fatalf("unwrap: %v (same bytes: %t)", err, bytes.Equal(back, plain))
	}
}
