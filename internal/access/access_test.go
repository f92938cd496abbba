package access_test

import (
	"testing"

	"github.com/cmekd/cmekd/internal/access"
	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/store"
	"github.com/cmekd/cmekd/internal/testing/testkit"
)

var admin = domain.Principal{Role: domain.RoleAdmin}

const adminToken = "admin-token-for-tests"

type fixture struct {
	st  *store.Store
	svc *access.Service
}

func setup(t *testing.T) *fixture {
	t.Helper()
	st := testkit.OpenStore(t, testkit.Database(t), store.Options{})
	return &fixture{st: st, svc: access.New(st, adminToken, 0)}
}

// org stores a provider-managed organisation for tokens to belong to.
func (f *fixture) org(t *testing.T) domain.Org {
	t.Helper()
	o := domain.Org{ID: domain.NewID("org"), Name: "plain", Region: "us-west-2", Mode: domain.ModeProviderManaged,
		KeyStatus: domain.KeyHealthy, Regions: []string{"us-west-2"}}
	if err := f.st.InsertOrg(t.Context(), o, domain.Event{OrgID: o.ID, Type: domain.EventOrgCreated, Actor: "admin"}); err != nil {
		t.Fatal(err)
	}
	return o
}

// token makes a token of role in the organisation and returns it with its secret.
func (f *fixture) token(t *testing.T, orgID string, role domain.Role) (domain.Token, string) {
	t.Helper()
	tok, secret, err := f.svc.CreateToken(t.Context(), admin, orgID, access.TokenInput{Name: "ci", Role: string(role)})
	if err != nil {
		t.Fatal(err)
	}
	return tok, secret
}

func wantCode(t *testing.T, err error, kind domain.Kind, code string) {
	t.Helper()
	if e, ok := domain.AsError(err); !ok || e.Kind != kind || e.Code != code {
		t.Fatalf("error %v, want kind %d code %s", err, kind, code)
	}
}

func TestAccess_TokensAuthenticateUntilRevoked(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o := f.org(t)
	tok, secret := f.token(t, o.ID, domain.RoleOperator)
	p, err := f.svc.Authenticate(t.Context(), secret)
	if err != nil || p != (domain.Principal{Role: domain.RoleOperator, OrgID: o.ID, TokenID: tok.ID}) {
		t.Fatalf("Authenticate = %+v, %v", p, err)
	}
	if p, err := f.svc.Authenticate(t.Context(), adminToken); err != nil || p.Role != domain.RoleAdmin {
		t.Fatalf("admin token: %+v, %v", p, err)
	}
	if err := f.svc.RevokeToken(t.Context(), admin, o.ID, tok.ID); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{secret, "", "cmekd_forged", adminToken + "x"} {
		_, err := f.svc.Authenticate(t.Context(), s)
		wantCode(t, err, domain.KindUnauthenticated, domain.CodeUnauthorized)
	}
	_, _, err = f.svc.CreateToken(t.Context(), admin, o.ID, access.TokenInput{Name: "x", Role: "superuser"})
	wantCode(t, err, domain.KindInvalid, domain.CodeInvalidRequest)
	if got := testkit.EventTypes(t, f.st.Events, o.ID); len(got) != 3 || got[0] != domain.EventTokenRevoked || got[1] != domain.EventTokenCreated {
		t.Fatalf("events %v", got)
	}
}

// A provisional answer comes from the cache only for an organisation token resolved before, and is
// marked unchecked; once Authenticate has found the token revoked, the cache no longer holds it.
func TestAccess_ProvisionalAnswersOnlyForTokensResolvedBefore(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o := f.org(t)
	tok, secret := f.token(t, o.ID, domain.RoleMember)
	want := domain.Principal{Role: domain.RoleMember, OrgID: o.ID, TokenID: tok.ID}
	for i, wantChecked := range []bool{true, false, false} {
		if p, checked, err := f.svc.AuthenticateProvisionally(t.Context(), secret); err != nil || p != want || checked != wantChecked {
			t.Fatalf("call %d: %+v checked %v, %v", i, p, checked, err)
		}
	}
	for range 2 { // the admin's token is never kept
		if p, checked, err := f.svc.AuthenticateProvisionally(t.Context(), adminToken); err != nil || p.Role != domain.RoleAdmin || !checked {
			t.Fatalf("admin: %+v checked %v, %v", p, checked, err)
		}
	}
	if err := f.svc.RevokeToken(t.Context(), admin, o.ID, tok.ID); err != nil {
		t.Fatal(err)
	}
	_, err := f.svc.Authenticate(t.Context(), secret)
	wantCode(t, err, domain.KindUnauthenticated, domain.CodeUnauthorized)
	_, checked, err := f.svc.AuthenticateProvisionally(t.Context(), secret)
	wantCode(t, err, domain.KindUnauthenticated, domain.CodeUnauthorized)
	if !checked {
		t.Fatal("a revoked token was answered from the cache")
	}
}
