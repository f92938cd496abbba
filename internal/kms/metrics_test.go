package kms_test

import (
	"maps"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cmekd/cmekd/internal/kms"
	"github.com/cmekd/cmekd/internal/testing/kmstest"
)

// series maps "operation/outcome" to a value of one metric family.
type series map[string]float64

// gather reads the request counter and the number of observed durations from reg.
func gather(t *testing.T, reg *prometheus.Registry) (requests, durations series) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	requests, durations = series{}, series{}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			key := labels["operation"] + "/" + labels["outcome"]
			switch mf.GetName() {
			case "cmekd_kms_requests_total":
				requests[key] = m.GetCounter().GetValue()
			case "cmekd_kms_request_duration_seconds":
				durations[key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return requests, durations
}

func TestClient_CountsCallsByOperationAndOutcome(t *testing.T) {
	t.Parallel()
	env := kmstest.StartEmulator(t)
	reg := prometheus.NewRegistry()
	// Two clients on one registry share the series instead of failing to register.
	first := env.ClientWith(t, env.PlatformAccessKey, kms.Config{Registerer: reg})
	second := env.ClientWith(t, env.PlatformAccessKey, kms.Config{Registerer: reg})
	keyARN := env.CreateCustomerKey(t, env.Region, kmstest.KeyOptions{})
	ctx := t.Context()

	for _, c := range []*kms.Client{first, second} {
		if _, _, err := c.GenerateDataKey(ctx, keyARN, encCtx); err != nil {
			t.Fatal(err)
		}
	}
	_, wrapped, err := first.GenerateDataKey(ctx, keyARN, encCtx)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = second.Decrypt(ctx, keyARN, wrapped, map[string]string{"cmekd:org": "org_other"})
	_, _ = first.DescribeKey(ctx, env.CreateCustomerKey(t, env.Region, kmstest.KeyOptions{DefaultPolicy: true}))
	_, _ = first.Encrypt(ctx, "alias/not-an-arn", []byte("x"), encCtx)

	requests, durations := gather(t, reg)
	want := series{
		"GenerateDataKey/ok":         3,
		"Decrypt/invalid_ciphertext": 1,
		"DescribeKey/access_denied":  1,
		"Encrypt/invalid_key_arn":    1,
	}
	if !maps.Equal(requests, want) {
		t.Errorf("cmekd_kms_requests_total = %v, want %v", requests, want)
	}
	if !maps.Equal(durations, want) {
		t.Errorf("cmekd_kms_request_duration_seconds counts = %v, want %v", durations, want)
	}
}

func TestNew_FailsOnConflictingMetric(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "cmekd_kms_requests_total", Help: "other"}))
	_, err := kms.New(t.Context(), kms.Config{
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", ""),
		Registerer:  reg,
	})
	if err == nil {
		t.Error("New registered its metrics over a different metric of the same name")
	}
}
