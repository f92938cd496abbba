package keyring_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/envelope"
	"github.com/cmekd/cmekd/internal/keyring"
	"github.com/cmekd/cmekd/internal/kms"
	"github.com/cmekd/cmekd/internal/store"
	"github.com/cmekd/cmekd/internal/testing/kmstest"
	"github.com/cmekd/cmekd/internal/testing/testkit"
)

const (
	maxAge  = time.Hour
	maxUses = 3
)

// calls counts the KMS operations the emulator served, by name ("GenerateDataKey", "Decrypt").
type calls struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *calls) get(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[op]
}

type fixture struct {
	st     *store.Store
	dbURL  string
	clock  *testkit.Clock
	env    *kmstest.Env
	kms    *kms.Client
	calls  *calls
	keyARN string
	org    domain.Org
	ring   *keyring.Keyring
}

func setup(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{clock: testkit.NewClock(time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)), calls: &calls{n: map[string]int{}}}
	f.dbURL = testkit.Database(t)
	st := testkit.OpenStore(t, f.dbURL, store.Options{Clock: f.clock})
	f.st = st
	f.env = kmstest.StartEmulatorBehind(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "TrentService.")
			f.calls.mu.Lock()
			f.calls.n[op]++
			f.calls.mu.Unlock()
			next.ServeHTTP(w, r)
		})
	})
	f.kms = f.env.PlatformClient(t)
	f.keyARN = f.env.CreateCustomerKey(t, f.env.Region, kmstest.KeyOptions{})
	f.org = domain.Org{ID: domain.NewID("org"), Name: "acme", Region: f.env.Region, Mode: domain.ModeCustomerManaged,
		KeyARN: f.keyARN, CreatedAt: st.Now()}
	if err := st.InsertOrg(t.Context(), f.org); err != nil {
		t.Fatal(err)
	}
	f.ring = f.newRing()
	return f
}

// newRing returns a keyring over the fixture's store and KMS with a cache of its own (empty).
func (f *fixture) newRing() *keyring.Keyring {
	cache := envelope.NewCache(envelope.CacheOptions{TTL: 24 * time.Hour, MaxEntries: 100, Clock: f.clock})
	return keyring.New(keyring.Config{Store: f.st, KMS: f.kms, Cache: cache, Clock: f.clock, MaxAge: maxAge, MaxUses: maxUses})
}

func (f *fixture) owner() keyring.Owner {
	return keyring.Owner{Purpose: keyring.Documents, OrgID: f.org.ID, ID: domain.NewID("col")}
}

// setupSealed is a fixture whose ring has sealed one item for a fresh owner.
func setupSealed(t *testing.T) (*fixture, keyring.Owner, sealed) {
	t.Helper()
	f := setup(t)
	owner := f.owner()
	return f, owner, f.seal(t, f.ring, owner, 1)[0]
}

type sealed struct {
	dataKeyID, itemID string
	nonce, ct         []byte
}

// seal seals n items for owner as a caller that stores them would: the data key's uses grow by n.
func (f *fixture) seal(t *testing.T, ring *keyring.Keyring, owner keyring.Owner, n int) []sealed {
	t.Helper()
	var out []sealed
	err := ring.Seal(t.Context(), owner, f.keyARN, n, func(b *keyring.Box) error {
		for range n {
			s := sealed{dataKeyID: b.DataKeyID(), itemID: domain.NewID("doc")}
			var err error
			if s.nonce, s.ct, err = b.Seal(s.itemID, []byte(`{"secret":"`+s.itemID+`"}`)); err != nil {
				return err
			}
			out = append(out, s)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.AddUses(t.Context(), map[string]int{out[0].dataKeyID: n}); err != nil {
		t.Fatal(err)
	}
	return out
}

// open opens one item under owner with the data key it names, wrapped by the fixture's key.
func (f *fixture) open(t *testing.T, ring *keyring.Keyring, owner keyring.Owner, dataKeyID, itemID string, nonce, ct []byte) ([]byte, error) {
	t.Helper()
	var plain []byte
	err := ring.Open(t.Context(), owner, f.keyARN, dataKeyID, func(b *keyring.Box) error {
		var err error
		plain, err = b.Open(itemID, keyring.SealVersion, nonce, ct)
		return err
	})
	return plain, err
}

func TestKeyring_SealReusesOneDataKey(t *testing.T) {
	t.Parallel()
	f := setup(t)
	owner := f.owner()
	a, b := f.seal(t, f.ring, owner, 1)[0], f.seal(t, f.ring, owner, 1)[0]
	if a.dataKeyID != b.dataKeyID {
		t.Fatalf("two seals used data keys %s and %s, want one", a.dataKeyID, b.dataKeyID)
	}
	if n := f.calls.get("GenerateDataKey"); n != 1 {
		t.Fatalf("%d GenerateDataKey calls, want 1", n)
	}
	if n := f.calls.get("Decrypt"); n != 0 {
		t.Fatalf("%d Decrypt calls, want 0: the new key's plaintext is cached", n)
	}
	dk, err := f.st.WrappedDataKey(t.Context(), a.dataKeyID, f.keyARN)
	if err != nil || dk.OrgID != f.org.ID || dk.Purpose != "documents" || dk.OwnerID != owner.ID || dk.KeyARN != f.keyARN {
		t.Fatalf("stored data key %+v, %v", dk, err)
	}
	// Another owner gets a data key of its own.
	if other := f.seal(t, f.ring, f.owner(), 1)[0]; other.dataKeyID == a.dataKeyID {
		t.Fatal("another owner sealed under the same data key")
	}
}

func TestKeyring_NewDataKeyAfterMaxAge(t *testing.T) {
	t.Parallel()
	f := setup(t)
	owner := f.owner()
	first := f.seal(t, f.ring, owner, 1)[0]
	f.clock.Advance(maxAge - time.Second)
	if again := f.seal(t, f.ring, owner, 1)[0]; again.dataKeyID != first.dataKeyID {
		t.Fatal("a new data key before MaxAge")
	}
	f.clock.Advance(time.Second)
	next := f.seal(t, f.ring, owner, 1)[0]
	if next.dataKeyID == first.dataKeyID {
		t.Fatal("the data key was reused at MaxAge")
	}
	if n := f.calls.get("GenerateDataKey"); n != 2 {
		t.Fatalf("%d GenerateDataKey calls, want 2", n)
	}
	// Items sealed under the old key still open.
	if _, err := f.open(t, f.ring, owner, first.dataKeyID, first.itemID, first.nonce, first.ct); err != nil {
		t.Fatalf("open under the retired data key: %v", err)
	}
}

func TestKeyring_NewDataKeyAfterMaxUses(t *testing.T) {
	t.Parallel()
	f := setup(t)
	owner := f.owner()
	a := f.seal(t, f.ring, owner, 2)[0]
	if b := f.seal(t, f.ring, owner, 1)[0]; b.dataKeyID != a.dataKeyID {
		t.Fatal("a new data key while the current one had room for one more")
	}
	c := f.seal(t, f.ring, owner, 1)[0]
	if c.dataKeyID == a.dataKeyID {
		t.Fatalf("a fourth item sealed under a data key of MaxUses %d", maxUses)
	}
	// A batch that does not fit in what is left of a key gets a new key, whole.
	d := f.seal(t, f.ring, owner, 3)
	if d[0].dataKeyID == c.dataKeyID || d[2].dataKeyID != d[0].dataKeyID {
		t.Fatal("a batch of 3 was split or put under a key with 1 use")
	}
}

func TestKeyring_OpenUnwrapsThroughKMSOnce(t *testing.T) {
	t.Parallel()
	f := setup(t)
	owner := f.owner()
	items := f.seal(t, f.ring, owner, 2)
	fresh := f.newRing() // another replica: nothing cached
	for _, s := range items {
		plain, err := f.open(t, fresh, owner, s.dataKeyID, s.itemID, s.nonce, s.ct)
		if err != nil || string(plain) != `{"secret":"`+s.itemID+`"}` {
			t.Fatalf("Open = %q, %v", plain, err)
		}
	}
	if n := f.calls.get("Decrypt"); n != 1 {
		t.Fatalf("%d Decrypt calls for two items of one data key, want 1", n)
	}
	if _, err := f.open(t, fresh, owner, "dek_missing", "doc_x", nil, nil); !errors.Is(err, keyring.ErrIntegrity) {
		t.Fatalf("Open of an unknown data key: %v, want ErrIntegrity", err)
	}
}

func TestKeyring_OpenRefusesADataKeyNotWrappedByTheLinkedKeyWithoutKMS(t *testing.T) {
	t.Parallel()
	f := setup(t)
	owner := f.owner()
	// A key the platform may also use wraps a data key of the same owner: a forged or misfiled row.
	otherKey := f.env.CreateCustomerKey(t, f.env.Region, kmstest.KeyOptions{})
	var s sealed
	err := f.ring.Seal(t.Context(), owner, otherKey, 1, func(b *keyring.Box) error {
		s = sealed{dataKeyID: b.DataKeyID(), itemID: domain.NewID("doc")}
		var err error
		s.nonce, s.ct, err = b.Seal(s.itemID, []byte(`{"forged":true}`))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	decrypts := f.calls.get("Decrypt")
	if plain, err := f.open(t, f.newRing(), owner, s.dataKeyID, s.itemID, s.nonce, s.ct); !errors.Is(err, keyring.ErrIntegrity) || plain != nil {
		t.Fatalf("Open with the linked key of a data key it does not wrap = %q, %v; want ErrIntegrity", plain, err)
	}
	if n := f.calls.get("Decrypt"); n != decrypts {
		t.Fatalf("%d Decrypt calls for a data key the linked key does not wrap, want none", n-decrypts)
	}
}

func TestKeyring_ItemsBindTheirWrappingKeyAndFirstVersionItemsStillOpen(t *testing.T) {
	t.Parallel()
	f, owner, s := setupSealed(t)
	// An item as cmekd sealed it before AADv2, under the same data key: what the keyring hands a
	// Box is the plaintext data key, so seal it with the first version's AAD directly.
	old := domain.NewID("doc")
	plainKey, err := f.kms.Decrypt(t.Context(), f.keyARN, f.wrapped(t, s.dataKeyID), map[string]string{"cmekd:org": owner.OrgID, "cmekd:collection": owner.ID})
	if err != nil {
		t.Fatal(err)
	}
	nonce, ct, err := envelope.Seal(plainKey, envelope.AAD{Label: envelope.DocumentLabel, OrgID: owner.OrgID, OwnerID: owner.ID, ItemID: old}, []byte(`{"old":true}`))
	if err != nil {
		t.Fatal(err)
	}
	err = f.ring.Open(t.Context(), owner, f.keyARN, s.dataKeyID, func(b *keyring.Box) error {
		if plain, err := b.Open(old, keyring.AADv1, nonce, ct); err != nil || string(plain) != `{"old":true}` {
			t.Errorf("first-version item: %q, %v", plain, err)
		}
		// A new item binds the key: it opens as SealVersion only, never as AADv1 or an unknown version.
		for _, v := range []int{keyring.AADv1, 0, 3} {
			if _, err := b.Open(s.itemID, v, s.nonce, s.ct); !errors.Is(err, keyring.ErrIntegrity) {
				t.Errorf("new item opened as AAD version %d: %v, want ErrIntegrity", v, err)
			}
		}
		// A first-version item is not taken for a new one.
		if _, err := b.Open(old, keyring.SealVersion, nonce, ct); !errors.Is(err, keyring.ErrIntegrity) {
			t.Errorf("first-version item opened as SealVersion: %v, want ErrIntegrity", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The key's ARN is in the item's authenticated data: the same AAD with another ARN does not open it.
	otherARN := f.env.CreateCustomerKey(t, f.env.Region, kmstest.KeyOptions{})
	bound := envelope.AAD{Label: envelope.DocumentLabelV2, OrgID: owner.OrgID, OwnerID: owner.ID, ItemID: s.itemID, KeyARN: f.keyARN}
	if _, err := envelope.Open(plainKey, bound, s.nonce, s.ct); err != nil {
		t.Fatalf("a new item does not open under the AAD that binds its wrapping key: %v", err)
	}
	bound.KeyARN = otherARN
	if _, err := envelope.Open(plainKey, bound, s.nonce, s.ct); !errors.Is(err, envelope.ErrDecrypt) {
		t.Fatalf("a new item opened under another key's ARN: %v", err)
	}
}

// wrapped is the stored copy of data key id wrapped by the fixture's key.
func (f *fixture) wrapped(t *testing.T, id string) []byte {
	t.Helper()
	dk, err := f.st.WrappedDataKey(t.Context(), id, f.keyARN)
	if err != nil {
		t.Fatal(err)
	}
	return dk.Wrapped
}

func TestKeyring_OpenOfAnotherOwnersDataKeyIsIntegrityWithoutKMS(t *testing.T) {
	t.Parallel()
	f, owner, s := setupSealed(t)
	fresh := f.newRing()
	for name, other := range map[string]keyring.Owner{
		"another owner":        {Purpose: keyring.Documents, OrgID: owner.OrgID, ID: domain.NewID("col")},
		"another organisation": {Purpose: keyring.Documents, OrgID: domain.NewID("org"), ID: owner.ID},
		"another purpose":      {Purpose: keyring.Purpose{Name: "secrets", ContextKey: "cmekd:scope", Label: "cmekd/secret/v1"}, OrgID: owner.OrgID, ID: owner.ID},
	} {
		called := false
		err := fresh.Open(t.Context(), other, f.keyARN, s.dataKeyID, func(*keyring.Box) error { called = true; return nil })
		if !errors.Is(err, keyring.ErrIntegrity) || called {
			t.Errorf("%s: Open = %v (fn called %t), want ErrIntegrity", name, err, called)
		}
	}
	if n := f.calls.get("Decrypt"); n != 0 {
		t.Fatalf("%d Decrypt calls, want none", n)
	}
}

func TestKeyring_MovedItemFailsIntegrity(t *testing.T) {
	t.Parallel()
	f := setup(t)
	owner, other := f.owner(), f.owner()
	s := f.seal(t, f.ring, owner, 1)[0]
	otherKey := f.seal(t, f.ring, other, 1)[0].dataKeyID
	relabelled := owner
	relabelled.Purpose.Label, relabelled.Purpose.BoundLabel = "cmekd/secret/v1", "cmekd/secret/v2"
	tampered := bytes.Clone(s.ct)
	tampered[0] ^= 1
	for _, tc := range []struct {
		name              string
		owner             keyring.Owner
		dataKeyID, itemID string
		ct                []byte
	}{
		{"another item id", owner, s.dataKeyID, domain.NewID("doc"), s.ct},
		{"another owner naming the item's data key", other, s.dataKeyID, s.itemID, s.ct},
		{"another owner under its own data key", other, otherKey, s.itemID, s.ct},
		{"another purpose's label", relabelled, s.dataKeyID, s.itemID, s.ct},
		{"a changed ciphertext", owner, s.dataKeyID, s.itemID, tampered},
	} {
		if plain, err := f.open(t, f.ring, tc.owner, tc.dataKeyID, tc.itemID, s.nonce, tc.ct); !errors.Is(err, keyring.ErrIntegrity) || plain != nil {
			t.Errorf("%s: Open = %q, %v; want ErrIntegrity", tc.name, plain, err)
		}
	}
	if _, err := f.open(t, f.ring, owner, s.dataKeyID, s.itemID, s.nonce, s.ct); err != nil {
		t.Fatalf("the item where it was sealed: %v", err)
	}
}

// conn is a connection to the fixture's database, for what no store method reads.
func (f *fixture) conn(t *testing.T) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(t.Context(), f.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func (f *fixture) count(t *testing.T, sql string) int {
	t.Helper()
	var n int
	if err := f.conn(t).QueryRow(t.Context(), sql).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// nextProbe reads when the monitor probes the org's key next.
func (f *fixture) nextProbe(t *testing.T) time.Time {
	t.Helper()
	hs, err := f.st.KeyHealth(t.Context(), f.org.ID)
	if err != nil || len(hs) != 1 {
		t.Fatalf("KeyHealth = %+v, %v", hs, err)
	}
	return hs[0].NextProbeAt
}

// probeLater moves the org's next probe an hour on.
func (f *fixture) probeLater(t *testing.T) time.Time {
	t.Helper()
	hs, err := f.st.KeyHealth(t.Context(), f.org.ID)
	if err != nil {
		t.Fatal(err)
	}
	h := hs[0]
	h.NextProbeAt = f.st.Now().Add(time.Hour)
	if err := f.st.SaveKeyHealth(t.Context(), h); err != nil {
		t.Fatal(err)
	}
	return h.NextProbeAt
}

func wantKeyUnavailable(t *testing.T, err error, reason, action string) {
	t.Helper()
	e, ok := domain.AsError(err)
	if !ok || e.Kind != domain.KindConflict || e.Code != domain.CodeKeyUnavailable ||
		e.Details["reason"] != reason || e.Details["action"] != action {
		t.Fatalf("error %#v, want a conflict key_unavailable with reason %s and action %s", err, reason, action)
	}
}

func TestKeyring_DisabledKeyIsKeyUnavailableDroppedAndProbedSoon(t *testing.T) {
	t.Parallel()
	f, owner, s := setupSealed(t)
	f.env.DisableKey(t, f.keyARN)
	f.probeLater(t)
	err := f.ring.Seal(t.Context(), f.owner(), f.keyARN, 1, func(*keyring.Box) error { return nil })
	wantKeyUnavailable(t, err, domain.CodeKeyDisabled, "kms:GenerateDataKey")
	if got := f.nextProbe(t); !got.Equal(f.st.Now()) {
		t.Errorf("after the refused GenerateDataKey the next probe is at %v, want now (%v)", got, f.st.Now())
	}
	if n := f.count(t, `SELECT count(*) FROM data_keys`); n != 1 {
		t.Errorf("%d data keys, want only the one made before the key was disabled", n)
	}
	// The refusal dropped the key's data keys from this ring's cache: the item sealed a moment ago
	// under a cached data key now needs Decrypt, which the disabled key refuses.
	_, err = f.open(t, f.ring, owner, s.dataKeyID, s.itemID, s.nonce, s.ct)
	wantKeyUnavailable(t, err, domain.CodeKeyDisabled, "kms:Decrypt")

	f.probeLater(t)
	_, err = f.open(t, f.newRing(), owner, s.dataKeyID, s.itemID, s.nonce, s.ct)
	wantKeyUnavailable(t, err, domain.CodeKeyDisabled, "kms:Decrypt")
	if got := f.nextProbe(t); !got.Equal(f.st.Now()) {
		t.Errorf("after the refused Decrypt the next probe is at %v, want now", got)
	}
}

func TestKeyring_KMSOutageIsUnreachableAndLeavesTheProbe(t *testing.T) {
	t.Parallel()
	f := setup(t)
	later := f.probeLater(t)
	f.env.Freeze()
	t.Cleanup(f.env.Unfreeze)
	err := f.ring.Seal(t.Context(), f.owner(), f.keyARN, 1, func(*keyring.Box) error { return nil })
	e, ok := domain.AsError(err)
	if !ok || e.Kind != domain.KindUnavailable || e.Code != domain.CodeKMSUnreachable || e.RetryAfter <= 0 {
		t.Fatalf("Seal during an outage: %#v, want kms_unreachable with Retry-After", err)
	}
	if got := f.nextProbe(t); !got.Equal(later) {
		t.Errorf("an outage moved the next probe to %v", got)
	}
}

func TestKeyring_StoresNoPlaintext(t *testing.T) {
	t.Parallel()
	f, owner, s := setupSealed(t)
	wrapped := f.wrapped(t, s.dataKeyID)
	// The wrapped copy unwraps only with the owner's encryption context.
	plain, err := f.kms.Decrypt(t.Context(), f.keyARN, wrapped, map[string]string{"cmekd:org": owner.OrgID, "cmekd:collection": owner.ID})
	if err != nil || len(plain) != 32 {
		t.Fatalf("unwrap with the owner's context: %d bytes, %v", len(plain), err)
	}
	if _, err := f.kms.Decrypt(t.Context(), f.keyARN, wrapped, map[string]string{"cmekd:org": owner.OrgID, "cmekd:collection": "col_other"}); err == nil {
		t.Fatal("the wrapped key unwraps for another collection")
	}
	if bytes.Contains(wrapped, plain) {
		t.Error("the wrapped copy holds the plaintext data key")
	}
	// Every column of every row, bytea as hex.
	for _, table := range []string{"data_keys", "wrapped_keys"} {
		var rows string
		if err := f.conn(t).QueryRow(t.Context(), `SELECT string_agg(row_to_json(t)::text, ' ') FROM `+table+` t`).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows == "" || strings.Contains(rows, hex.EncodeToString(plain)) || strings.Contains(rows, string(plain)) {
			t.Errorf("%s holds the plaintext data key: %s", table, rows)
		}
	}
	if bytes.Contains(s.ct, []byte(s.itemID)) {
		t.Error("the sealed item shows its plaintext")
	}
}

func TestKeyring_DropUnavailableDropsWhatAProbeElsewhereFoundUnusable(t *testing.T) {
	t.Parallel()
	f, owner, s := setupSealed(t) // cached by this ring
	drop := f.ring.DropUnavailable()
	if err := drop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.open(t, f.ring, owner, s.dataKeyID, s.itemID, s.nonce, s.ct); err != nil || f.calls.get("Decrypt") != 0 {
		t.Fatalf("healthy key: Open = %v after %d Decrypt calls, want a cache hit", err, f.calls.get("Decrypt"))
	}
	// Another replica's probe records the key unavailable.
	hs, err := f.st.KeyHealth(t.Context(), f.org.ID)
	if err != nil || len(hs) != 1 {
		t.Fatalf("KeyHealth = %v, %v", hs, err)
	}
	h, now := hs[0], f.st.Now()
	h.Status, h.LastProbeAt, h.UnavailableSince = domain.KeyUnavailable, &now, &now
	if err := f.st.SaveKeyHealth(t.Context(), h); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Second)
	if err := drop(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The data key left memory: opening needs KMS Decrypt again (which the emulator, not told of any
	// change, still grants).
	if _, err := f.open(t, f.ring, owner, s.dataKeyID, s.itemID, s.nonce, s.ct); err != nil || f.calls.get("Decrypt") != 1 {
		t.Fatalf("after the drop: Open = %v after %d Decrypt calls, want 1", err, f.calls.get("Decrypt"))
	}
}

// OpenCached asks the database nothing on a hit, so the cache must never hand one owner's data key to
// another: the key sealed (and so cached) for owner opens for owner alone, and for no other owner,
// organisation or purpose, without asking KMS.
func TestKeyring_OpenCachedNeverHandsACachedDataKeyToAnotherOwner(t *testing.T) {
	t.Parallel()
	f, owner, s := setupSealed(t)
	var plain []byte
	err := f.ring.OpenCached(t.Context(), owner, f.keyARN, s.dataKeyID, func(b *keyring.Box) error {
		var err error
		plain, err = b.Open(s.itemID, keyring.SealVersion, s.nonce, s.ct)
		return err
	})
	if err != nil || len(plain) == 0 {
		t.Fatalf("OpenCached by its owner = %q, %v", plain, err)
	}
	for name, other := range map[string]keyring.Owner{
		"another owner":        {Purpose: keyring.Documents, OrgID: owner.OrgID, ID: domain.NewID("col")},
		"another organisation": {Purpose: keyring.Documents, OrgID: domain.NewID("org"), ID: owner.ID},
		"another purpose":      {Purpose: keyring.Secrets, OrgID: owner.OrgID, ID: owner.ID},
	} {
		called := false
		err := f.ring.OpenCached(t.Context(), other, f.keyARN, s.dataKeyID, func(*keyring.Box) error { called = true; return nil })
		if !errors.Is(err, keyring.ErrIntegrity) || called {
			t.Errorf("%s: OpenCached = %v (fn called %t), want ErrIntegrity", name, err, called)
		}
	}
	if n := f.calls.get("Decrypt"); n != 0 {
		t.Fatalf("%d Decrypt calls, want none", n)
	}
}
