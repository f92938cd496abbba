package kms_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/clock"
	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/kms"
	"github.com/cmekd/cmekd/internal/testing/kmstest"
)

// dataOperations are the operations of a cmekd grant.
var dataOperations = []string{"Encrypt", "Decrypt", "GenerateDataKey", "ReEncryptFrom", "ReEncryptTo", "DescribeKey"}

// grantPolicy lets the key's owner administer the key and the control identity describe it and
// create grants for the data identity only.
func grantPolicy(env *kmstest.Env) string {
	b, _ := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{
			map[string]any{"Sid": "Owner", "Effect": "Allow", "Principal": map[string]any{"AWS": "arn:aws:iam::" + env.Account + ":root"},
				"Action": "kms:*", "Resource": "*"},
			map[string]any{"Sid": "Control", "Effect": "Allow", "Principal": map[string]any{"AWS": kmstest.ControlPrincipal},
				"Action": "kms:DescribeKey", "Resource": "*"},
			map[string]any{"Sid": "Grants", "Effect": "Allow", "Principal": map[string]any{"AWS": kmstest.ControlPrincipal},
				"Action": "kms:CreateGrant", "Resource": "*", "Condition": map[string]any{
					"StringEquals":              map[string]any{"kms:GranteePrincipal": kmstest.DataPrincipal},
					"ForAllValues:StringEquals": map[string]any{"kms:GrantOperations": dataOperations}}},
		},
	})
	return string(b)
}

// tokenRecorder notes the GrantTokens of every request, by operation.
type tokenRecorder struct {
	mu     sync.Mutex
	tokens map[string][][]string
}

func (r *tokenRecorder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		var in struct{ GrantTokens []string }
		_ = json.Unmarshal(body, &in)
		op := strings.TrimPrefix(req.Header.Get("X-Amz-Target"), "TrentService.")
		r.mu.Lock()
		if r.tokens == nil {
			r.tokens = map[string][][]string{}
		}
		r.tokens[op] = append(r.tokens[op], in.GrantTokens)
		r.mu.Unlock()
		next.ServeHTTP(w, req)
	})
}

func (r *tokenRecorder) last(op string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.tokens[op]
	if len(l) == 0 {
		return nil
	}
	return l[len(l)-1]
}

// TestClient_GrantLifecycle: the control identity attaches a constrained grant to the data identity,
// which then uses the key with the grant's token, within the constraint only; the control identity
// retires the grant, and a grant already gone counts as retired.
func TestClient_GrantLifecycle(t *testing.T) {
	t.Parallel()
	rec := &tokenRecorder{}
	env := kmstest.StartEmulatorBehind(t, rec.wrap)
	key := env.CreateCustomerKey(t, env.Region, kmstest.KeyOptions{Policy: grantPolicy(env)})
	control, data := env.ClientAs(t, kmstest.ControlAccessKey), env.ClientAs(t, kmstest.DataAccessKey)
	ctx := context.Background()
	orgCtx := map[string]string{"cmekd:org": "org_a"}

	_, _, err := control.GenerateDataKey(ctx, key, orgCtx)
	wantCode(t, err, domain.CodeAccessDenied, "kms:GenerateDataKey")
	_, _, err = data.GenerateDataKey(ctx, key, orgCtx)
	wantCode(t, err, domain.CodeAccessDenied, "kms:GenerateDataKey")

	req := kms.GrantRequest{Name: "cmekd-org_a-us-east-1-data", Grantee: kmstest.DataPrincipal, Retiring: kmstest.ControlPrincipal,
		Operations: dataOperations, ContextSubset: map[string]string{"cmekd:org": "org_a"}}
	// The control identity may grant only the data identity, and only the data operations.
	other := req
	other.Grantee = kmstest.ControlPrincipal
	_, err = control.CreateGrant(ctx, key, other)
	wantCode(t, err, domain.CodeAccessDenied, "kms:CreateGrant")
	more := req
	more.Operations = append(slices.Clone(dataOperations), "CreateGrant")
	_, err = control.CreateGrant(ctx, key, more)
	wantCode(t, err, domain.CodeAccessDenied, "kms:CreateGrant")

	g, err := control.CreateGrant(ctx, key, req)
	if err != nil || g.ID == "" || g.Token == "" {
		t.Fatalf("CreateGrant = %+v, %v", g, err)
	}
	again, err := control.CreateGrant(ctx, key, req)
	if err != nil || again.ID != g.ID {
		t.Fatalf("a named grant again is the same grant: %+v %v", again, err)
	}
	data.AddGrantToken(key, g.ID, g.Token)

	plain, wrapped, err := data.GenerateDataKey(ctx, key, orgCtx)
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.last("GenerateDataKey"); !slices.Equal(got, []string{g.Token}) {
		t.Errorf("GenerateDataKey sent grant tokens %v, want the new grant's", got)
	}
	got, err := data.Decrypt(ctx, key, wrapped, orgCtx)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Decrypt through the grant: %v", err)
	}
	if _, err := data.ReEncrypt(ctx, key, wrapped, orgCtx, key, orgCtx); err != nil {
		t.Fatalf("ReEncrypt through the grant: %v", err)
	}
	if got := rec.last("ReEncrypt"); !slices.Equal(got, []string{g.Token}) {
		t.Errorf("ReEncrypt sent grant tokens %v, want one copy of the new grant's", got)
	}
	if _, err := data.Encrypt(ctx, key, []byte("canary"), orgCtx); err != nil {
		t.Fatalf("Encrypt through the grant: %v", err)
	}
	if _, err := data.DescribeKey(ctx, key); err != nil {
		t.Fatalf("DescribeKey through the grant: %v", err)
	}
	// The constraint: another organisation's context is refused, and so is the control identity.
	_, err = data.Decrypt(ctx, key, wrapped, map[string]string{"cmekd:org": "org_b"})
	wantCode(t, err, domain.CodeAccessDenied, "kms:Decrypt")
	_, _, err = data.GenerateDataKey(ctx, key, map[string]string{"cmekd:org": "org_b"})
	wantCode(t, err, domain.CodeAccessDenied, "kms:GenerateDataKey")
	_, err = control.Decrypt(ctx, key, wrapped, orgCtx)
	wantCode(t, err, domain.CodeAccessDenied, "kms:Decrypt")

	list, err := env.ClientAs(t, env.CustomerAccessKey).ListGrants(ctx, key)
	if err != nil || len(list) != 1 {
		t.Fatalf("ListGrants = %+v, %v", list, err)
	}
	e := list[0]
	if e.ID != g.ID || e.Name != req.Name || e.Grantee != kmstest.DataPrincipal || e.Retiring != kmstest.ControlPrincipal ||
		e.ContextSubset["cmekd:org"] != "org_a" || len(e.Operations) != len(dataOperations) || e.CreatedAt.IsZero() {
		t.Errorf("grant entry %+v", e)
	}

	gone, err := control.RetireGrant(ctx, key, g.ID)
	if err != nil || gone {
		t.Fatalf("RetireGrant = %v, %v", gone, err)
	}
	_, _, err = data.GenerateDataKey(ctx, key, orgCtx)
	wantCode(t, err, domain.CodeAccessDenied, "kms:GenerateDataKey")
	if gone, err := control.RetireGrant(ctx, key, g.ID); err != nil || !gone {
		t.Fatalf("retiring a retired grant = %v, %v; want gone", gone, err)
	}

	// The customer revokes; a revoked grant is gone too.
	g2, err := control.CreateGrant(ctx, key, req)
	if err != nil {
		t.Fatal(err)
	}
	customer := env.ClientAs(t, env.CustomerAccessKey)
	if gone, err := customer.RevokeGrant(ctx, key, g2.ID); err != nil || gone {
		t.Fatalf("RevokeGrant = %v, %v", gone, err)
	}
	if gone, err := control.RetireGrant(ctx, key, g2.ID); err != nil || !gone {
		t.Fatalf("retiring a revoked grant = %v, %v; want gone", gone, err)
	}
	// The control identity has no RevokeGrant right.
	g3, err := control.CreateGrant(ctx, key, req)
	if err != nil {
		t.Fatal(err)
	}
	_, err = control.RevokeGrant(ctx, key, g3.ID)
	wantCode(t, err, domain.CodeAccessDenied, "kms:RevokeGrant")
}

// TestClient_CredentialsFromASharedConfigProfile: the data identity's credentials come from a named
// profile of the shared AWS config files, not the standard chain's default.
func TestClient_CredentialsFromASharedConfigProfile(t *testing.T) {
	t.Parallel()
	env := kmstest.StartEmulator(t)
	dir := t.TempDir()
	cfgFile, credFile := filepath.Join(dir, "config"), filepath.Join(dir, "credentials")
	write := func(path, text string) {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(cfgFile, "[default]\nregion = us-east-1\n\n[profile cmekd-data]\nregion = us-east-1\n")
	write(credFile, "[default]\naws_access_key_id = "+kmstest.ControlAccessKey+"\naws_secret_access_key = x\n\n"+
		"[cmekd-data]\naws_access_key_id = "+kmstest.DataAccessKey+"\naws_secret_access_key = x\n")
	key := env.CreateCustomerKey(t, env.Region, kmstest.KeyOptions{Policy: grantPolicy(env)})
	control := env.ClientAs(t, kmstest.ControlAccessKey)
	g, err := control.CreateGrant(context.Background(), key, kms.GrantRequest{Name: "profile-test", Grantee: kmstest.DataPrincipal,
		Retiring: kmstest.ControlPrincipal, Operations: dataOperations, ContextSubset: map[string]string{"cmekd:org": "org_p"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		profile string
		allowed bool
	}{{"cmekd-data", true}, {"", false}} {
		c, err := kms.New(context.Background(), kms.Config{Endpoint: env.Endpoint, Profile: tc.profile,
			SharedConfigFiles: []string{cfgFile}, SharedCredentialsFiles: []string{credFile}})
		if err != nil {
			t.Fatal(err)
		}
		c.AddGrantToken(key, g.ID, g.Token)
		_, err = c.Encrypt(context.Background(), key, []byte("x"), map[string]string{"cmekd:org": "org_p"})
		if tc.allowed && err != nil {
			t.Errorf("profile %q: %v", tc.profile, err)
		}
		if !tc.allowed {
			wantCode(t, err, domain.CodeAccessDenied, "kms:Encrypt")
		}
	}
	if _, err := kms.New(context.Background(), kms.Config{Endpoint: env.Endpoint, Profile: "no-such-profile",
		SharedConfigFiles: []string{cfgFile}, SharedCredentialsFiles: []string{credFile}}); err == nil {
		t.Error("a missing profile was accepted")
	}
}

// TestClient_GrantTokensExpire: a token is sent for kms.GrantTokenTTL after its grant was made, then
// no more; one of a grant made long ago is not taken at all.
func TestClient_GrantTokensExpire(t *testing.T) {
	t.Parallel()
	rec := &tokenRecorder{}
	env := kmstest.StartEmulatorBehind(t, rec.wrap)
	key := env.CreateCustomerKey(t, env.Region, kmstest.KeyOptions{Policy: grantPolicy(env)})
	now := time.Now()
	c := env.ClientWith(t, kmstest.ControlAccessKey, kms.Config{Clock: clock.Func(func() time.Time { return now })})
	g, err := c.CreateGrant(context.Background(), key, kms.GrantRequest{Name: "ttl", Grantee: kmstest.DataPrincipal,
		Retiring: kmstest.ControlPrincipal, Operations: dataOperations})
	if err != nil {
		t.Fatal(err)
	}
	describe := func() []string {
		t.Helper()
		if _, err := c.DescribeKey(context.Background(), key); err != nil {
			t.Fatal(err)
		}
		return rec.last("DescribeKey")
	}
	c.AddGrantTokenOf(key, g.ID, g.Token, now.Add(-kms.GrantTokenTTL))
	if got := describe(); len(got) != 0 {
		t.Fatalf("an expired grant's token was sent: %v", got)
	}
	c.AddGrantTokenOf(key, g.ID, g.Token, now.Add(-time.Minute))
	if got := describe(); !slices.Equal(got, []string{g.Token}) {
		t.Fatalf("tokens %v, want the grant's", got)
	}
	now = now.Add(kms.GrantTokenTTL)
	if got := describe(); len(got) != 0 {
		t.Fatalf("a token was sent after its time: %v", got)
	}
}
