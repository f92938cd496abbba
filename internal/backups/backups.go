// Package backups is the use-case service of collection backups: a consistent copy of a
// collection's documents whose data keys are re-wrapped under the region's backup key with KMS
// ReEncrypt, so that reading a backup never needs the collection or its data key; listing and
// deletion; and restore into a new collection, all or nothing.
//
// A backup is copied inside PostgreSQL (INSERT … SELECT, page by page) in one REPEATABLE READ
// transaction, which makes every page part of one moment: documents committed after the copy began
// are not in it, and none is half in. The first page is copied before POST answers: a collection
// that fits in one page answers 201 complete; a larger one answers 201 running and goes on in the
// background, its progress (documents) written from outside the copy's transaction so readers see
// it. The worker holds a lease on the backup, renewed between pages; a backup whose worker died
// (its server was killed) is failed by Run once the lease runs out, on whichever replica sweeps
// first. A failed backup is not resumed: a resumed copy would not be the moment that was asked for,
// so the retry is a new backup.
package backups

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/cmekd/cmekd/internal/background"
	"github.com/cmekd/cmekd/internal/clock"
	"github.com/cmekd/cmekd/internal/collections"
	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/envelope"
	"github.com/cmekd/cmekd/internal/keyring"
	"github.com/cmekd/cmekd/internal/kms"
	"github.com/cmekd/cmekd/internal/store"
)

// KMS is what backups ask of KMS: ReEncrypt re-wraps a collection's data keys under the backup key
// without their plaintext leaving KMS; Decrypt unwraps a backup's copies at restore. *kms.Client is
// one.
type KMS interface {
	ReEncrypt(ctx context.Context, fromARN string, wrapped []byte, fromCtx map[string]string, toARN string, toCtx map[string]string) ([]byte, error)
	Decrypt(ctx context.Context, keyARN string, wrapped []byte, encCtx map[string]string) ([]byte, error)
}

var _ KMS = (*kms.Client)(nil)

// progressEvery is how often a copy records its progress (and renews its lease) at most: often
// enough for a reader polling the backup, rarely enough that a fast copy does not wait on it.
const progressEvery = 100 * time.Millisecond

// Defaults of Config.
const (
	DefaultPageSize  = 5000
	DefaultLease     = 30 * time.Second
	DefaultMaxCopies = 2
)

// restoreBytes bounds the ciphertext one step of a restore reads, whatever the page size: documents
// may be 256 KiB each, and a step holds its page in memory twice (opened, then sealed again).
const restoreBytes = 16 << 20

// Config configures the service.
type Config struct {
	Store   *store.Store
	Keyring *keyring.Keyring
	KMS     KMS
	// ProviderKeys wrap the data keys (and backups) of provider_managed organisations.
	ProviderKeys domain.ProviderKeys
	Logger       *slog.Logger
	// Owner names this replica in the leases of the backups it copies.
	Owner string
	// PageSize is how many documents one step of a copy or a restore moves; DefaultPageSize when 0.
	PageSize int
	// Lease is how long a backup's worker may go without renewing its claim before the backup is
	// failed; DefaultLease when 0. Run sweeps twice per lease.
	Lease time.Duration
	// MaxCopies bounds the copies this replica runs at once (each holds a database connection for
	// its whole length); DefaultMaxCopies when 0. A backup asked for beyond it waits for a turn.
	MaxCopies int
	// Clock paces a copy's progress records; nil means the wall clock.
	Clock clock.Clock
}

// Service runs the backup use cases, and is the background service that fails backups whose worker
// died.
type Service struct {
	cfg   Config
	clock clock.Clock
	// work is the context of the copies that go on after their request has been answered; Run's end
	// cancels it and waits for them.
	work    context.Context
	stop    context.CancelFunc
	workers sync.WaitGroup
	// copies holds a token per copy running on this replica.
	copies chan struct{}
	// mu guards stopped: once Run has ended no copy starts, so workers.Wait never races an Add.
	mu      sync.Mutex
	stopped bool
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.PageSize <= 0 {
		cfg.PageSize = DefaultPageSize
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Owner == "" {
		cfg.Owner = domain.NewID("replica")
	}
	if cfg.MaxCopies <= 0 {
		cfg.MaxCopies = DefaultMaxCopies
	}
	work, stop := context.WithCancel(context.Background())
	return &Service{cfg: cfg, clock: clock.Or(cfg.Clock), work: work, stop: stop, copies: make(chan struct{}, cfg.MaxCopies)}
}

// Name names the background service.
func (s *Service) Name() string { return "backup-sweeper" }

// Run fails stale backups twice per lease until ctx ends; then it stops this replica's copies in
// flight (each marks its backup failed) and waits for them.
func (s *Service) Run(ctx context.Context) error {
	defer func() {
		s.mu.Lock()
		s.stopped = true
		s.mu.Unlock()
		s.stop()
		s.workers.Wait()
	}()
	return background.Every(s.Name(), s.cfg.Lease/2, s.cfg.Logger, s.Sweep).Run(ctx)
}

// Sweep fails every running backup whose worker's lease has run out.
func (s *Service) Sweep(ctx context.Context) error {
	failed, err := s.cfg.Store.FailStaleBackups(ctx, s.cfg.Store.Now())
	for _, b := range failed {
		s.cfg.Logger.WarnContext(ctx, "backup failed: its worker stopped renewing its lease", "org_id", b.OrgID, "backup_id", b.ID,
			"collection_id", b.CollectionID, "documents", b.Documents)
	}
	return err
}

var (
	errNotComplete = domain.Errorf(domain.KindConflict, domain.CodeBackupNotComplete,
		"only a complete backup can be restored; wait until its state is complete, or take a new backup if it failed")
	errCorrupt = domain.Errorf(domain.KindInternal, domain.CodeDocumentIntegrity,
		"a document of the backup failed its integrity check; nothing was restored")
	errStopping = &domain.Error{Kind: domain.KindUnavailable, Code: domain.CodeUnavailable, Message: "the server is shutting down; retry shortly",
		RetryAfter: 2}
	// errLeaseLost stops a copy whose backup the sweeper failed meanwhile.
	errLeaseLost = errors.New("backups: the backup is no longer this worker's")
)

// errNoKey is a region without a key to wrap with: only a provider_managed organisation's region
// the platform has no key for, which is the platform's failing, never the tenant's.
var errNoKey = domain.ProviderKeyUnavailableError()

// firstPage is what the copy tells the request that started it: the backup after its first page
// (running or complete), or why it could not start.
type firstPage struct {
	backup domain.Backup
	err    error
}

// Create backs up collection colID now. It answers after the first page: complete when the
// collection fitted in it, running otherwise (the copy goes on in the background). A refusal of
// either key leaves no backup: 409 key_unavailable with details.purpose, or 503.
func (s *Service) Create(ctx context.Context, p domain.Principal, org domain.Org, colID string) (domain.Backup, error) {
	col, err := s.cfg.Store.Collection(ctx, org.ID, colID)
	if err != nil {
		return domain.Backup{}, err
	}
	src := domain.DataKeyOf(org, col.Region, s.cfg.ProviderKeys)
	dst, purpose := domain.BackupKeyOf(org, col.Region, s.cfg.ProviderKeys)
	if src == "" || dst == "" {
		return domain.Backup{}, errNoKey
	}
	select {
	case s.copies <- struct{}{}:
	case <-ctx.Done():
		return domain.Backup{}, ctx.Err()
	case <-s.work.Done():
		return domain.Backup{}, errStopping
	}
	started := false
	defer func() {
		if !started {
			<-s.copies
		}
	}()
	now := s.cfg.Store.Now()
	b := domain.Backup{ID: domain.NewID("bak"), OrgID: org.ID, CollectionID: col.ID, Region: col.Region, KeyARN: dst,
		KeyPurpose: purpose, State: domain.BackupRunning, CreatedAt: now}
	// The backup row is committed before the copy's snapshot is taken, so that it is visible at once
	// and the copy's transaction can mark it complete.
	if err := s.cfg.Store.InsertBackup(ctx, b, s.cfg.Owner, now.Add(s.cfg.Lease)); err != nil {
		return domain.Backup{}, err
	}
	first := make(chan firstPage, 1)
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		_ = s.cfg.Store.DiscardBackup(context.WithoutCancel(ctx), b.ID) // else the sweeper of another replica fails it
		return domain.Backup{}, errStopping
	}
	s.workers.Add(1)
	s.mu.Unlock()
	started = true
	go func() {
		defer func() { <-s.copies; s.workers.Done() }()
		s.copy(p.Actor(), b, src, first)
	}()
	select {
	case r := <-first:
		return tenantView(org)(r.backup), r.err
	case <-ctx.Done():
		return domain.Backup{}, ctx.Err() // the copy goes on; the backup lists as it does
	}
}

// firstAnswer hands the request that started a copy its first page (or the copy's failure), once.
type firstAnswer struct {
	ch   chan<- firstPage
	sent bool
}

func (f *firstAnswer) send(p firstPage) {
	if !f.sent {
		f.sent = true
		f.ch <- p
	}
}

// copy copies the backup in one snapshot and reports to first once its first page is in (or it
// failed before). It runs under the service's work context, not the request's.
func (s *Service) copy(actor string, b domain.Backup, src string, first chan<- firstPage) {
	ctx := s.work
	log := s.cfg.Logger.With("org_id", b.OrgID, "backup_id", b.ID, "collection_id", b.CollectionID)
	answer := &firstAnswer{ch: first}
	copied, err := s.copySnapshot(ctx, actor, b, src, answer)
	if err == nil {
		done, rerr := s.cfg.Store.Backup(ctx, b.OrgID, b.ID)
		if rerr != nil { // committed all the same: answer what is known
			done = b
			done.State, done.Documents = domain.BackupComplete, copied
		}
		answer.send(firstPage{backup: done})
		log.InfoContext(ctx, "backup complete", "documents", copied)
		return
	}
	// Nothing of the copy was committed. Before the first answer the backup never existed for the
	// client, so it goes; afterwards it is failed, and lists so.
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if !answer.sent {
		if derr := s.cfg.Store.DiscardBackup(bg, b.ID); derr != nil {
			log.WarnContext(bg, "discard refused backup", "error", derr.Error()) // the sweeper fails it
		}
		answer.send(firstPage{err: err})
		return
	}
	if _, ferr := s.cfg.Store.FinishBackup(bg, b.ID, domain.BackupFailed, copied); ferr != nil {
		log.WarnContext(bg, "mark backup failed", "error", ferr.Error()) // the sweeper fails it
	}
	log.WarnContext(bg, "backup failed", "documents", copied, "error", err.Error())
}

// copySnapshot copies the collection's keys and documents into the backup in one REPEATABLE READ
// transaction and marks it complete there, renewing the lease between pages and answering after the
// first. It returns how many documents it copied, committed or not.
func (s *Service) copySnapshot(ctx context.Context, actor string, b domain.Backup, src string, answer *firstAnswer) (int64, error) {
	var copied int64
	renewed := s.clock.Now()
	err := s.cfg.Store.InSnapshot(ctx, func(tx *store.Q) error {
		// The snapshot's first read: a collection deleted since Create read it is not backed up empty.
		if _, err := tx.Collection(ctx, b.OrgID, b.CollectionID); err != nil {
			return err
		}
		if err := s.rewrapKeys(ctx, tx, b, src); err != nil {
			return err
		}
		var after int64
		for {
			n, last, err := tx.CopyBackupPage(ctx, b.ID, b.OrgID, b.CollectionID, after, s.cfg.PageSize)
			if err != nil {
				return err
			}
			copied, after = copied+int64(n), last
			if n < s.cfg.PageSize {
				break
			}
			if !answer.sent || s.clock.Now().Sub(renewed) >= progressEvery {
				if err := s.renew(ctx, b.ID, copied); err != nil {
					return err
				}
				renewed = s.clock.Now()
			}
			running := b
			running.Documents = copied
			answer.send(firstPage{backup: running})
		}
		ok, err := tx.FinishBackup(ctx, b.ID, domain.BackupComplete, copied)
		if err != nil {
			return err
		}
		if !ok {
			return errLeaseLost
		}
		return tx.InsertEvent(ctx, domain.Event{OrgID: b.OrgID, Type: domain.EventBackupCreated, Actor: actor, Region: b.Region,
			CollectionID: b.CollectionID, Details: map[string]any{"backup_id": b.ID, "documents": copied}})
	})
	return copied, err
}

// rewrapKeys re-wraps, inside KMS, every data key of the collection under the backup's key, bound to
// the organisation and the backup, and stores the copies in tx.
func (s *Service) rewrapKeys(ctx context.Context, tx *store.Q, b domain.Backup, src string) error {
	dks, err := tx.DocumentDataKeys(ctx, b.OrgID, keyring.Documents.Name, b.CollectionID, src)
	if err != nil {
		return err
	}
	owner := keyring.Owner{Purpose: keyring.Documents, OrgID: b.OrgID, ID: b.CollectionID}
	to := keyring.BackupContext(b.OrgID, b.ID)
	keys := make([]store.BackupKey, 0, len(dks))
	for _, dk := range dks {
		wrapped, err := s.cfg.KMS.ReEncrypt(ctx, src, dk.Wrapped, owner.EncryptionContext(), b.KeyARN, to)
		if err != nil {
			return s.reEncryptError(ctx, b, src, err)
		}
		keys = append(keys, store.BackupKey{BackupID: b.ID, DataKeyID: dk.ID, SourceKeyARN: src, KeyARN: b.KeyARN, Wrapped: wrapped})
		if err := s.renew(ctx, b.ID, 0); err != nil {
			return err
		}
	}
	return tx.InsertBackupKeys(ctx, keys)
}

// renew records progress and extends the lease, outside the copy's transaction.
func (s *Service) renew(ctx context.Context, id string, copied int64) error {
	ok, err := s.cfg.Store.BackupProgress(ctx, id, s.cfg.Owner, copied, s.cfg.Store.Now().Add(s.cfg.Lease))
	if err != nil {
		return err
	}
	if !ok {
		return errLeaseLost
	}
	return nil
}

// reEncryptError answers a refused ReEncrypt as the refusal of the key it was about: the source
// (the collection's data key) or the destination (the backup key). KMS names the key in its message
// (the resource of a denial, the key that is disabled, pending deletion or missing); failing that,
// the refused action (kms:ReEncryptTo is the destination's) decides.
func (s *Service) reEncryptError(ctx context.Context, b domain.Backup, src string, err error) error {
	key, purpose := src, domain.PurposeData
	var ke *kms.Error
	if errors.As(err, &ke) && b.KeyARN != src {
		switch {
		case strings.Contains(ke.Message, b.KeyARN):
			key, purpose = b.KeyARN, b.KeyPurpose
		case strings.Contains(ke.Message, src):
		case ke.Action == "kms:ReEncryptTo":
			key, purpose = b.KeyARN, b.KeyPurpose
		}
	}
	return s.cfg.Keyring.KMSError(ctx, b.OrgID, key, purpose, err)
}

// tenantView is a backup as org's tenants see it: the platform's key is never shown to them, so a
// provider-managed organisation's backups name no key.
func tenantView(org domain.Org) func(domain.Backup) domain.Backup {
	return func(b domain.Backup) domain.Backup {
		if org.Mode != domain.ModeCustomerManaged {
			b.KeyARN = ""
		}
		return b
	}
}

// Get reads one backup of the organisation.
func (s *Service) Get(ctx context.Context, org domain.Org, id string) (domain.Backup, error) {
	b, err := s.cfg.Store.Backup(ctx, org.ID, id)
	return tenantView(org)(b), err
}

// List lists the organisation's backups, newest first, of one collection when collectionID is set.
func (s *Service) List(ctx context.Context, org domain.Org, collectionID string, page domain.Page) ([]domain.Backup, string, error) {
	if collectionID != "" && !domain.HasPrefix(collectionID, "col") {
		return nil, "", domain.Invalid("collection_id", "collection_id must be a collection id (col_…)")
	}
	list, next, err := s.cfg.Store.Backups(ctx, org.ID, collectionID, page)
	for i := range list {
		list[i] = tenantView(org)(list[i])
	}
	return list, next, err
}

// Delete removes a backup that is not running, with its event, in one transaction.
func (s *Service) Delete(ctx context.Context, p domain.Principal, orgID, id string) error {
	return s.cfg.Store.InTx(ctx, func(tx *store.Q) error {
		b, err := tx.DeleteBackup(ctx, orgID, id)
		if err != nil {
			return err
		}
		return tx.InsertEvent(ctx, domain.Event{OrgID: orgID, Type: domain.EventBackupDeleted, Actor: p.Actor(), Region: b.Region,
			CollectionID: b.CollectionID, Details: map[string]any{"backup_id": b.ID}})
	})
}

// Restore makes a new collection named name in the backup's region holding every document of the
// backup, in order, under new ids, sealed under new data keys of the region's data key; all or
// nothing, in one transaction that streams the backup page by page. The backup's data keys are
// unwrapped by its key first, so a refusal of it (409 key_unavailable, purpose backup) comes before
// anything is made; a refusal of the data key is purpose data.
func (s *Service) Restore(ctx context.Context, p domain.Principal, org domain.Org, id, name string) (domain.Collection, error) {
	b, err := s.cfg.Store.Backup(ctx, org.ID, id)
	if err != nil {
		return domain.Collection{}, err
	}
	if b.State != domain.BackupComplete {
		return domain.Collection{}, errNotComplete
	}
	if _, err := domain.ValidName("name", name); err != nil {
		return domain.Collection{}, err
	}
	dataKey := domain.DataKeyOf(org, b.Region, s.cfg.ProviderKeys)
	if dataKey == "" {
		return domain.Collection{}, errNoKey
	}
	// A backup is only ever unwrapped by the key its organisation's region links for backups (its
	// data key when it has none): a row forged to name another key the platform may use
	// reads nothing.
	if arn, _ := domain.BackupKeyOf(org, b.Region, s.cfg.ProviderKeys); arn != b.KeyARN {
		return domain.Collection{}, errCorrupt
	}
	boxes, err := s.openKeys(ctx, b)
	if err != nil {
		return domain.Collection{}, err
	}
	var col domain.Collection
	err = s.cfg.Store.InTx(ctx, func(tx *store.Q) error {
		var err error
		if col, err = collections.CreateIn(ctx, tx, p, org, collections.CreateInput{Name: name, Region: b.Region}); err != nil {
			return err
		}
		n, err := s.restoreDocuments(ctx, tx, b, col, dataKey, boxes)
		if err != nil {
			return err
		}
		return tx.InsertEvent(ctx, domain.Event{OrgID: org.ID, Type: domain.EventBackupRestored, Actor: p.Actor(), Region: b.Region,
			CollectionID: col.ID, Details: map[string]any{"backup_id": b.ID, "source_collection_id": b.CollectionID, "documents": n}})
	})
	if err != nil {
		if col.ID != "" {
			// The new collection was never committed; the data keys the keyring made for it were.
			bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if _, derr := s.cfg.Store.DeleteDataKeys(bg, keyring.Documents.Name, col.ID); derr != nil {
				s.cfg.Logger.WarnContext(bg, "drop the data keys of a failed restore", "org_id", org.ID, "backup_id", b.ID, "error", derr.Error())
			}
		}
		if errors.Is(err, keyring.ErrIntegrity) {
			return domain.Collection{}, errCorrupt
		}
		return domain.Collection{}, err
	}
	return col, nil
}

// openKeys unwraps every data key of the backup with the backup's key, into boxes that open the
// backup's documents under their original authenticated data.
func (s *Service) openKeys(ctx context.Context, b domain.Backup) (map[string]*keyring.Box, error) {
	keys, err := s.cfg.Store.BackupKeys(ctx, b.ID)
	if err != nil {
		return nil, err
	}
	owner := keyring.Owner{Purpose: keyring.Documents, OrgID: b.OrgID, ID: b.CollectionID}
	boxes := make(map[string]*keyring.Box, len(keys))
	for _, k := range keys {
		if k.KeyARN != b.KeyARN {
			return nil, keyring.ErrIntegrity
		}
		plain, err := s.cfg.KMS.Decrypt(ctx, k.KeyARN, k.Wrapped, keyring.BackupContext(b.OrgID, b.ID))
		if err != nil {
			return nil, s.cfg.Keyring.KMSError(ctx, b.OrgID, k.KeyARN, b.KeyPurpose, err)
		}
		box, err := keyring.NewBox(owner, k.SourceKeyARN, k.DataKeyID, plain)
		envelope.Wipe(plain)
		if err != nil {
			return nil, err
		}
		boxes[k.DataKeyID] = box
	}
	return boxes, nil
}

// restoreDocuments streams the backup's documents into col page by page, in order, and answers how
// many it restored. Each new data key seals at most the keyring's bound of documents.
func (s *Service) restoreDocuments(ctx context.Context, tx *store.Q, b domain.Backup, col domain.Collection, dataKey string,
	boxes map[string]*keyring.Box) (int64, error) {
	owner := keyring.Owner{Purpose: keyring.Documents, OrgID: col.OrgID, ID: col.ID}
	perKey := s.cfg.Keyring.MaxUses()
	if perKey <= 0 {
		perKey = s.cfg.PageSize
	}
	var restored, after int64
	for done := b.Documents == 0; !done; {
		err := s.cfg.Keyring.SealNew(ctx, owner, dataKey, func(box *keyring.Box) error {
			for sealed := 0; sealed < perKey; {
				page, err := tx.BackupDocuments(ctx, b.ID, after, min(s.cfg.PageSize, perKey-sealed), restoreBytes)
				if err != nil {
					return err
				}
				if len(page) == 0 {
					done = true
					return nil
				}
				if err := s.restorePage(ctx, tx, col, box, boxes, page); err != nil {
					return err
				}
				sealed += len(page)
				restored, after = restored+int64(len(page)), page[len(page)-1].Seq
				if restored >= b.Documents {
					done = true // the last page: no further key is made only to find nothing
					return nil
				}
			}
			return nil
		})
		if err != nil {
			return restored, err
		}
	}
	return restored, nil
}

// restorePage opens one page of the backup's documents with their original data keys and stores
// them in col sealed under box, under new ids.
func (s *Service) restorePage(ctx context.Context, tx *store.Q, col domain.Collection, box *keyring.Box, boxes map[string]*keyring.Box,
	page []store.BackupDocument) error {
	sealed := make([]store.SealedDocument, len(page))
	for i, d := range page {
		from, ok := boxes[d.DataKeyID]
		if !ok {
			return keyring.ErrIntegrity
		}
		plain, err := from.Open(d.DocID, d.AADVersion, d.Nonce, d.Ciphertext)
		if err != nil {
			return err
		}
		id := domain.NewID("doc")
		nonce, ct, err := box.Seal(id, plain)
		if err != nil {
			return err
		}
		sealed[i] = store.SealedDocument{ID: id, OrgID: col.OrgID, CollectionID: col.ID, DataKeyID: box.DataKeyID(),
			AADVersion: keyring.SealVersion, Nonce: nonce, Ciphertext: ct, CreatedAt: d.CreatedAt}
	}
	return tx.InsertDocuments(ctx, sealed)
}
