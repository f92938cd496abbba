package store_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/domain"
)

func TestStore_Events_NewestFirstByType(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o := f.org(t, domain.ModeProviderManaged)
	types := []string{domain.EventOrgCreated, domain.EventTokenCreated, domain.EventTokenCreated, domain.EventTokenRevoked, domain.EventTokenCreated}
	for _, typ := range types {
		if err := f.st.InsertEvent(t.Context(), domain.Event{OrgID: o.ID, Type: typ, Actor: "admin"}); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Second)
	}
	if err := f.st.InsertEvent(t.Context(), domain.Event{OrgID: "org_other", Type: domain.EventOrgCreated}); err != nil {
		t.Fatal(err)
	}
	pages := allPages(t, 2, func(p domain.Page) ([]domain.Event, string, error) { return f.st.Events(t.Context(), o.ID, "", p) })
	evs := flat(pages, func(e domain.Event) domain.Event { return e })
	if len(evs) != 5 || !reflect.DeepEqual(sizes(pages), []int{2, 2, 1}) {
		t.Fatalf("pages %v, want [2 2 1]", sizes(pages))
	}
	for i, e := range evs {
		wantType, wantAt := types[len(types)-1-i], t0.Add(time.Duration(len(types)-1-i)*time.Second)
		if e.Type != wantType || !e.At.Equal(wantAt) || e.ID == "" || e.Actor != "admin" {
			t.Errorf("event %d = %+v, want %s at %v with an id", i, e, wantType, wantAt)
		}
	}
	tokens := allPages(t, 2, func(p domain.Page) ([]domain.Event, string, error) {
		return f.st.Events(t.Context(), o.ID, domain.EventTokenCreated, p)
	})
	if !reflect.DeepEqual(sizes(tokens), []int{2, 1}) {
		t.Errorf("token.created pages %v, want [2 1]", sizes(tokens))
	}
}

// health reads the one key health row of an org.
