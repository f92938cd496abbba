package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/config"
	"github.com/cmekd/cmekd/internal/testing/kmstest"
	"github.com/cmekd/cmekd/internal/testing/testkit"
	"github.com/cmekd/cmekd/internal/version"
)

// env sets every CMEKD_ variable the server reads, so nothing from the caller's environment leaks in.
func env(t *testing.T, vars map[string]string) {
	for _, name := range config.Variables() {
		t.Setenv(name, vars[name])
	}
}

// TestRun_RefusesBadConfigurationNamingTheVariable: the server does not start on a missing or bad
// value, and says which variable is wrong.
func TestRun_RefusesBadConfigurationNamingTheVariable(t *testing.T) {
	good := map[string]string{
		"CMEKD_ADMIN_TOKEN":        "admin-token-for-tests-0123456789abcdef",
		"CMEKD_PLATFORM_PRINCIPAL": "arn:aws:iam::999988887777:root",
		"CMEKD_PROVIDER_KEY_ARN":   "arn:aws:kms:us-east-1:999988887777:key/1234abcd-12ab-34cd-56ef-1234567890ab",
	}
	for _, tc := range []struct{ name, variable, value string }{
		{"missing admin token", "CMEKD_ADMIN_TOKEN", ""},
		{"bad duration", "CMEKD_PROBE_INTERVAL", "every minute"},
		{"cache TTL above 5 minutes", "CMEKD_DEK_CACHE_TTL", "10m"},
		{"alias as provider key", "CMEKD_PROVIDER_KEY_ARN", "arn:aws:kms:us-east-1:999988887777:alias/platform"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]string{}
			for k, v := range good {
				vars[k] = v
			}
			vars[tc.variable] = tc.value
			env(t, vars)
			err := run(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.variable) {
				t.Fatalf("run = %v, want an error naming %s", err, tc.variable)
			}
		})
	}
}

// TestRun_ServesUntilCancelledThenStops starts the real binary's run against a fresh database and the
// emulator, waits until it is ready, and stops it as SIGTERM would.
func TestRun_ServesUntilCancelledThenStops(t *testing.T) {
	kenv := kmstest.StartEmulator(t)
	addr := testkit.FreeAddr(t)
	env(t, map[string]string{
		"CMEKD_ADDR":               addr,
		"CMEKD_DATABASE_URL":       testkit.Database(t),
		"CMEKD_ADMIN_TOKEN":        "admin-token-for-tests-0123456789abcdef",
		"CMEKD_KMS_ENDPOINT":       kenv.Endpoint,
		"CMEKD_PLATFORM_PRINCIPAL": kenv.PlatformPrincipal,
		"CMEKD_PROVIDER_KEY_ARN":   kenv.CreateCustomerKey(t, kenv.Region, kmstest.KeyOptions{}),
	})
	// The platform's credentials, from the standard chain: readiness needs the provider key verified.
	t.Setenv("AWS_ACCESS_KEY_ID", kenv.PlatformAccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("run stopped before it was ready: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the server never became ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	v := version.Get()
	want := fmt.Sprintf(`cmekd_build_info{commit=%q,date=%q,goversion=%q,version=%q} 1`, v.Commit, v.Date, v.GoVersion, v.Version)
	if !strings.Contains(string(metrics), want) {
		t.Errorf("/metrics lacks %s", want)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run after cancel = %v, want a clean stop", err)
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Fatal("the server still answers after it stopped")
	}
}

// TestCLI_HelpAndVersion: cmekd -h lists every variable with its default, and -version answers.
func TestCLI_HelpAndVersion(t *testing.T) {
	var out, errOut strings.Builder
	if code := cli(context.Background(), []string{"-h"}, &out, &errOut); code != 0 {
		t.Fatalf("cmekd -h exited %d: %s", code, errOut.String())
	}
	for _, v := range config.Describe() {
		if !strings.Contains(out.String(), v.Name) {
			t.Errorf("cmekd -h does not list %s", v.Name)
		}
	}
	if !strings.Contains(out.String(), "CMEKD_PROBE_INTERVAL       default 60s") {
		t.Errorf("cmekd -h does not show defaults:\n%s", out.String())
	}
	out.Reset()
	if code := cli(context.Background(), []string{"-version"}, &out, &errOut); code != 0 || out.String() != "cmekd "+version.Get().String()+"\n" {
		t.Fatalf("cmekd -version exited %d with %q", code, out.String())
	}
	if v := version.Get(); !strings.Contains(out.String(), "commit "+v.Commit) || !strings.Contains(out.String(), "built "+v.Date) {
		t.Errorf("cmekd -version lacks the commit or the build date: %q", out.String())
	}
	if code := cli(context.Background(), []string{"-bogus"}, &out, &errOut); code != 2 {
		t.Fatalf("an unknown flag exited %d, want 2", code)
	}
}

// TestRun_DevModeRefusesRegionsWithoutItsKeys: dev mode's keys are in us-west-2; a region list
// without it would start a server whose printed walkthrough answers 422.
func TestRun_DevModeRefusesRegionsWithoutItsKeys(t *testing.T) {
	env(t, map[string]string{"CMEKD_DEV": "1", "CMEKD_REGIONS": "eu-west-1", "CMEKD_ADDR": "127.0.0.1:0",
		"CMEKD_DATABASE_URL": testkit.Database(t)})
	err := run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "CMEKD_REGIONS") {
		t.Fatalf("run = %v, want an error naming CMEKD_REGIONS", err)
	}
}
