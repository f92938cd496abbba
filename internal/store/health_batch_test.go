package store_test

import (
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/store"
)

// SaveNoChanges writes a result only where it changes nothing and the lease still holds; every other
// key is left as it was, lease included, for the caller to apply in a transaction of its own.
func TestStore_SaveNoChanges_WritesOnlyWhatChangesNothingUnderALiveLease(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := t.Context()
	healthy := f.org(t, domain.ModeCustomerManaged)     // healthy, found healthy: written
	halted := f.org(t, domain.ModeCustomerManaged)      // healthy, but a collection halted: left
	unavailable := f.org(t, domain.ModeCustomerManaged) // on record unavailable, found healthy: left
	sameError := f.org(t, domain.ModeCustomerManaged)   // transient, the error on record again: written
	otherError := f.org(t, domain.ModeCustomerManaged)  // transient, another error: left
	lost := f.org(t, domain.ModeCustomerManaged)        // healthy, but its lease is another's: left
	timeout := &domain.ProbeError{Code: "KMSTimeout", Action: "kms:DescribeKey", Message: "timed out"}

	c := f.collection(t, halted.ID, region)
	if err := f.st.SetCollectionState(ctx, c.ID, domain.StateIngestHalted, "KMSDisabled", t0); err != nil {
		t.Fatal(err)
	}
	linked := *f.health(t, healthy.ID).LastProbeAt // the link's probe
	for _, o := range []struct {
		id  string
		set func(*domain.KeyHealth)
	}{
		{unavailable.ID, func(h *domain.KeyHealth) { h.Status, h.UnavailableSince = domain.KeyUnavailable, &t0 }},
		{sameError.ID, func(h *domain.KeyHealth) { h.LastError = timeout }},
		{otherError.ID, func(h *domain.KeyHealth) { h.LastError = &domain.ProbeError{Code: "KMSThrottled"} }},
	} {
		h := f.health(t, o.id)
		o.set(&h)
		if err := f.st.SaveKeyHealth(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	due, err := f.st.ClaimDue(ctx, "r1", t0, time.Minute, 100)
	if err != nil || len(due) != 6 {
		t.Fatalf("ClaimDue = %d keys, %v", len(due), err)
	}
	rows := map[string]store.RowVersion{} // the row versions r1's claim left
	for _, d := range due {
		rows[d.OrgID] = d.Row
	}
	// r1 loses the lease on lost (released here, as when it runs out) and r2 takes it.
	if err := f.st.SaveKeyHealth(ctx, f.health(t, lost.ID)); err != nil {
		t.Fatal(err)
	}
	if due, err := f.st.ClaimDue(ctx, "r2", t0, time.Minute, 100); err != nil || len(due) != 1 || due[0].OrgID != lost.ID {
		t.Fatalf("r2 claims %+v, %v; want lost's key", due, err)
	}

	now, next := t0.Add(10*time.Second), t0.Add(5*time.Minute)
	// Every result names the row version r1's claim left (lost's is stale: r2 has claimed it since),
	// but the healthy key's, which is looked up by its key instead.
	result := func(orgID string, err *domain.ProbeError) store.ProbeNoChange {
		r := store.ProbeNoChange{OrgID: orgID, Region: region, Purpose: domain.PurposeData, Healthy: err == nil, Error: err,
			NextProbeAt: next, Row: rows[orgID]}
		if orgID == healthy.ID {
			r.Row = store.RowVersion{}
		}
		return r
	}
	written, err := f.st.SaveNoChanges(ctx, "r1", now, []store.ProbeNoChange{
		result(healthy.ID, nil), result(halted.ID, nil), result(unavailable.ID, nil),
		result(sameError.ID, timeout), result(otherError.ID, timeout), result(lost.ID, nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, w := range written {
		got[w.OrgID] = true
	}
	if len(written) != 2 || !got[healthy.ID] || !got[sameError.ID] {
		t.Fatalf("SaveNoChanges wrote %+v; want the healthy key and the repeated error's only", written)
	}
	h := f.health(t, healthy.ID)
	if h.Status != domain.KeyHealthy || !h.LastProbeAt.Equal(now) || !h.LastOKAt.Equal(now) || !h.NextProbeAt.Equal(next) || h.LastError != nil {
		t.Errorf("healthy key after SaveNoChanges: %+v", h)
	}
	if h.AchievedInterval == nil || *h.AchievedInterval != now.Sub(linked) {
		t.Errorf("healthy key's achieved interval after SaveNoChanges: %v, want %v since its link's probe", h.AchievedInterval, now.Sub(linked))
	}
	h = f.health(t, sameError.ID)
	if h.Status != domain.KeyHealthy || !h.LastProbeAt.Equal(now) || h.LastOKAt.Equal(now) || h.LastError == nil || *h.LastError != *timeout {
		t.Errorf("repeated error after SaveNoChanges: %+v", h)
	}
	for _, o := range []domain.Org{healthy, sameError} {
		if held, err := holdsLease(t, f, o.ID, "r1", now); err != nil || held {
			t.Errorf("%s: r1's lease still held after SaveNoChanges (%v)", o.ID, err)
		}
	}
	for _, o := range []domain.Org{halted, unavailable, otherError} {
		if held, err := holdsLease(t, f, o.ID, "r1", now); err != nil || !held {
			t.Errorf("%s: r1's lease gone though nothing was written (%v)", o.ID, err)
		}
		if h := f.health(t, o.ID); h.LastProbeAt != nil && h.LastProbeAt.Equal(now) {
			t.Errorf("%s: written though it changes something: %+v", o.ID, h)
		}
	}
	if held, err := holdsLease(t, f, lost.ID, "r2", now); err != nil || !held {
		t.Errorf("r2's lease on lost was released by r1's write (%v)", err)
	}
}

func holdsLease(t *testing.T, f *fixture, orgID, owner string, now time.Time) (ok bool, err error) {
	t.Helper()
	err = f.st.InTx(t.Context(), func(tx *store.Q) (err error) {
		ok, err = tx.HoldsLease(t.Context(), orgID, region, domain.PurposeData, owner, now)
		return err
	})
	return ok, err
}
