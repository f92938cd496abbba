package store_test

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/store"
)

func (f *fixture) health(t *testing.T, orgID string) domain.KeyHealth {
	t.Helper()
	hs, err := f.st.KeyHealth(t.Context(), orgID)
	if err != nil || len(hs) != 1 {
		t.Fatalf("KeyHealth = %+v, %v", hs, err)
	}
	return hs[0]
}

func TestStore_KeyHealth_NewLinkIsHealthyAndDue(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o := f.org(t, domain.ModeCustomerManaged)
	h := f.health(t, o.ID)
	if h.Status != domain.KeyHealthy || h.KeyARN != o.KeyARN || !h.NextProbeAt.Equal(t0) || h.LastOKAt == nil ||
		!h.LastOKAt.Equal(t0) || h.UnavailableSince != nil || h.LastError != nil {
		t.Fatalf("new key health %+v", h)
	}
	p := f.org(t, domain.ModeProviderManaged)
	if hs, err := f.st.KeyHealth(t.Context(), p.ID); err != nil || len(hs) != 0 {
		t.Fatalf("provider-managed key health %+v, %v; want none", hs, err)
	}
	f.inTx(t, func(tx *store.Q) error {
		if _, linked, err := tx.ShareKeyHealth(t.Context(), p.ID, region, domain.PurposeData); err != nil || linked {
			return fmt.Errorf("ShareKeyHealth of a provider-managed org: linked %t, %v", linked, err)
		}
		if got, linked, err := tx.ShareKeyHealth(t.Context(), o.ID, region, domain.PurposeData); err != nil || !linked || got.KeyARN != o.KeyARN {
			return fmt.Errorf("ShareKeyHealth = %+v, %t, %v", got, linked, err)
		}
		if _, err := tx.LockKeyHealth(t.Context(), p.ID, region, domain.PurposeData); !errors.Is(err, domain.ErrNotFound) {
			return fmt.Errorf("LockKeyHealth of a provider-managed org: %v, want ErrNotFound", err)
		}
		got, err := tx.LockKeyHealth(t.Context(), o.ID, region, domain.PurposeData)
		if err != nil || got.KeyARN != o.KeyARN {
			return fmt.Errorf("LockKeyHealth = %+v, %v", got, err)
		}
		return nil
	})
}

func TestStore_SaveKeyHealth_WritesEveryField(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o := f.org(t, domain.ModeCustomerManaged)
	probe, since := t0.Add(time.Minute), t0.Add(30*time.Second)
	// The time since the key's last probe (its link's) is recorded with the new one.
	achieved := probe.Sub(*f.health(t, o.ID).LastProbeAt)
	want := domain.KeyHealth{OrgID: o.ID, Region: region, Purpose: domain.PurposeData, KeyARN: o.KeyARN, Status: domain.KeyUnavailable,
		LastProbeAt: &probe, LastOKAt: &since, UnavailableSince: &since,
		LastError:   &domain.ProbeError{Code: domain.CodeAccessDenied, Action: "kms:Decrypt", Message: "denied"},
		NextProbeAt: t0.Add(2 * time.Minute), AchievedInterval: &achieved}
	if err := f.st.SaveKeyHealth(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	if got := f.health(t, o.ID); !reflect.DeepEqual(got, want) {
		t.Fatalf("KeyHealth = %+v, want %+v", got, want)
	}
	// Saved again with the same probe time, it keeps the interval it recorded.
	want.Status, want.LastError, want.UnavailableSince = domain.KeyHealthy, nil, nil
	if err := f.st.SaveKeyHealth(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	if got := f.health(t, o.ID); !reflect.DeepEqual(got, want) {
		t.Fatalf("after recovery KeyHealth = %+v, want %+v", got, want)
	}
}

// TestStore_ClaimDueFrom_StartsWhereTheLastBatchWasDue: keys due before from are left for another
// sweep; those due at from or later (and by now) are claimed, earliest first, each with when it was
// due.
func TestStore_ClaimDueFrom_StartsWhereTheLastBatchWasDue(t *testing.T) {
	t.Parallel()
	f := setup(t)
	var orgs []domain.Org
	for i := range 4 {
		o := f.org(t, domain.ModeCustomerManaged)
		h := f.health(t, o.ID)
		h.NextProbeAt = t0.Add(time.Duration(i-3) * time.Minute) // due 3, 2, 1 and 0 minutes before t0
		if err := f.st.SaveKeyHealth(t.Context(), h); err != nil {
			t.Fatal(err)
		}
		orgs = append(orgs, o)
	}
	due, err := f.st.ClaimDueFrom(t.Context(), "r1", t0, t0.Add(-2*time.Minute), time.Minute, 2)
	if err != nil || len(due) != 2 || due[0].OrgID != orgs[1].ID || due[1].OrgID != orgs[2].ID ||
		!due[0].Due.Equal(t0.Add(-2*time.Minute)) || !due[1].Due.Equal(t0.Add(-time.Minute)) {
		t.Fatalf("ClaimDueFrom = %+v, %v; want the keys due 2 and 1 minutes before", due, err)
	}
	due, err = f.st.ClaimDueFrom(t.Context(), "r1", t0, due[1].Due, time.Minute, 2)
	if err != nil || len(due) != 1 || due[0].OrgID != orgs[3].ID {
		t.Fatalf("the next claim = %+v, %v; want the key due at t0 only", due, err)
	}
	if due, err := f.st.ClaimDue(t.Context(), "r2", t0, time.Minute, 10); err != nil || len(due) != 1 || due[0].OrgID != orgs[0].ID {
		t.Fatalf("ClaimDue = %+v, %v; want the key left before from", due, err)
	}
}

func TestStore_ClaimDue_LeasesKeys(t *testing.T) {
	t.Parallel()
	f := setup(t)
	a, b := f.org(t, domain.ModeCustomerManaged), f.org(t, domain.ModeCustomerManaged)
	later := f.health(t, b.ID)
	later.NextProbeAt = t0.Add(time.Hour)
	if err := f.st.SaveKeyHealth(t.Context(), later); err != nil {
		t.Fatal(err)
	}
	claim := func(owner string, now time.Time, limit int) []store.Due {
		t.Helper()
		due, err := f.st.ClaimDue(t.Context(), owner, now, time.Minute, limit)
		if err != nil {
			t.Fatal(err)
		}
		for i := range due {
			if due[i].Row == (store.RowVersion{}) {
				t.Errorf("the claim of %s names no row version", due[i].OrgID)
			}
			due[i].Row, due[i].Due = store.RowVersion{}, time.Time{} // where the row is, is the database's business
		}
		return due
	}
	holds := func(owner string, now time.Time) bool {
		t.Helper()
		var ok bool
		err := f.st.InTx(t.Context(), func(tx *store.Q) (err error) {
			ok, err = tx.HoldsLease(t.Context(), a.ID, region, domain.PurposeData, owner, now)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	want := []store.Due{{OrgID: a.ID, Region: region, Purpose: domain.PurposeData, KeyARN: a.KeyARN}}
	if got := claim("r1", t0, 10); !reflect.DeepEqual(got, want) {
		t.Fatalf("r1 claims %+v, want %+v (b is not due)", got, want)
	}
	if got := claim("r2", t0.Add(59*time.Second), 10); len(got) != 0 {
		t.Fatalf("r2 claims %+v under r1's live lease", got)
	}
	if !holds("r1", t0.Add(59*time.Second)) || holds("r2", t0) || holds("r1", t0.Add(time.Minute)) {
		t.Fatal("HoldsLease: want r1 only, until its lease ends")
	}
	if got := claim("r2", t0.Add(time.Minute), 10); !reflect.DeepEqual(got, want) {
		t.Fatalf("r2 claims %+v after r1's lease ended, want %+v", got, want)
	}
	// A saved result releases the lease: a due key is claimable at once.
	h := f.health(t, a.ID)
	h.NextProbeAt = t0.Add(time.Minute)
	if err := f.st.SaveKeyHealth(t.Context(), h); err != nil {
		t.Fatal(err)
	}
	if holds("r2", t0.Add(time.Minute)) {
		t.Fatal("r2 still holds the lease after SaveKeyHealth")
	}
	if got := claim("r3", t0.Add(time.Minute), 10); !reflect.DeepEqual(got, want) {
		t.Fatalf("r3 claims %+v after the save, want %+v", got, want)
	}
	// The limit caps a claim, earliest due first.
	if got := claim("r4", t0.Add(3*time.Hour), 1); len(got) != 1 || got[0].OrgID != a.ID {
		t.Fatalf("r4 claims %+v with limit 1, want a (due first)", got)
	}
	var unknown bool
	err := f.st.InTx(t.Context(), func(tx *store.Q) (err error) {
		unknown, err = tx.HoldsLease(t.Context(), "org_missing", region, domain.PurposeData, "r1", t0)
		return err
	})
	if err != nil || unknown {
		t.Fatalf("HoldsLease of an unknown key = %t, %v", unknown, err)
	}
}

func TestStore_ProbeSoon(t *testing.T) {
	t.Parallel()
	f := setup(t)
	later := t0.Add(time.Hour)
	cases := []struct {
		name   string
		status string
		arn    func(domain.Org) string
		want   time.Time
	}{
		{"healthy key is pulled forward", domain.KeyHealthy, func(o domain.Org) string { return o.KeyARN }, t0},
		{"unavailable key stays", domain.KeyUnavailable, func(o domain.Org) string { return o.KeyARN }, later},
		{"another key ARN changes nothing", domain.KeyHealthy, func(domain.Org) string { return arnOf(99) }, later},
	}
	for _, tc := range cases {
		o := f.org(t, domain.ModeCustomerManaged)
		h := f.health(t, o.ID)
		h.Status, h.NextProbeAt = tc.status, later
		if err := f.st.SaveKeyHealth(t.Context(), h); err != nil {
			t.Fatal(err)
		}
		if err := f.st.ProbeSoon(t.Context(), o.ID, tc.arn(o)); err != nil {
			t.Fatal(err)
		}
		if got := f.health(t, o.ID).NextProbeAt; !got.Equal(tc.want) {
			t.Errorf("%s: next probe at %v, want %v", tc.name, got, tc.want)
		}
	}
	p := f.org(t, domain.ModeProviderManaged)
	if err := f.st.ProbeSoon(t.Context(), p.ID, "arn:aws:kms:us-east-1:999988887777:key/provider"); err != nil {
		t.Errorf("ProbeSoon of a provider-managed org: %v", err)
	}
}

func TestStore_Heartbeat_CountsLiveReplicas(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const window = time.Minute
	for _, tc := range []struct {
		owner string
		at    time.Duration
		want  int
	}{
		{"a", 0, 1},
		{"b", 10 * time.Second, 2},
		{"a", 20 * time.Second, 2},  // a beat again: still two
		{"c", 70 * time.Second, 2},  // b, last seen 60s ago, is gone; a is alive
		{"c", 200 * time.Second, 1}, // everyone else went quiet
		{"a", 201 * time.Second, 2}, // a was forgotten and comes back beside c
	} {
		got, err := f.st.Heartbeat(t.Context(), tc.owner, t0.Add(tc.at), window)
		if err != nil || got != tc.want {
			t.Errorf("%s at +%v: %d replicas, %v; want %d", tc.owner, tc.at, got, err, tc.want)
		}
	}
	if err := f.st.Leave(t.Context(), "a"); err != nil {
		t.Fatal(err)
	}
	if got, err := f.st.Heartbeat(t.Context(), "c", t0.Add(202*time.Second), window); err != nil || got != 1 {
		t.Errorf("after a left: %d replicas, %v; want 1", got, err)
	}
	if err := f.st.Leave(t.Context(), "never-seen"); err != nil {
		t.Errorf("Leave of an unknown replica: %v", err)
	}
}
