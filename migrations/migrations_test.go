package migrations_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the pgx database/sql driver goose runs on
	"github.com/pressly/goose/v3"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/envelope"
	"github.com/cmekd/cmekd/internal/keyring"
	"github.com/cmekd/cmekd/internal/store"
	"github.com/cmekd/cmekd/internal/testing/doctest"
	"github.com/cmekd/cmekd/internal/testing/kmstest"
	"github.com/cmekd/cmekd/internal/testing/testkit"
	"github.com/cmekd/cmekd/migrations"
)

// emptyDatabase creates an empty database on the server testkit uses and drops it when t ends. It
// borrows a testkit database only to learn the server's address.
func emptyDatabase(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(testkit.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	admin := u.String()
	u.Path = "/cmekd_migration_" + strings.TrimPrefix(domain.NewID("db"), "db_")
	if err := store.EnsureDatabase(t.Context(), u.String()); err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	t.Cleanup(func() {
		db, err := sql.Open("pgx", admin)
		if err != nil {
			t.Error(err)
			return
		}
		defer db.Close()
		if _, err := db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	return u.String()
}

// migrator is an empty database (its URL and a connection to it) and the goose provider that
// migrates it.
func migrator(t *testing.T) (string, *sql.DB, *goose.Provider) {
	t.Helper()
	dbURL := emptyDatabase(t)
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	return dbURL, db, p
}

// columns lists a table's columns with their type and nullability, by name: a column added back by
// a down migration comes last, and that is no change of shape.
func columns(t *testing.T, db *sql.DB, table string) []string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT column_name || ' ' || data_type || ' ' || is_nullable
FROM information_schema.columns WHERE table_name = $1 ORDER BY column_name`, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	return cols
}

func mustExec(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(t.Context(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// TestKeyring_MigrationKeepsDocumentsReadable stores a document the way cmekd did before 00005 (a
// data key made by KMS with the collection's encryption context, wrapped in data_keys itself), then
// migrates up (00005 and whatever follows) and reads the document through the documents service; down to 4 restores the old shape.
func TestKeyring_MigrationKeepsDocumentsReadable(t *testing.T) {
	t.Parallel()
	dbURL, db, p := migrator(t)
	if _, err := p.UpTo(t.Context(), 4); err != nil {
		t.Fatal(err)
	}
	oldShape := columns(t, db, "data_keys")
	if want := []string{"collection_id text NO", "created_at timestamp with time zone NO", "documents integer NO", "id text NO",
		"key_arn text NO", "org_id text NO", "wrapped bytea NO"}; !reflect.DeepEqual(oldShape, want) {
		t.Fatalf("data_keys at version 4 has %v, want %v", oldShape, want)
	}

	env := kmstest.StartEmulator(t)
	keyARN := env.CreateCustomerKey(t, env.Region, kmstest.KeyOptions{})
	platform := env.PlatformClient(t)
	orgID, colID, dekID, docID := domain.NewID("org"), domain.NewID("col"), domain.NewID("dek"), domain.NewID("doc")
	plain, wrapped, err := platform.GenerateDataKey(t.Context(), keyARN, map[string]string{"cmekd:org": orgID, "cmekd:collection": colID})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"patient":"Ada","note":"stored before the keyring"}`)
	nonce, ct, err := envelope.Seal(plain, envelope.AAD{Label: envelope.DocumentLabel, OrgID: orgID, OwnerID: colID, ItemID: docID}, body)
	if err != nil {
		t.Fatal(err)
	}
	created := time.Now().UTC().Truncate(time.Microsecond)
	mustExec(t, db, `INSERT INTO orgs (id, name, region, encryption_mode, created_at) VALUES ($1, 'old', $2, 'customer_managed', $3)`, orgID, env.Region, created)
	mustExec(t, db, `INSERT INTO key_links (org_id, region, purpose, key_arn, created_at) VALUES ($1, $2, 'data', $3, $4)`, orgID, env.Region, keyARN, created)
	mustExec(t, db, `INSERT INTO key_health (org_id, region, status, next_probe_at) VALUES ($1, $2, 'healthy', $3)`, orgID, env.Region, created)
	mustExec(t, db, `INSERT INTO collections (id, org_id, name, region, state, state_changed_at, created_at) VALUES ($1, $2, 'c', $3, 'active', $4, $4)`,
		colID, orgID, env.Region, created)
	mustExec(t, db, `INSERT INTO data_keys (id, org_id, collection_id, key_arn, wrapped, documents, created_at) VALUES ($1, $2, $3, $4, $5, 1, $6)`,
		dekID, orgID, colID, keyARN, wrapped, created)
	mustExec(t, db, `INSERT INTO documents (id, org_id, collection_id, data_key_id, nonce, ciphertext, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		docID, orgID, colID, dekID, nonce, ct, created)

	if _, err := p.Up(t.Context()); err != nil {
		t.Fatal(err)
	}
	read := func(step string) {
		t.Helper()
		st, err := store.Open(t.Context(), dbURL, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		// A read: how long and for how many documents a data key seals does not matter here.
		svc, _ := doctest.New(st, platform, doctest.Options{MaxUses: 1000, CacheEntries: 10})
		doc, err := svc.Get(t.Context(), orgID, colID, docID)
		if err != nil {
			t.Fatalf("%s: Get of the document stored before the keyring: %v", step, err)
		}
		var got, want any
		_ = json.Unmarshal(doc.Data, &got)
		_ = json.Unmarshal(body, &want)
		if !reflect.DeepEqual(got, want) || !doc.CreatedAt.Equal(created) {
			t.Fatalf("%s: Get = %s at %v, want %s at %v", step, doc.Data, doc.CreatedAt, body, created)
		}
	}
	read("after up")
	// 00016: a document sealed before the wrapping key was bound into its AAD says so.
	var aadVersion int
	if err := db.QueryRowContext(t.Context(), `SELECT aad_version FROM documents WHERE id = $1`, docID).Scan(&aadVersion); err != nil || aadVersion != keyring.AADv1 {
		t.Fatalf("aad_version of the old document = %d (%v), want %d", aadVersion, err, keyring.AADv1)
	}

	var arn, purpose, owner string
	var w []byte
	var uses int
	err = db.QueryRowContext(t.Context(), `SELECT w.key_arn, w.wrapped, k.purpose, k.owner_id, k.uses
FROM data_keys k JOIN wrapped_keys w ON w.data_key_id = k.id WHERE k.id = $1`, dekID).Scan(&arn, &w, &purpose, &owner, &uses)
	if err != nil || arn != keyARN || !bytes.Equal(w, wrapped) || purpose != "documents" || owner != colID || uses != 1 {
		t.Fatalf("migrated data key: %s %s %s %d (%v)", arn, purpose, owner, uses, err)
	}
	// A data key of another purpose has no place in the old shape; down drops it.
	mustExec(t, db, `INSERT INTO data_keys (id, org_id, purpose, owner_id, uses, created_at) VALUES ('dek_secret', $1, 'secrets', 'scope_1', 0, $2)`, orgID, created)
	mustExec(t, db, `INSERT INTO wrapped_keys (data_key_id, key_arn, wrapped, created_at) VALUES ('dek_secret', $1, '\x00', $2)`, keyARN, created)

	if _, err := p.DownTo(t.Context(), 4); err != nil {
		t.Fatal(err)
	}
	if got := columns(t, db, "data_keys"); !reflect.DeepEqual(got, oldShape) {
		t.Errorf("data_keys after down has %v, want %v", got, oldShape)
	}
	if got := columns(t, db, "wrapped_keys"); len(got) != 0 {
		t.Errorf("wrapped_keys survived down: %v", got)
	}
	var col string
	var docs int
	err = db.QueryRowContext(t.Context(), `SELECT collection_id, key_arn, wrapped, documents FROM data_keys WHERE id = $1`, dekID).Scan(&col, &arn, &w, &docs)
	if err != nil || col != colID || arn != keyARN || !bytes.Equal(w, wrapped) || docs != 1 {
		t.Errorf("data key after down: %s %s %d (%v)", col, arn, docs, err)
	}
	var n int
	if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM data_keys`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d data keys after down (%v), want the document key only", n, err)
	}
	// The old foreign key and index are back.
	var fk, index bool
	err = db.QueryRowContext(t.Context(), `SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'data_keys_collection_id_fkey'),
    to_regclass('data_keys_collection') IS NOT NULL`).Scan(&fk, &index)
	if err != nil || !fk || !index {
		t.Errorf("after down: foreign key to collections %t, index data_keys_collection %t (%v)", fk, index, err)
	}

	if _, err := p.Up(t.Context()); err != nil {
		t.Fatal(err)
	}
	read("after down and up again")
}

// TestKeyBinding_DownRefusedWhileKeyBoundItemsExist: 00016 records each sealed item's AAD version, and
// going below it while an item sealed as version 2 exists would make that item unreadable for good
// (version 15's code cannot open it, and version 16 again would take it for version 1): down refuses.
func TestKeyBinding_DownRefusedWhileKeyBoundItemsExist(t *testing.T) {
	t.Parallel()
	_, db, p := migrator(t)
	if _, err := p.Up(t.Context()); err != nil {
		t.Fatal(err)
	}
	const arn = "arn:aws:kms:us-west-2:111122223333:key/11111111-1111-1111-1111-111111111111"
	now := time.Now().UTC()
	mustExec(t, db, `INSERT INTO orgs (id, name, region, encryption_mode, created_at) VALUES ('org_1', 'o', 'us-west-2', 'customer_managed', $1)`, now)
	mustExec(t, db, `INSERT INTO collections (id, org_id, name, region, state, state_changed_at, created_at) VALUES ('col_1', 'org_1', 'c', 'us-west-2', 'active', $1, $1)`, now)
	mustExec(t, db, `INSERT INTO data_keys (id, org_id, purpose, owner_id, uses, created_at) VALUES ('dek_1', 'org_1', 'documents', 'col_1', 1, $1)`, now)
	mustExec(t, db, `INSERT INTO wrapped_keys (data_key_id, key_arn, wrapped, created_at) VALUES ('dek_1', $1, '\x00', $2)`, arn, now)
	mustExec(t, db, `INSERT INTO documents (id, org_id, collection_id, data_key_id, aad_version, nonce, ciphertext, created_at)
VALUES ('doc_1', 'org_1', 'col_1', 'dek_1', 2, '\x000000000000000000000000', '\x00', $1)`, now)
	if _, err := p.DownTo(t.Context(), 15); err == nil || !strings.Contains(err.Error(), "aad_version 2") {
		t.Fatalf("down below 16 with a key-bound document: %v, want a refusal", err)
	}
	if got := columns(t, db, "documents"); !strings.Contains(strings.Join(got, ","), "aad_version smallint NO") {
		t.Fatalf("documents lost aad_version although down was refused: %v", got)
	}
	mustExec(t, db, `DELETE FROM documents`)
	if _, err := p.DownTo(t.Context(), 15); err != nil {
		t.Fatal(err)
	}
	if got := columns(t, db, "documents"); strings.Contains(strings.Join(got, ","), "aad_version") {
		t.Fatalf("documents after down: %v", got)
	}
}
