package secrets

import (
	"testing"

	"github.com/cmekd/cmekd/internal/domain"
)

func TestItemID_BindsKeyAndVersionOneWay(t *testing.T) {
	t.Parallel()
	seen := map[string]string{}
	for _, tc := range []struct {
		key     string
		version int
	}{
		{"a", 1}, {"a", 11}, {"a1", 1}, {"a", 2}, {"a.1", 1}, {"a", 10}, {"a1", 0},
	} {
		id := itemID(tc.key, tc.version)
		if other, dup := seen[id]; dup {
			t.Errorf("%q v%d and %s share item id %q", tc.key, tc.version, other, id)
		}
		seen[id] = tc.key
	}
}

func TestHolderAndValidPrincipal(t *testing.T) {
	t.Parallel()
	tok := domain.NewID("tok")
	for _, tc := range []struct {
		p    domain.Principal
		want string
	}{
		{domain.Principal{Role: domain.RoleAdmin}, "admin"},
		{domain.Principal{Role: domain.RoleMember, TokenID: tok}, tok},
		{domain.Principal{Role: domain.RoleWorkspace, TokenID: tok, Workspace: "prod"}, "workspace:prod"},
	} {
		if got := holder(tc.p); got != tc.want || !validPrincipal(got) {
			t.Errorf("holder(%+v) = %q (valid %v), want %q", tc.p, got, validPrincipal(got), tc.want)
		}
	}
	for _, bad := range []string{"", "tok_", "tok_short", "workspace:", "workspace:../x", "Admin", "everyone", "tok_0000000000000000\x00"} {
		if validPrincipal(bad) {
			t.Errorf("validPrincipal(%q) = true", bad)
		}
	}
}

func TestNeeds_IsTheSeedsTable(t *testing.T) {
	t.Parallel()
	// Who may act, by role, as the seed's table says: manager ⊇ writer ⊇ reader.
	for a, want := range map[act][]domain.ScopeRole{
		actView:      {domain.ScopeManager, domain.ScopeWriter, domain.ScopeReader},
		actEditRoles: {domain.ScopeManager},
		actDelete:    {domain.ScopeManager},
		actWrite:     {domain.ScopeManager, domain.ScopeWriter},
		actRead:      {domain.ScopeManager, domain.ScopeWriter, domain.ScopeReader},
	} {
		for _, r := range []domain.ScopeRole{domain.ScopeManager, domain.ScopeWriter, domain.ScopeReader, ""} {
			allowed := false
			for _, w := range want {
				allowed = allowed || w == r
			}
			if r.AtLeast(needs[a]) != allowed {
				t.Errorf("act %d as %q: allowed %v, want %v", a, r, !allowed, allowed)
			}
		}
	}
}
