package grants_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/grants"
	"github.com/cmekd/cmekd/internal/kms"
	"github.com/cmekd/cmekd/internal/store"
	"github.com/cmekd/cmekd/internal/testing/kmstest"
	"github.com/cmekd/cmekd/internal/testing/testkit"
	"github.com/cmekd/cmekd/internal/verify"
)

// fixture is a store on a settable clock, an emulator, a key with grant mode's policy, and the two
// identities' clients.
type fixture struct {
	env           *kmstest.Env
	st            *store.Store
	clock         *testkit.Clock
	key           string
	control, data *kms.Client
	granter       *grants.Granter
}

func setup(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{env: kmstest.StartEmulator(t), clock: testkit.NewClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))}
	st := testkit.OpenStore(t, testkit.Database(t), store.Options{Clock: f.clock})
	f.st = st
	f.key = f.env.CreateCustomerKey(t, f.env.Region, kmstest.KeyOptions{DefaultPolicy: true})
	f.env.PutPolicy(t, f.key, kmstest.GrantPolicy(t, f.key))
	f.control, f.data = f.env.ClientAs(t, kmstest.ControlAccessKey), f.env.ClientAs(t, kmstest.DataAccessKey)
	f.granter = grants.NewGranter(grants.GranterConfig{Control: f.control, Data: f.data, ControlPrincipal: kmstest.ControlPrincipal,
		DataPrincipal: kmstest.DataPrincipal, Store: st, Logger: testkit.Discard()})
	return f
}

func (f *fixture) retirer(owner string) *grants.Retirer {
	return grants.NewRetirer(grants.RetirerConfig{Store: f.st, Control: f.control, Owner: owner, Logger: testkit.Discard()})
}

// orgGrant attaches the grant of a (pretend) organisation's data key and records it as linking does.
func (f *fixture) orgGrant(t *testing.T, orgID string) string {
	t.Helper()
	name := grants.Name(orgID, f.env.Region, domain.PurposeData)
	g, err := f.granter.Attach(context.Background(), f.key, name, orgID)
	if err != nil {
		t.Fatal(err)
	}
	err = f.st.InTx(context.Background(), func(tx *store.Q) error {
		return grants.Record(context.Background(), tx, "admin", kmstest.DataPrincipal, []grants.Made{{
			Link:  domain.KeyLink{OrgID: orgID, Region: f.env.Region, Purpose: domain.PurposeData, KeyARN: f.key},
			Grant: verify.Grant{ID: g.ID, Name: name, New: true}}})
	})
	if err != nil {
		t.Fatal(err)
	}
	return g.ID
}

func (f *fixture) kmsGrants(t *testing.T) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	for _, id := range f.env.GrantIDs(t, f.key) {
		ids[id] = true
	}
	return ids
}

func (f *fixture) status(t *testing.T, orgID, grantID string) string {
	t.Helper()
	list, err := f.st.Grants(context.Background(), orgID)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range list {
		if g.ID == grantID {
			return g.Status
		}
	}
	return ""
}

func (f *fixture) retiredEvents(t *testing.T, orgID string) int {
	t.Helper()
	evs, _, err := f.st.Events(context.Background(), orgID, domain.EventGrantRetired, domain.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

func queue(t *testing.T, st *store.Store, orgID string) {
	t.Helper()
	if err := st.InTx(context.Background(), func(tx *store.Q) error {
		_, err := tx.QueueOrgGrantRetirements(context.Background(), orgID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// TestRetirer_RetiresQueuedGrants: an organisation's queued grants are retired in KMS, recorded
// retired, with one grant.retired event each; a grant already gone counts as retired.
func TestRetirer_RetiresQueuedGrants(t *testing.T) {
	t.Parallel()
	f := setup(t)
	a, b := f.orgGrant(t, "org_a1"), f.orgGrant(t, "org_b1")
	gone := f.orgGrant(t, "org_a2")
	f.env.RevokeGrant(t, f.key, gone)
	queue(t, f.st, "org_a1")
	queue(t, f.st, "org_a2")
	if s := f.status(t, "org_a1", a); s != domain.GrantRetiring {
		t.Fatalf("queued grant is %q", s)
	}
	n, err := f.retirer("r1").RetireDue(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("RetireDue = %d, %v; want 2", n, err)
	}
	in := f.kmsGrants(t)
	if in[a] || in[gone] || !in[b] {
		t.Fatalf("grants in KMS %v: want only %s", in, b)
	}
	for org, id := range map[string]string{"org_a1": a, "org_a2": gone} {
		if s := f.status(t, org, id); s != domain.GrantRetired {
			t.Errorf("%s is %q", id, s)
		}
		if n := f.retiredEvents(t, org); n != 1 {
			t.Errorf("%s: %d grant.retired events", org, n)
		}
	}
	if s := f.status(t, "org_b1", b); s != domain.GrantActive {
		t.Errorf("another organisation's grant is %q", s)
	}
	if n, err := f.retirer("r1").RetireDue(context.Background()); err != nil || n != 0 {
		t.Fatalf("a second round retired %d, %v", n, err)
	}
}

// TestRetirer_BacksOffUntilKMSConfirms: while KMS is down the retirement waits, longer each time,
// and goes through once KMS answers.
func TestRetirer_BacksOffUntilKMSConfirms(t *testing.T) {
	t.Parallel()
	f := setup(t)
	id := f.orgGrant(t, "org_c1")
	queue(t, f.st, "org_c1")
	r := f.retirer("r1")
	f.env.Freeze()
	for _, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		if n, err := r.RetireDue(context.Background()); err != nil || n != 0 {
			t.Fatalf("retired %d while KMS is down: %v", n, err)
		}
		f.clock.Advance(wait - time.Millisecond)
		if n, _ := r.RetireDue(context.Background()); n != 0 {
			t.Fatalf("retried before the backoff of %s", wait)
		}
		f.clock.Advance(time.Millisecond)
	}
	f.env.Unfreeze()
	if n, err := r.RetireDue(context.Background()); err != nil || n != 1 {
		t.Fatalf("RetireDue after the outage = %d, %v", n, err)
	}
	if f.kmsGrants(t)[id] || f.status(t, "org_c1", id) != domain.GrantRetired {
		t.Fatalf("grant %s not retired", id)
	}
}

// TestRetirer_ConcurrentReplicasRetireOnce: retirers racing over one outbox retire each grant once.
func TestRetirer_ConcurrentReplicasRetireOnce(t *testing.T) {
	t.Parallel()
	f := setup(t)
	var ids []string
	for _, org := range []string{"org_d1", "org_d2", "org_d3", "org_d4", "org_d5"} {
		ids = append(ids, f.orgGrant(t, org))
		queue(t, f.st, org)
	}
	var total atomic.Int64
	var wg sync.WaitGroup
	for _, owner := range []string{"r1", "r2", "r3"} {
		r := f.retirer(owner)
		wg.Go(func() {
			n, err := r.RetireDue(context.Background())
			if err != nil {
				t.Error(err)
			}
			total.Add(int64(n))
		})
	}
	wg.Wait()
	if total.Load() != int64(len(ids)) {
		t.Fatalf("retired %d, want %d", total.Load(), len(ids))
	}
	for i, org := range []string{"org_d1", "org_d2", "org_d3", "org_d4", "org_d5"} {
		if n := f.retiredEvents(t, org); n != 1 {
			t.Errorf("%s (%s): %d grant.retired events", org, ids[i], n)
		}
	}
}

// TestGranter_ReleaseQueuesWhatKMSDoesNotConfirm: a grant released while KMS is down is retired by
// the worker later, without an event: it was never an organisation's.
func TestGranter_ReleaseQueuesWhatKMSDoesNotConfirm(t *testing.T) {
	t.Parallel()
	f := setup(t)
	g, err := f.granter.Attach(context.Background(), f.key, grants.CheckName(), "onboarding")
	if err != nil {
		t.Fatal(err)
	}
	f.env.Freeze()
	f.granter.Release(context.Background(), f.key, g.ID)
	f.env.Unfreeze()
	if !f.kmsGrants(t)[g.ID] {
		t.Fatal("the grant went although KMS was down")
	}
	if n, err := f.retirer("r1").RetireDue(context.Background()); err != nil || n != 1 {
		t.Fatalf("RetireDue = %d, %v", n, err)
	}
	if f.kmsGrants(t)[g.ID] {
		t.Fatal("the queued grant was not retired")
	}
	if n := f.retiredEvents(t, ""); n != 0 {
		t.Fatalf("%d grant.retired events for a grant nobody had", n)
	}
}

// TestGranter_Held: the organisation's grant admits its Encrypt; revoked, or for another
// organisation, it does not.
func TestGranter_Held(t *testing.T) {
	t.Parallel()
	f := setup(t)
	id := f.orgGrant(t, "org_e1")
	for org, want := range map[string]bool{"org_e1": true, "org_e2": false} {
		if held, err := f.granter.Held(context.Background(), f.key, org); err != nil || held != want {
			t.Errorf("Held(%s) = %v, %v; want %v", org, held, err, want)
		}
	}
	f.env.RevokeGrant(t, f.key, id)
	if held, err := f.granter.Held(context.Background(), f.key, "org_e1"); err != nil || held {
		t.Errorf("Held after revocation = %v, %v", held, err)
	}
	f.env.Freeze()
	defer f.env.Unfreeze()
	if _, err := f.granter.Held(context.Background(), f.key, "org_e1"); err == nil {
		t.Error("Held answered while KMS was down")
	}
}

// TestGranter_ReleaseKeepsARecordedGrant: a failure of one request does not retire the grant another
// request for the same link recorded (a named grant is one grant for all its requests).
func TestGranter_ReleaseKeepsARecordedGrant(t *testing.T) {
	t.Parallel()
	f := setup(t)
	id := f.orgGrant(t, "org_f1")
	f.granter.Release(context.Background(), f.key, id)
	if !f.kmsGrants(t)[id] || f.status(t, "org_f1", id) != domain.GrantActive {
		t.Fatal("Release retired a grant on record")
	}
}
