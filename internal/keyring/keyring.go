// Package keyring owns cmekd's data keys: it hands out an owner's current data key or makes
// a new one with KMS GenerateDataKey, unwraps stored keys with KMS Decrypt through the in-memory
// cache, turns KMS failures into the errors clients see, and nudges the monitor to probe a key that KMS
// refused. Data keys are kept by owner and purpose (the documents of a collection, the secrets of a
// scope, the signing secret of a webhook endpoint; later backups), and only their wrapped copies are
// stored, one per KMS key that wraps them.
package keyring

import (
	"context"
	"errors"
	"time"

	"github.com/cmekd/cmekd/internal/clock"
	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/envelope"
	"github.com/cmekd/cmekd/internal/kms"
	"github.com/cmekd/cmekd/internal/providerkey"
	"github.com/cmekd/cmekd/internal/store"
)

// KMS is what the keyring asks of KMS; *kms.Client is one.
type KMS interface {
	GenerateDataKey(ctx context.Context, keyARN string, encCtx map[string]string) (plaintext, wrapped []byte, err error)
	Decrypt(ctx context.Context, keyARN string, wrapped []byte, encCtx map[string]string) ([]byte, error)
}

var _ KMS = (*kms.Client)(nil)

// Purpose is what a family of data keys seals. It names the keys' rows, the encryption-context key
// that binds a wrapped key to its owner, and the labels that start every sealed item's authenticated
// data, so that nothing sealed for one purpose is ever taken for another.
type Purpose struct {
	Name       string
	ContextKey string
	// Label starts the authenticated data of items sealed as AADv1, BoundLabel that of AADv2.
	Label, BoundLabel string
}

// Documents is the purpose of a collection's data keys: they seal its documents.
var Documents = Purpose{Name: "documents", ContextKey: "cmekd:collection", Label: envelope.DocumentLabel, BoundLabel: envelope.DocumentLabelV2}

// Secrets is the purpose of a secret scope's data keys: they seal its secret values.
var Secrets = Purpose{Name: "secrets", ContextKey: "cmekd:scope", Label: envelope.SecretLabel, BoundLabel: envelope.SecretLabelV2}

// WebhookSecrets is the purpose of a webhook endpoint's data key: it seals the endpoint's signing
// secret. Its keys are wrapped by the platform's own key, never the customer's.
var WebhookSecrets = Purpose{Name: "webhook_secrets", ContextKey: "cmekd:webhook", Label: WebhookSecretLabel, BoundLabel: WebhookSecretLabelV2}

// Labels that start a webhook secret's additional data, as AADv1 and AADv2.
const (
	WebhookSecretLabel   = "cmekd/webhook-secret/v1"
	WebhookSecretLabelV2 = "cmekd/webhook-secret/v2"
)

// Versions of a sealed item's authenticated data. Each stored item records the version it was sealed
// with, so that items sealed before the wrapping key was bound in still open.
const (
	// AADv1 binds the purpose's Label, the organisation, the owner and the item.
	AADv1 = 1
	// AADv2 binds the purpose's BoundLabel, the organisation, the owner, the item and the ARN of the
	// KMS key that wraps the data key: the linked key.
	AADv2 = 2
)

// SealVersion is the AAD version Box.Seal seals with; stored items record it with their ciphertext.
const SealVersion = AADv2

// Owner is what a data key belongs to: a collection of an organisation, say.
type Owner struct {
	Purpose Purpose
	OrgID   string
	ID      string
}

// encryptionContext binds a wrapped data key to its organisation and owner.
func (o Owner) encryptionContext() map[string]string {
	return map[string]string{"cmekd:org": o.OrgID, o.Purpose.ContextKey: o.ID}
}

// ErrIntegrity reports a stored item or data key that does not belong where it was found: a row moved
// to another owner, or tampered with. Nothing is returned from it.
var ErrIntegrity = errors.New("keyring: sealed data does not authenticate")

// Config configures a Keyring.
type Config struct {
	Store *store.Store
	KMS   KMS
	Cache *envelope.Cache
	Clock clock.Clock
	// Provider is the platform's own key; its failures are the platform's (provider_key_unavailable),
	// never blamed on the tenant. Nil: no data key is wrapped by it.
	Provider *providerkey.Key
	// MaxAge and MaxUses bound a data key's use (CMEKD_DEK_MAX_AGE, CMEKD_DEK_MAX_DOCUMENTS): past
	// either, the owner's next seal makes a new one.
	MaxAge  time.Duration
	MaxUses int
}

// Keyring hands out data keys.
type Keyring struct {
	cfg Config
}

// New returns a Keyring.
func New(cfg Config) *Keyring {
	cfg.Clock = clock.Or(cfg.Clock)
	return &Keyring{cfg: cfg}
}

// Box seals and opens an owner's items under one plaintext data key. It lives only as long as the
// function it is handed to.
type Box struct {
	owner     Owner
	dataKeyID string
	keyARN    string // the KMS key whose wrapped copy of the data key the box was opened with
	sealer    *envelope.Sealer
}

// DataKeyID is the data key the box seals under; stored items name it.
func (b *Box) DataKeyID() string { return b.dataKeyID }

// aad is the authenticated data of item itemID as AAD version; false for a version cmekd never wrote.
func (b *Box) aad(itemID string, version int) (envelope.AAD, bool) {
	a := envelope.AAD{OrgID: b.owner.OrgID, OwnerID: b.owner.ID, ItemID: itemID}
	switch version {
	case AADv1:
		a.Label = b.owner.Purpose.Label
	case AADv2:
		a.Label, a.KeyARN = b.owner.Purpose.BoundLabel, b.keyARN
	default:
		return a, false
	}
	return a, a.Label != ""
}

// Seal encrypts one item as SealVersion: bound to the purpose, organisation, owner, item id and the
// KMS key that wraps the data key.
func (b *Box) Seal(itemID string, plaintext []byte) (nonce, ciphertext []byte, err error) {
	aad, _ := b.aad(itemID, SealVersion)
	return b.sealer.Seal(aad, plaintext)
}

// SealAppend is Seal into dst (envelope.Sealer.SealAppend): the nonce and ciphertext are slices of the
// returned buffer, which is dst grown when it lacked room.
func (b *Box) SealAppend(dst []byte, itemID string, plaintext []byte) (nonce, ciphertext, out []byte, err error) {
	aad, _ := b.aad(itemID, SealVersion)
	return b.sealer.SealAppend(dst, aad, plaintext)
}

// Open reverses Seal for an item stored with AAD version (SealVersion since it was introduced, AADv1
// before); an item moved to another row, owner, purpose or wrapping key fails with ErrIntegrity.
func (b *Box) Open(itemID string, version int, nonce, ciphertext []byte) ([]byte, error) {
	aad, ok := b.aad(itemID, version)
	if !ok {
		return nil, ErrIntegrity
	}
	plain, err := b.sealer.Open(aad, nonce, ciphertext)
	if err != nil {
		return nil, ErrIntegrity
	}
	return plain, nil
}

// OpenSealed is Open of an item stored as nonce || ciphertext, decrypted in place: sealed is
// overwritten and the plaintext returned is its front.
func (b *Box) OpenSealed(itemID string, version int, sealed []byte) ([]byte, error) {
	aad, ok := b.aad(itemID, version)
	if !ok {
		return nil, ErrIntegrity
	}
	plain, err := b.sealer.OpenSealed(aad, sealed)
	if err != nil {
		return nil, ErrIntegrity
	}
	return plain, nil
}

// Seal runs fn with a Box under the owner's current data key wrapped by keyARN, first making a new
// data key when there is none young enough with room for n more items.
func (k *Keyring) Seal(ctx context.Context, owner Owner, keyARN string, n int, fn func(*Box) error) error {
	if err := k.providerDown(keyARN); err != nil {
		return err
	}
	want := k.Want(owner, n)
	dk, err := k.cfg.Store.CurrentDataKey(ctx, want.Purpose, want.OwnerID, keyARN, want.NotBefore, want.N, want.MaxUses)
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return k.SealWith(ctx, owner, keyARN, nil, fn)
	case err != nil:
		return err
	}
	return k.SealWith(ctx, owner, keyARN, &dk, fn)
}

// Want is the question Seal asks the store for the owner's current data key with room for n more
// items (under the wrapping key the caller names), for callers that ask it within a statement of
// their own (ReadIngestTarget) and then call SealWith.
func (k *Keyring) Want(owner Owner, n int) store.DataKeyWant {
	return store.DataKeyWant{Purpose: owner.Purpose.Name, OwnerID: owner.ID,
		NotBefore: k.cfg.Store.Now().Add(-k.cfg.MaxAge), N: n, MaxUses: k.cfg.MaxUses}
}

// SealWith is Seal under current, the answer the store gave to Want: nil makes a new data key.
func (k *Keyring) SealWith(ctx context.Context, owner Owner, keyARN string, current *store.DataKey, fn func(*Box) error) error {
	if err := k.providerDown(keyARN); err != nil {
		return err
	}
	if current == nil {
		dk, err := k.newDataKey(ctx, owner, keyARN, k.cfg.Store.Now())
		if err != nil {
			return err
		}
		current = &dk
	}
	dk := *current
	return k.use(ctx, owner, dk.ID, dk.KeyARN, func(context.Context) (store.DataKey, error) { return dk, nil }, fn)
}

// Open runs fn with a Box under the owner's data key id, unwrapped from its copy under keyARN: the
// key the owner's organisation is linked to (or the platform's, for what it wraps). A data key of
// another owner, or one keyARN does not wrap, is never used: that fails with ErrIntegrity
// without asking KMS, so a row forged to name a data key under another key the platform may use
// reads nothing.
func (k *Keyring) Open(ctx context.Context, owner Owner, keyARN, dataKeyID string, fn func(*Box) error) error {
	dk, err := k.wrapped(ctx, owner, keyARN, dataKeyID)
	if err != nil {
		return err
	}
	return k.use(ctx, owner, dk.ID, dk.KeyARN, func(context.Context) (store.DataKey, error) { return dk, nil }, fn)
}

// OpenCached is Open that asks the database nothing when the cache holds the data key: the cache
// keeps each data key under its owner (cacheID), and a key gets there only once it was found to be
// the owner's with a copy under keyARN (or was made so), so a hit is that check made before. On a
// miss the wrapped copy is read and checked as Open does.
func (k *Keyring) OpenCached(ctx context.Context, owner Owner, keyARN, dataKeyID string, fn func(*Box) error) error {
	return k.use(ctx, owner, dataKeyID, keyARN, func(ctx context.Context) (store.DataKey, error) {
		return k.wrapped(ctx, owner, keyARN, dataKeyID)
	}, fn)
}

// OpenIfCached is OpenCached for a data key the cache holds: on a miss it runs nothing and reports
// false at once, asking neither the database nor KMS, and without waiting for another caller's load
// of the key (envelope.Cache.TryUse).
func (k *Keyring) OpenIfCached(owner Owner, keyARN, dataKeyID string, fn func(*Box) error) (bool, error) {
	if err := k.providerDown(keyARN); err != nil {
		return false, err
	}
	return k.cfg.Cache.TryUse(cacheID(owner, dataKeyID), keyARN, func(key []byte) error {
		return k.withBox(owner, dataKeyID, keyARN, key, fn)
	})
}

// withBox runs fn with a Box of the owner's data key id (wrapped by keyARN) from its plaintext key.
func (k *Keyring) withBox(owner Owner, id, keyARN string, key []byte, fn func(*Box) error) error {
	sealer, err := envelope.NewSealer(key)
	if err != nil {
		return err
	}
	return fn(&Box{owner: owner, dataKeyID: id, keyARN: keyARN, sealer: sealer})
}

// wrapped reads data key dataKeyID with its copy under keyARN: ErrIntegrity, without asking KMS,
// when keyARN wraps no copy of it or it is another owner's.
func (k *Keyring) wrapped(ctx context.Context, owner Owner, keyARN, dataKeyID string) (store.DataKey, error) {
	dk, err := k.cfg.Store.WrappedDataKey(ctx, dataKeyID, keyARN)
	if errors.Is(err, domain.ErrNotFound) {
		return dk, ErrIntegrity
	}
	if err != nil {
		return dk, err
	}
	if dk.OrgID != owner.OrgID || dk.Purpose != owner.Purpose.Name || dk.OwnerID != owner.ID {
		return dk, ErrIntegrity // a row pointed at another owner's key: no need to ask KMS
	}
	return dk, nil
}

// newDataKey makes a data key with KMS, stores it wrapped and caches the plaintext.
func (k *Keyring) newDataKey(ctx context.Context, owner Owner, keyARN string, now time.Time) (store.DataKey, error) {
	plain, wrapped, err := k.cfg.KMS.GenerateDataKey(ctx, keyARN, owner.encryptionContext())
	if err != nil {
		return store.DataKey{}, k.kmsError(ctx, owner.OrgID, keyARN, err)
	}
	// The cache keeps a copy of its own; this one is wiped however the function ends.
	defer envelope.Wipe(plain)
	dk := store.DataKey{ID: domain.NewID("dek"), OrgID: owner.OrgID, Purpose: owner.Purpose.Name, OwnerID: owner.ID,
		KeyARN: keyARN, Wrapped: wrapped, CreatedAt: now}
	if err := k.cfg.Store.InsertDataKey(ctx, dk); err != nil {
		return dk, err
	}
	k.cfg.Cache.Put(cacheID(owner, dk.ID), keyARN, plain)
	return dk, nil
}

// use runs fn with a Box under data key id (wrapped by keyARN), from the cache or read with read and
// unwrapped by KMS Decrypt.
func (k *Keyring) use(ctx context.Context, owner Owner, id, keyARN string, read func(context.Context) (store.DataKey, error), fn func(*Box) error) error {
	// A data key of a provider key known to be unusable is not used even from the cache, as for a
	// customer's key (once cmekd knows a key is unusable, reads fail at once).
	if err := k.providerDown(keyARN); err != nil {
		return err
	}
	load := func(ctx context.Context) ([]byte, error) {
		dk, err := read(ctx)
		if err != nil {
			return nil, err
		}
		plain, err := k.cfg.KMS.Decrypt(ctx, dk.KeyARN, dk.Wrapped, owner.encryptionContext())
		if err != nil {
			return nil, k.kmsError(ctx, dk.OrgID, dk.KeyARN, err)
		}
		return plain, nil
	}
	return k.cfg.Cache.Use(ctx, cacheID(owner, id), keyARN, load, func(key []byte) error {
		return k.withBox(owner, id, keyARN, key, fn)
	})
}

// cacheID is what the cache keeps data key dataKeyID of owner under: its owner's, so that a row of
// another owner naming the key never finds it there.
func cacheID(owner Owner, dataKeyID string) string {
	return owner.Purpose.Name + "/" + owner.OrgID + "/" + owner.ID + "/" + dataKeyID
}

// platform reports whether keyARN is the platform's own key.
func (k *Keyring) platform(keyARN string) bool {
	return k.cfg.Provider != nil && k.cfg.Provider.Is(keyARN)
}

// providerDown is provider_key_unavailable when keyARN is the platform's key and it is known to be
// unusable.
func (k *Keyring) providerDown(keyARN string) error {
	if k.platform(keyARN) && !k.cfg.Provider.Usable(keyARN) {
		return domain.ProviderKeyUnavailableError()
	}
	return nil
}

// kmsError answers a KMS failure: the customer's doing is 409 key_unavailable, an outage 503. A
// customer-caused refusal drops the key's data keys from this replica's cache at once, and makes the
// monitor probe the key now rather than at its next turn, so that the organisation's collections halt
// within seconds of the first refused request and the other replicas drop theirs (DropUnavailable).
// A refusal of the platform's own key is the platform's: 503 provider_key_unavailable, with nothing of
// KMS's message (which may name the key) in it, and the key is checked again now.
func (k *Keyring) kmsError(ctx context.Context, orgID, keyARN string, err error) error {
	return k.KMSError(ctx, orgID, keyARN, domain.PurposeData, err)
}

// KMSError is kmsError for a key linked for purpose (data or backup): a customer-caused
// refusal is key_unavailable with that purpose in its details.
func (k *Keyring) KMSError(ctx context.Context, orgID, keyARN, purpose string, err error) error {
	var ke *kms.Error
	if !errors.As(err, &ke) {
		return err
	}
	pe := &domain.ProbeError{Code: ke.Code, Action: ke.Action, Message: ke.Message}
	if ke.Transient() || ke.Code == domain.CodeKMSError {
		return domain.KMSUnreachableError(pe)
	}
	k.cfg.Cache.DropKey(keyARN)
	if k.platform(keyARN) {
		k.cfg.Provider.Failed(ctx, keyARN, pe)
		return domain.ProviderKeyUnavailableError()
	}
	// Best effort: if it fails, the key is still probed within an interval.
	_ = k.cfg.Store.ProbeSoon(context.WithoutCancel(ctx), orgID, keyARN)
	return domain.KeyUnavailableFor(purpose, pe)
}

// DropUnavailable returns a chore that drops from this replica's cache the data keys of every key a
// probe on any replica found unavailable since the chore last looked, so that once cmekd knows a key
// is unusable its reads fail on every replica within a second or two rather than when the cache's TTL
// runs out. Run it every second (the server lists it among its background services).
func (k *Keyring) DropUnavailable() func(context.Context) error {
	var since time.Time
	return func(ctx context.Context) error {
		now := k.cfg.Store.Now()
		if since.IsZero() {
			since = now // the cache starts empty: nothing found before this replica started is cached
		}
		// A probe's time is taken when its transaction starts and the row seen only once it commits,
		// perhaps on a replica whose clock runs behind: each look reaches back by unavailableOverlap.
		arns, err := k.cfg.Store.UnavailableKeysSince(ctx, since.Add(-unavailableOverlap))
		if err != nil {
			return err
		}
		for _, arn := range arns {
			k.cfg.Cache.DropKey(arn)
		}
		since = now
		return nil
	}
}

// unavailableOverlap is how far each look of DropUnavailable reaches back before the previous one.
const unavailableOverlap = 5 * time.Second
