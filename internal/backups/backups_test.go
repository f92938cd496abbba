package backups_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cmekd/cmekd/internal/backups"
	"github.com/cmekd/cmekd/internal/documents"
	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/idempotency"
	"github.com/cmekd/cmekd/internal/keyring"
	"github.com/cmekd/cmekd/internal/store"
	"github.com/cmekd/cmekd/internal/testing/doctest"
	"github.com/cmekd/cmekd/internal/testing/kmstest"
	"github.com/cmekd/cmekd/internal/testing/testkit"
)

var admin = domain.Principal{Role: domain.RoleAdmin}

type fixture struct {
	st   *store.Store
	db   *pgxpool.Pool
	env  *kmstest.Env
	kms  *gatedKMS
	svc  *backups.Service
	docs *documents.Service
}

// gatedKMS is the platform's KMS client; while a gate is set, ReEncrypt waits at it, so a test can
// act while a copy's snapshot is open.
type gatedKMS struct {
	backups.KMS
	mu      sync.Mutex
	gate    chan struct{}
	reached chan struct{}
}

func (g *gatedKMS) ReEncrypt(ctx context.Context, fromARN string, wrapped []byte, fromCtx map[string]string, toARN string, toCtx map[string]string) ([]byte, error) {
	g.mu.Lock()
	gate, reached := g.gate, g.reached
	g.gate = nil
	g.mu.Unlock()
	if gate != nil {
		close(reached)
		<-gate
	}
	return g.KMS.ReEncrypt(ctx, fromARN, wrapped, fromCtx, toARN, toCtx)
}

// hold makes the next ReEncrypt wait until release is called; reached closes when it starts waiting.
func (g *gatedKMS) hold() (reached <-chan struct{}, release func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gate, g.reached = make(chan struct{}), make(chan struct{})
	gate := g.gate
	return g.reached, sync.OnceFunc(func() { close(gate) })
}

func setup(t testing.TB, pageSize int) *fixture {
	t.Helper()
	return setupBounded(t, pageSize, 100_000)
}

// setupBounded is setup with data keys that seal at most maxUses documents each.
func setupBounded(t testing.TB, pageSize, maxUses int) *fixture {
	t.Helper()
	dbURL := testkit.Database(t)
	st := testkit.OpenStore(t, dbURL, store.Options{})
	db, err := pgxpool.New(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	env := kmstest.StartEmulator(t)
	platform := env.PlatformClient(t)
	docs, ring := doctest.New(st, platform, doctest.Options{MaxUses: maxUses, CacheEntries: 100})
	g := &gatedKMS{KMS: platform}
	svc := backups.New(backups.Config{Store: st, Keyring: ring, KMS: g, Logger: testkit.Discard(), PageSize: pageSize, Lease: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return &fixture{st: st, db: db, env: env, kms: g, svc: svc, docs: docs}
}

// org stores a customer-managed organisation on fresh keys: a data key and, when withBackupKey, a
// separate backup key.
func (f *fixture) org(t testing.TB, withBackupKey bool) domain.Org {
	t.Helper()
	o := domain.Org{ID: domain.NewID("org"), Name: domain.NewID("name"), Region: f.env.Region, Mode: domain.ModeCustomerManaged,
		KeyARN: f.env.CreateCustomerKey(t, f.env.Region, kmstest.KeyOptions{}), CreatedAt: f.st.Now()}
	if withBackupKey {
		o.BackupKeyARN = f.env.CreateCustomerKey(t, f.env.Region, kmstest.KeyOptions{})
	}
	if err := f.st.InsertOrg(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	o, err := f.st.Org(t.Context(), o.ID)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func (f *fixture) collection(t testing.TB, o domain.Org, name string) domain.Collection {
	t.Helper()
	c := domain.Collection{ID: domain.NewID("col"), OrgID: o.ID, Name: name, Region: o.Region, State: domain.StateActive,
		StateChangedAt: f.st.Now(), Recoverable: true, CreatedAt: f.st.Now()}
	if err := f.st.InsertCollection(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	return c
}

// ingest stores n documents {"n": from…} in the collection, in batches of up to 1000.
func (f *fixture) ingest(t testing.TB, o domain.Org, col domain.Collection, from, n int) {
	t.Helper()
	for done := 0; done < n; {
		batch := min(1000, n-done)
		docs := make([]json.RawMessage, batch)
		for i := range docs {
			docs[i] = json.RawMessage(fmt.Sprintf(`{"n":%d,"text":"document %d"}`, from+done+i, from+done+i))
		}
		_, err := f.docs.Ingest(t.Context(), o.ID, col.ID, docs, idempotency.Key{})
		if err != nil {
			t.Fatal(err)
		}
		done += batch
	}
}

// contents reads every document of a collection, in order.
func (f *fixture) contents(t testing.TB, o domain.Org, colID string) []string {
	t.Helper()
	var out []string
	page := domain.Page{Limit: 500}
	for {
		p, err := f.docs.List(t.Context(), o.ID, colID, page)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range p.Docs {
			out = append(out, string(d.Data))
		}
		p.Release()
		if p.Next == "" {
			return out
		}
		page.Cursor = p.Next
	}
}

func (f *fixture) count(t testing.TB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := f.db.QueryRow(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// wantCount fails the test with msg (which formats the count) unless query counts want.
func (f *fixture) wantCount(t testing.TB, want int, msg, query string, args ...any) {
	t.Helper()
	if n := f.count(t, query, args...); n != want {
		t.Fatalf(msg, n)
	}
}

// backup creates a backup of the collection.
func (f *fixture) backup(t testing.TB, o domain.Org, colID string) domain.Backup {
	t.Helper()
	b, err := f.svc.Create(t.Context(), admin, o, colID)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// restore restores the backup as a new collection called name.
func (f *fixture) restore(t testing.TB, o domain.Org, id, name string) domain.Collection {
	t.Helper()
	c, err := f.svc.Restore(t.Context(), admin, o, id, name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// restoresAs restores the backup as name and fails the test unless the new collection holds want.
func (f *fixture) restoresAs(t *testing.T, o domain.Org, id, name string, want []string) domain.Collection {
	t.Helper()
	c := f.restore(t, o, id, name)
	equal(t, f.contents(t, o, c.ID), want)
	return c
}

// filled is a fresh organisation (with a backup key when withBackupKey) and a collection of it
// holding n documents.
func (f *fixture) filled(t testing.TB, withBackupKey bool, name string, n int) (domain.Org, domain.Collection) {
	t.Helper()
	o := f.org(t, withBackupKey)
	col := f.collection(t, o, name)
	f.ingest(t, o, col, 0, n)
	return o, col
}

func (f *fixture) waitState(t testing.TB, o domain.Org, id, state string) domain.Backup {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := f.svc.Get(t.Context(), o, id)
		if err != nil {
			t.Fatal(err)
		}
		if b.State == state {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("backup %s is %s, want %s", id, b.State, state)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func wantCode(t *testing.T, err error, code, purpose string) {
	t.Helper()
	e, ok := domain.AsError(err)
	if !ok || e.Code != code {
		t.Fatalf("err = %v, want %s", err, code)
	}
	if purpose != "" && e.Details["purpose"] != purpose {
		t.Fatalf("details = %v, want purpose %s", e.Details, purpose)
	}
}

func equal(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d documents, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("document %d is %s, want %s", i, got[i], want[i])
		}
	}
}

func (f *fixture) disable(t *testing.T, keyARN string) {
	t.Helper()
	if _, err := f.env.SDK(t, f.env.Region, f.env.CustomerAccessKey).DisableKey(context.Background(),
		&awskms.DisableKeyInput{KeyId: aws.String(keyARN)}); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) enable(t *testing.T, keyARN string) {
	t.Helper()
	if _, err := f.env.SDK(t, f.env.Region, f.env.CustomerAccessKey).EnableKey(context.Background(),
		&awskms.EnableKeyInput{KeyId: aws.String(keyARN)}); err != nil {
		t.Fatal(err)
	}
}

func TestBackup_RestoresEveryDocumentInOrderAfterTheCollectionIsGone(t *testing.T) {
	t.Parallel()
	f := setup(t, 0)
	o, col := f.filled(t, true, "events", 25)
	f.ingest(t, o, col, 25, 10)
	want := f.contents(t, o, col.ID)

	b := f.backup(t, o, col.ID)
	if b.State != domain.BackupComplete || b.Documents != 35 || b.KeyARN != o.BackupKeyARN || b.CollectionID != col.ID || b.Region != o.Region {
		t.Fatalf("backup = %+v", b)
	}
	// The backup's data keys are wrapped by the backup key alone.
	f.wantCount(t, 1, "%d data-key copies under the backup key, want 1", `SELECT count(*) FROM backup_keys WHERE backup_id = $1 AND key_arn = $2 AND source_key_arn = $3`, b.ID, o.BackupKeyARN, o.KeyARN)
	// Backups outlive their collection.
	if err := f.st.DeleteCollection(t.Context(), o.ID, col.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.DeleteDataKeys(t.Context(), keyring.Documents.Name, col.ID); err != nil {
		t.Fatal(err)
	}
	restored := f.restore(t, o, b.ID, "events-restored")
	if restored.Region != o.Region || restored.State != domain.StateActive || restored.ID == col.ID {
		t.Fatalf("restored collection %+v", restored)
	}
	equal(t, f.contents(t, o, restored.ID), want)
	f.wantCount(t, 1, "%d backup.restored events", `SELECT count(*) FROM events WHERE org_id = $1 AND type = 'backup.restored' AND collection_id = $2
AND details->>'backup_id' = $3 AND details->>'source_collection_id' = $4`, o.ID, restored.ID, b.ID, col.ID)
	f.wantCount(t, 1, "%d backup.created events", `SELECT count(*) FROM events WHERE org_id = $1 AND type = 'backup.created' AND collection_id = $2`, o.ID, col.ID)
	// A second restore under the same name is the collection's name rule.
	_, err := f.svc.Restore(t.Context(), admin, o, b.ID, "events-restored")
	wantCode(t, err, domain.CodeCollectionNameTaken, "")
}

func TestBackup_WithoutABackupKeyUsesTheDataKey(t *testing.T) {
	t.Parallel()
	f := setup(t, 0)
	o, col := f.filled(t, false, "events", 3)
	b := f.backup(t, o, col.ID)
	if b.KeyARN != o.KeyARN || b.KeyPurpose != domain.PurposeData {
		t.Fatalf("backup %+v", b)
	}
	f.restoresAs(t, o, b.ID, "copy", f.contents(t, o, col.ID))
}

func TestBackup_LargeCollectionIsCopiedInTheBackground(t *testing.T) {
	t.Parallel()
	f := setup(t, 100)
	o, col := f.filled(t, true, "big", 2500)
	b := f.backup(t, o, col.ID)
	if b.State != domain.BackupRunning || b.Documents != 100 {
		t.Fatalf("first answer %+v, want running after one page", b)
	}
	done := f.waitState(t, o, b.ID, domain.BackupComplete)
	if done.Documents != 2500 || done.FinishedAt == nil {
		t.Fatalf("finished backup %+v", done)
	}
	list, _, err := f.svc.List(t.Context(), o, col.ID, domain.Page{Limit: 10})
	if err != nil || len(list) != 1 || list[0].ID != b.ID {
		t.Fatalf("list = %v, %v", list, err)
	}
	f.restoresAs(t, o, b.ID, "big-restored", f.contents(t, o, col.ID))
}

func TestBackup_IsOneMomentWhateverIsIngestedMeanwhile(t *testing.T) {
	t.Parallel()
	f := setup(t, 10)
	o, col := f.filled(t, true, "events", 45)
	want := f.contents(t, o, col.ID)
	reached, release := f.kms.hold()
	defer release()
	type answer struct {
		b   domain.Backup
		err error
	}
	got := make(chan answer, 1)
	go func() {
		b, err := f.svc.Create(context.Background(), admin, o, col.ID)
		got <- answer{b, err}
	}()
	<-reached // the copy's snapshot is taken: it has read the collection's data keys
	f.ingest(t, o, col, 45, 30)
	release()
	a := <-got
	if a.err != nil {
		t.Fatal(a.err)
	}
	done := f.waitState(t, o, a.b.ID, domain.BackupComplete)
	if done.Documents != 45 {
		t.Fatalf("the backup holds %d documents, want the 45 committed before it began", done.Documents)
	}
	f.restoresAs(t, o, done.ID, "moment", want)
}

func TestBackup_RefusedKeysAnswerTheirPurposeAndLeaveNothing(t *testing.T) {
	t.Parallel()
	f := setup(t, 0)
	o, col := f.filled(t, true, "events", 5)
	b := f.backup(t, o, col.ID)

	collections := func() {
		f.wantCount(t, 1, "%d collections after a refused restore, want 1", `SELECT count(*) FROM collections WHERE org_id = $1`, o.ID)
	}
	for _, k := range []struct {
		arn, purpose string
		leftNothing  func()
	}{
		{o.BackupKeyARN, domain.PurposeBackup, func() {
			f.wantCount(t, 1, "%d backups after a refused one, want 1", `SELECT count(*) FROM backups WHERE org_id = $1`, o.ID)
			collections()
			if c, err := f.st.Collection(t.Context(), o.ID, col.ID); err != nil || c.State != domain.StateActive {
				t.Fatalf("collection after the backup key failed: %+v, %v", c, err)
			}
		}},
		{o.KeyARN, domain.PurposeData, func() {
			collections()
			f.wantCount(t, 1, "%d data keys after a refused restore, want the collection's 1", `SELECT count(*) FROM data_keys WHERE org_id = $1`, o.ID)
		}},
	} {
		f.disable(t, k.arn)
		_, err := f.svc.Create(t.Context(), admin, o, col.ID)
		wantCode(t, err, domain.CodeKeyUnavailable, k.purpose)
		_, err = f.svc.Restore(t.Context(), admin, o, b.ID, "nope")
		wantCode(t, err, domain.CodeKeyUnavailable, k.purpose)
		k.leftNothing()
		f.enable(t, k.arn)
	}
	f.restore(t, o, b.ID, "yes")
}

func TestRestore_FailingMidwayLeavesNoCollection(t *testing.T) {
	t.Parallel()
	f := setup(t, 2)
	o, col := f.filled(t, true, "events", 7)
	b := f.backup(t, o, col.ID)
	b = f.waitState(t, o, b.ID, domain.BackupComplete)
	// The last document of the backup is tampered with: the restore fails on its last page.
	if _, err := f.db.Exec(t.Context(), `UPDATE backup_documents SET ciphertext = ciphertext || '\x00'::bytea
WHERE backup_id = $1 AND seq = (SELECT max(seq) FROM backup_documents WHERE backup_id = $1)`, b.ID); err != nil {
		t.Fatal(err)
	}
	_, err := f.svc.Restore(t.Context(), admin, o, b.ID, "half")
	wantCode(t, err, domain.CodeDocumentIntegrity, "")
	f.wantCount(t, 1, "%d collections, want only the original", `SELECT count(*) FROM collections WHERE org_id = $1`, o.ID)
	f.wantCount(t, 7, "%d documents, want only the original 7", `SELECT count(*) FROM documents WHERE org_id = $1`, o.ID)
	f.wantCount(t, 0, "%d data keys of the failed restore remain", `SELECT count(*) FROM data_keys WHERE org_id = $1 AND owner_id <> $2`, o.ID, col.ID)
	f.wantCount(t, 0, "%d events of the failed restore", `SELECT count(*) FROM events WHERE org_id = $1 AND type IN ('backup.restored', 'collection.created')`, o.ID)
}

func TestSweep_FailsABackupWhoseWorkerDied(t *testing.T) {
	t.Parallel()
	f := setup(t, 0)
	o := f.org(t, true)
	col := f.collection(t, o, "events")
	b := domain.Backup{ID: domain.NewID("bak"), OrgID: o.ID, CollectionID: col.ID, Region: o.Region, KeyARN: o.BackupKeyARN,
		KeyPurpose: domain.PurposeBackup, State: domain.BackupRunning, CreatedAt: f.st.Now()}
	if err := f.st.InsertBackup(t.Context(), b, "a replica that died", f.st.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	err := f.svc.Delete(t.Context(), admin, o.ID, b.ID)
	wantCode(t, err, domain.CodeBackupRunning, "")
	_, err = f.svc.Restore(t.Context(), admin, o, b.ID, "x")
	wantCode(t, err, domain.CodeBackupNotComplete, "")

	f.waitState(t, o, b.ID, domain.BackupFailed) // Run sweeps twice per lease
	_, err = f.svc.Restore(t.Context(), admin, o, b.ID, "x")
	wantCode(t, err, domain.CodeBackupNotComplete, "")
	if err := f.svc.Delete(t.Context(), admin, o.ID, b.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Get(t.Context(), o, b.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	f.wantCount(t, 1, "%d backup.deleted events", `SELECT count(*) FROM events WHERE org_id = $1 AND type = 'backup.deleted' AND details->>'backup_id' = $2`, o.ID, b.ID)
}

func TestBackup_OfAnotherOrganisationIsNotFound(t *testing.T) {
	t.Parallel()
	f := setup(t, 0)
	a, other := f.org(t, false), f.org(t, false)
	col := f.collection(t, a, "events")
	b := f.backup(t, a, col.ID)
	if _, err := f.svc.Get(t.Context(), other, b.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("get: %v", err)
	}
	if _, err := f.svc.Restore(t.Context(), admin, other, b.ID, "x"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("restore: %v", err)
	}
	if err := f.svc.Delete(t.Context(), admin, other.ID, b.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("delete: %v", err)
	}
	if _, err := f.svc.Create(t.Context(), admin, other, col.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("create: %v", err)
	}
}

func TestRestore_ABackupNamingAnotherKeyReadsNothing(t *testing.T) {
	t.Parallel()
	f := setup(t, 0)
	o, col := f.filled(t, true, "events", 3)
	b := f.backup(t, o, col.ID)
	// A row forged to name the data key, which the platform may also use, is never unwrapped by it.
	if _, err := f.db.Exec(t.Context(), `UPDATE backups SET key_arn = $2 WHERE id = $1`, b.ID, o.KeyARN); err != nil {
		t.Fatal(err)
	}
	_, err := f.svc.Restore(t.Context(), admin, o, b.ID, "forged")
	wantCode(t, err, domain.CodeDocumentIntegrity, "")
	f.wantCount(t, 1, "%d collections after a forged restore", `SELECT count(*) FROM collections WHERE org_id = $1`, o.ID)
}

func TestRestore_SealsAtMostTheDataKeyBoundUnderEachNewKey(t *testing.T) {
	t.Parallel()
	f := setupBounded(t, 4, 10)
	o := f.org(t, true)
	col := f.collection(t, o, "events")
	for i := 0; i < 25; i += 5 {
		f.ingest(t, o, col, i, 5)
	}
	b := f.backup(t, o, col.ID)
	b = f.waitState(t, o, b.ID, domain.BackupComplete)
	f.wantCount(t, 3, "%d data-key copies, want the collection's 3", `SELECT count(*) FROM backup_keys WHERE backup_id = $1`, b.ID)
	r := f.restoresAs(t, o, b.ID, "bounded", f.contents(t, o, col.ID))
	f.wantCount(t, 3, "the restore made %d data keys, want 3 for 25 documents at 10 each", `SELECT count(*) FROM data_keys WHERE owner_id = $1`, r.ID)
	f.wantCount(t, 0, "%d data keys of the restore seal more than 10 documents", `SELECT count(*) FROM data_keys WHERE owner_id = $1 AND uses > 10`, r.ID)
	// An empty backup restores an empty collection, with no data key.
	empty := f.collection(t, o, "empty")
	eb := f.backup(t, o, empty.ID)
	er := f.restore(t, o, eb.ID, "empty-restored")
	f.wantCount(t, 0, "the empty restore made %d data keys", `SELECT count(*) FROM data_keys WHERE owner_id = $1`, er.ID)
}
