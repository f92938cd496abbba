package kmstest

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/kms"
)

// lacking fronts the emulator as a KMS without multi-region keys, grants and HMAC keys would:
// those requests answer as such a KMS answers them.
func lacking(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		target := r.Header.Get("X-Amz-Target")
		refuse := func(typ string) {
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"__type":"`+typ+`","message":"not here"}`)
		}
		switch {
		case target == "TrentService.CreateKey" && bytes.Contains(body, []byte(`"MultiRegion":true`)):
			refuse("UnsupportedOperationException")
		case target == "TrentService.CreateKey" && bytes.Contains(body, []byte(`HMAC_256`)):
			refuse("ValidationException")
		case strings.HasSuffix(target, "Grant") || strings.HasSuffix(target, "Grants"):
			refuse("UnknownOperationException")
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func TestConformance_SkipsWhatTheTargetLacksNamingIt(t *testing.T) {
	t.Parallel()
	env := startEmulator(t, lacking, 0)
	start := time.Now()
	caps := env.capabilities(t)
	for _, c := range []struct{ reason, want string }{
		{caps.multiRegion, "cannot create multi-region keys (CreateKey with MultiRegion: UnsupportedOperationException"},
		{caps.grants, "has no grant API (ListGrants: UnknownOperationException"},
		{caps.keySpecs[specUsage{"HMAC_256", "GENERATE_VERIFY_MAC"}].reason, "cannot create HMAC_256/GENERATE_VERIFY_MAC keys (ValidationException"},
		{caps.policies, ""},
	} {
		if !strings.Contains(c.reason, c.want) || (c.want == "") != (c.reason == "") {
			t.Errorf("reason %q, want one naming %q", c.reason, c.want)
		}
	}
	if probe := caps.keySpecs[specUsage{"RSA_2048", "SIGN_VERIFY"}]; probe.reason != "" || probe.keyARN == "" {
		t.Errorf("RSA_2048/SIGN_VERIFY probe = %+v, want a key", probe)
	}
	// The suite passes, skipping what needs the missing capabilities, and fails nothing else.
	if !t.Run("suite", func(t *testing.T) { RunConformance(t, env) }) {
		t.Error("the suite failed on a target that only lacks capabilities")
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("the suite took %s: something waited", d)
	}
}

// TestEventuallyChecks_OnlyTheStateBeforeTheChangeIsRetried: eventually retries errNotYet alone,
// and fails at once on anything else.
func TestEventuallyChecks_OnlyTheStateBeforeTheChangeIsRetried(t *testing.T) {
	t.Parallel()
	disabled := &kms.Error{Code: domain.CodeKeyDisabled, Action: "kms:Decrypt"}
	denied := &kms.Error{Code: domain.CodeAccessDenied, Action: "kms:Decrypt"}
	for _, tc := range []struct {
		name         string
		err          error
		wantNil      bool
		wantRetried  bool
		checkBecomes bool
	}{
		{"becomes: still succeeds", nil, false, true, true},
		{"becomes: the awaited code", disabled, true, false, true},
		{"becomes: another code", denied, false, false, true},
		{"stillCode: still the old code", disabled, false, true, false},
		{"stillCode: succeeds", nil, true, false, false},
		{"stillCode: another code", denied, false, false, false},
	} {
		check := stillCode
		if tc.checkBecomes {
			check = becomes
		}
		got := check(tc.err, domain.CodeKeyDisabled, "kms:Decrypt")
		if (got == nil) != tc.wantNil || errors.Is(got, errNotYet) != tc.wantRetried {
			t.Errorf("%s: %v; want nil %v, retried %v", tc.name, got, tc.wantNil, tc.wantRetried)
		}
	}
	calls := 0
	(&Env{persistent: true}).eventually(t, "a change that takes three checks", func() error {
		calls++
		if calls < 3 {
			return notYet(io.EOF)
		}
		return nil
	})
}
