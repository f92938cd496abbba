package store_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/domain"
)

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func TestStore_Tokens(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o := f.org(t, domain.ModeProviderManaged)
	var toks []domain.Token
	for i := range 3 {
		tok := domain.Token{ID: domain.NewID("tok"), OrgID: o.ID, Name: fmt.Sprint("t", i), Role: domain.RoleMember, CreatedAt: f.st.Now()}
		if err := f.st.InsertToken(t.Context(), tok, hash(tok.ID)); err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
		f.clock.Advance(time.Second)
	}
	got, err := f.st.TokenByHash(t.Context(), hash(toks[1].ID))
	if err != nil || got != toks[1] {
		t.Fatalf("TokenByHash = %+v, %v; want %+v", got, err, toks[1])
	}
	if err := f.st.RevokeToken(t.Context(), o.ID, toks[1].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.TokenByHash(t.Context(), hash(toks[1].ID)); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("a revoked token authenticates: %v", err)
	}
	if err := f.st.RevokeToken(t.Context(), o.ID, toks[1].ID); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("second revoke: %v, want ErrNotFound", err)
	}
	if err := f.st.RevokeToken(t.Context(), "org_other", toks[0].ID); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("revoke through another org: %v, want ErrNotFound", err)
	}
	pages := allPages(t, 1, func(p domain.Page) ([]domain.Token, string, error) { return f.st.Tokens(t.Context(), o.ID, p) })
	if ids := flat(pages, func(tk domain.Token) string { return tk.ID }); !reflect.DeepEqual(ids, []string{toks[0].ID, toks[2].ID}) {
		t.Fatalf("live tokens %v, want %s and %s", ids, toks[0].ID, toks[2].ID)
	}
	if err := f.st.InsertToken(t.Context(), domain.Token{ID: domain.NewID("tok"), OrgID: o.ID, Name: "dup", Role: domain.RoleMember,
		CreatedAt: f.st.Now()}, hash(toks[0].ID)); err == nil {
		t.Fatal("a second token with the same secret hash was stored")
	}
}
