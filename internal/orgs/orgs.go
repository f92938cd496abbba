// Package orgs is the use-case service of organisations: creation (validate, verify the key, then
// one transaction with the key link, the events and the idempotent result), rename, deletion,
// regions, the audit trail, and the key checks and key policies of onboarding.
package orgs

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"

	"golang.org/x/time/rate"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/grants"
	"github.com/cmekd/cmekd/internal/health"
	"github.com/cmekd/cmekd/internal/idempotency"
	"github.com/cmekd/cmekd/internal/keyarn"
	"github.com/cmekd/cmekd/internal/provider"
	"github.com/cmekd/cmekd/internal/store"
	"github.com/cmekd/cmekd/internal/verify"
)

// Verifier runs the checks of a key, whatever its provider; the provider set is one.
type Verifier interface {
	Run(ctx context.Context, req verify.Request) verify.Report
	GrantMode() bool
}

// Config configures the service.
type Config struct {
	Store       *store.Store
	Verifier    Verifier
	Idempotency *idempotency.Keeper
	Logger      *slog.Logger
	Rules       keyarn.Rules
	// PlatformPrincipal is named in generated key policies.
	PlatformPrincipal string
	// DataPrincipal is CMEKD_DATA_PRINCIPAL: set, generated policies are grant mode's.
	DataPrincipal string
	// Grants, in grant mode, retires the grants of verifications whose links were not stored after
	// all, and tells whether a key's grant still holds; nil without grants.
	Grants *grants.Granter
	// Health probes an organisation's keys after its grants are renewed.
	Health *health.Service
	// KeyChecksPerSecond bounds the key checks the whole service runs (each makes up to four KMS
	// calls); 0 means no bound.
	KeyChecksPerSecond float64
	// ProviderRegion reports whether the platform has a key in a region (CMEKD_PROVIDER_KEY_ARN), so
	// that a provider-managed organisation may add it.
	ProviderRegion func(region string) bool
	// Providers are the key providers the deployment serves.
	Providers *provider.Set
	// IsProviderKey reports whether an ARN is one of the platform's own keys, which no organisation
	// may link as its customer key.
	IsProviderKey func(keyARN string) bool
}

// Service runs the organisation use cases.
type Service struct {
	cfg    Config
	checks *rate.Limiter // nil without a bound
}

// New returns a Service.
func New(cfg Config) *Service {
	s := &Service{cfg: cfg}
	if cfg.KeyChecksPerSecond > 0 {
		s.checks = rate.NewLimiter(rate.Limit(cfg.KeyChecksPerSecond), max(1, int(cfg.KeyChecksPerSecond)))
	}
	return s
}

// CreateInput is what POST /v1/orgs asks for.
type CreateInput struct {
	Name       string
	Region     string
	Encryption *EncryptionInput
}

// EncryptionInput is the encryption a new organisation asks for.
type EncryptionInput struct {
	Mode string
	// Provider is the key's provider ("" is AWS); the key is named by KeyID or, for AWS only, by
	// its synonym KeyARN.
	Provider string
	KeyARN   string
	KeyID    string
	// BackupKeyARN or BackupKeyID names the home region's optional backup key.
	BackupKeyARN string
	BackupKeyID  string
}

// Create validates, verifies the key of a customer-managed organisation, then stores the
// organisation, its key link, its events and the idempotent result in one transaction, sent to the
// database in one round trip with its BEGIN and COMMIT (without grants to record). A retry under
// the same Idempotency-Key gets the organisation the first request made, and makes none.
func (s *Service) Create(ctx context.Context, p domain.Principal, in CreateInput, key idempotency.Key) (domain.Org, error) {
	if prev, err := s.cfg.Idempotency.Replayed(ctx, key); err != nil || prev != nil {
		return s.replayed(prev, err)
	}
	o, err := s.Validate(in)
	if err != nil {
		return domain.Org{}, err
	}
	var made []grants.Made
	if o.Mode == domain.ModeCustomerManaged {
		if made, err = s.verifyLinks(ctx, o.ID, o.Region, o.KeyARN, "", o.BackupKeyARN); err != nil {
			return domain.Org{}, err
		}
	}
	err = s.cfg.Store.InTx(ctx, func(tx *store.Q) error {
		o.CreatedAt = tx.Now()
		actor := p.Actor()
		events := append([]domain.Event{{OrgID: o.ID, Type: domain.EventOrgCreated, Actor: actor, Region: o.Region}},
			verifiedEvents(o.ID, actor, domain.Region{Region: o.Region, KeyARN: o.KeyARN, BackupKeyARN: o.BackupKeyARN})...)
		// Held back for the COMMIT (store.Q.write), as is the idempotent result.
		if err := tx.InsertOrg(ctx, o, events...); err != nil {
			return err
		}
		if err := grants.Record(ctx, tx, actor, s.cfg.DataPrincipal, made); err != nil {
			return err
		}
		return idempotency.Save(ctx, tx, key, o)
	})
	if err != nil {
		// Nothing of this organisation was stored: its grants go.
		s.release(ctx, made)
	}
	if errors.Is(err, idempotency.ErrLost) {
		return s.replayed(s.cfg.Idempotency.Winner(ctx, key))
	}
	if err != nil {
		return domain.Org{}, err
	}
	s.cfg.Logger.InfoContext(ctx, "organisation created", "request_id", domain.RequestID(ctx), "org_id", o.ID, "key_arn", o.KeyARN, "mode", o.Mode)
	return s.tenantView(o), nil
}

// replayed is the organisation an earlier request under the same Idempotency-Key made.
func (s *Service) replayed(prev []byte, err error) (domain.Org, error) {
	if err != nil {
		return domain.Org{}, err
	}
	o, err := idempotency.Decode[domain.Org](prev)
	return s.tenantView(o), err
}

// tenantView is the organisation as its tenants see it: the platform's key is never shown to them,
// and a provider_managed organisation's key status is the platform key's in its home region.
func (s *Service) tenantView(o domain.Org) domain.Org {
	if o.Mode == domain.ModeProviderManaged && s.cfg.Health != nil {
		o.KeyStatus = s.cfg.Health.ProviderKeyStatus(o.Region)
	}
	if len(o.Regions) == 0 {
		o.Regions = []string{o.Region}
	}
	return o
}

// Validate checks a create request against the key rules of its provider and turns it into the
// organisation to store; it does not verify the key.
func (s *Service) Validate(in CreateInput) (domain.Org, error) {
	name, err := domain.ValidName("name", in.Name)
	if err != nil {
		return domain.Org{}, err
	}
	enc := in.Encryption
	if enc == nil {
		enc = &EncryptionInput{Mode: domain.ModeProviderManaged}
	}
	if _, ok := s.cfg.Providers.Named(enc.Provider); enc.Provider != "" && !ok {
		return domain.Org{}, s.cfg.Providers.Unsupported(enc.Provider)
	}
	if err := s.CheckRegion(in.Region, enc.Provider); err != nil {
		return domain.Org{}, err
	}
	o := domain.Org{ID: domain.NewID("org"), Name: name, Region: in.Region, Mode: domain.ModeProviderManaged, KeyStatus: domain.KeyHealthy,
		Regions: []string{in.Region}}
	switch enc.Mode {
	case domain.ModeProviderManaged:
		return o, providerManagedKeys(enc)
	case domain.ModeCustomerManaged:
		return s.customerManaged(o, enc)
	}
	return o, domain.Invalid("encryption.mode", "encryption.mode must be customer_managed or provider_managed")
}

// providerManagedKeys refuses keys named for a provider-managed organisation: the platform's key
// wraps its data and its backups.
func providerManagedKeys(enc *EncryptionInput) error {
	switch {
	case enc.KeyARN != "":
		return domain.Invalid("encryption.key_arn", "key_arn is only given with mode customer_managed")
	case enc.KeyID != "":
		return domain.Invalid("encryption.key_id", "key_id is only given with mode customer_managed")
	case enc.BackupKeyARN != "":
		return domain.Invalid("encryption.backup_key_arn", "backup_key_arn is only given with mode customer_managed: the platform's key wraps a provider-managed organisation's backups")
	case enc.BackupKeyID != "":
		return domain.Invalid("encryption.backup_key_id", "backup_key_id is only given with mode customer_managed: the platform's key wraps a provider-managed organisation's backups")
	case enc.Provider != "" && enc.Provider != domain.ProviderAWS:
		return domain.Invalid("encryption.provider", "a provider-managed organisation uses the platform's key: give no provider")
	}
	return nil
}

// customerManaged links o to the key enc names, checked by its provider's rules in o's region.
func (s *Service) customerManaged(o domain.Org, enc *EncryptionInput) (domain.Org, error) {
	ref := KeyRef{Provider: enc.Provider, KeyARN: enc.KeyARN, KeyID: enc.KeyID}
	p, key, err := s.resolve(ref, "encryption.key_id")
	if err != nil {
		return o, err
	}
	if strings.TrimSpace(key) == "" {
		if p.Name() == domain.ProviderAWS {
			return o, domain.Errorf(domain.KindInvalid, domain.CodeKeyARNRequired,
				"encryption.key_arn is required with mode customer_managed: give the full key ARN, arn:aws:kms:<region>:<account>:key/<key-id>")
		}
		return o, domain.Errorf(domain.KindInvalid, domain.CodeKeyIDRequired, "encryption.key_id is required with mode customer_managed")
	}
	if o.KeyARN, err = s.identify(p, key, o.Region, keyField(ref, "encryption.key_id"), false); err != nil {
		return o, err
	}
	o.Mode, o.KeyStatus = domain.ModeCustomerManaged, domain.KeyHealthy
	backup := KeyRef{KeyARN: enc.BackupKeyARN, KeyID: enc.BackupKeyID}
	if o.BackupKeyARN, err = s.backupKey(p, backup, o.Region, "encryption.backup_key_id"); err != nil {
		return o, err
	}
	o.Links = domain.Region{OrgID: o.ID, Region: o.Region, KeyARN: o.KeyARN, BackupKeyARN: o.BackupKeyARN}.Links()
	return o, nil
}

// notProviderKey refuses the platform's own key as a customer's: the keyring would take that
// organisation's key failures for the platform's, and its data would not be the customer's to revoke.
func (s *Service) notProviderKey(keyARN, field string) error {
	if s.cfg.IsProviderKey == nil || !s.cfg.IsProviderKey(keyARN) {
		return nil
	}
	e := domain.Errorf(domain.KindInvalid, domain.CodeInvalidKeyARN,
		"%s names the platform's own key; a customer-managed organisation links a key of the customer's own account", field)
	e.Details = map[string]any{"field": field}
	return e
}

// CheckRegion refuses a region this deployment does not serve for the provider's keys ("" is AWS).
func (s *Service) CheckRegion(region, providerName string) error {
	if region == "" {
		return domain.Invalid("region", "region is required, e.g. \"us-west-2\"")
	}
	regions := s.regionsOf(providerName)
	if slices.Contains(regions, region) {
		return nil
	}
	e := domain.Errorf(domain.KindInvalid, domain.CodeUnsupportedRegion,
		"region %q is not served by this deployment", domain.Clip(region, 40))
	e.Details = map[string]any{"regions": regions}
	return e
}

// arnError turns a key ARN rule violation (or a key-policy refusal, which speaks the same type) into
// its 422; it is where keyarn's errors become the domain's.
func arnError(err error) error {
	var e *keyarn.Error
	if errors.As(err, &e) {
		return domain.Errorf(domain.KindInvalid, e.Code, "%s", e.Message)
	}
	return err
}

// Get reads one organisation as its tenants see it.
func (s *Service) Get(ctx context.Context, id string) (domain.Org, error) {
	o, err := s.cfg.Store.Org(ctx, id)
	return s.tenantView(o), err
}

// List lists the organisations p may see: all for the admin, its own for an organisation token.
func (s *Service) List(ctx context.Context, p domain.Principal, page domain.Page) ([]domain.Org, string, error) {
	only := ""
	if p.Role != domain.RoleAdmin {
		only = p.OrgID
	}
	list, next, err := s.cfg.Store.Orgs(ctx, page, only)
	for i := range list {
		list[i] = s.tenantView(list[i])
	}
	return list, next, err
}

// PatchInput is what PATCH /v1/orgs/{org} asks for; Encryption is whatever the body held there.
type PatchInput struct {
	Name       *string
	Encryption json.RawMessage
}

// Patch renames an organisation, with an org.renamed event naming the old and the new name; any
// change of its encryption is refused, for the key link is for good.
func (s *Service) Patch(ctx context.Context, p domain.Principal, org domain.Org, in PatchInput) (domain.Org, error) {
	if in.Encryption != nil {
		return org, immutableKeyError(org, in.Encryption)
	}
	if in.Name == nil {
		return org, nil
	}
	name, err := domain.ValidName("name", *in.Name)
	if err != nil {
		return org, err
	}
	if name == org.Name {
		return org, nil
	}
	err = s.cfg.Store.InTx(ctx, func(tx *store.Q) error {
		if err := tx.RenameOrg(ctx, org.ID, name); err != nil {
			return err
		}
		return tx.InsertEvent(ctx, domain.Event{OrgID: org.ID, Type: domain.EventOrgRenamed, Actor: p.Actor(),
			Region: org.Region, Reason: org.Name + " → " + name})
	})
	if err != nil {
		return org, err
	}
	org.Name = name
	return org, nil
}

// immutableKeyError explains why a PATCH may not touch encryption: a provider-managed organisation
// asking for its own key needs a new organisation; any other change is a change of the key link.
func immutableKeyError(org domain.Org, enc json.RawMessage) error {
	var asked struct {
		Mode string `json:"mode"`
	}
	_ = json.Unmarshal(enc, &asked)
	if org.Mode == domain.ModeProviderManaged && asked.Mode == domain.ModeCustomerManaged {
		return domain.Errorf(domain.KindConflict, domain.CodeCMEKRequiresNewOrg,
			"customer-managed keys can only be set when an organisation is created: create a new organisation with encryption.mode customer_managed")
	}
	return domain.Errorf(domain.KindConflict, domain.CodeKeyLinkImmutable,
		"an organisation's key link is set at creation and linked for good; it cannot be changed or removed")
}

// Delete removes an organisation with everything it owns; its org.deleted event stays on record.
func (s *Service) Delete(ctx context.Context, p domain.Principal, org domain.Org) error {
	var retiring, dataKeys, backups int
	err := s.cfg.Store.InTx(ctx, func(tx *store.Q) error {
		// Counted under the organisation's lock, so that the event tells what the delete destroyed.
		if err := tx.LockOrg(ctx, org.ID); err != nil {
			return err
		}
		var err error
		if dataKeys, backups, err = tx.OrgHoldings(ctx, org.ID); err != nil {
			return err
		}
		// The grants stay behind as the retirement worker's outbox: deleting the organisation retires
		// them, durably.
		if retiring, err = tx.QueueOrgGrantRetirements(ctx, org.ID); err != nil {
			return err
		}
		if err := tx.DeleteOrg(ctx, org.ID); err != nil {
			return err
		}
		return tx.InsertEvent(ctx, domain.Event{OrgID: org.ID, Type: domain.EventOrgDeleted, Actor: p.Actor(), Region: org.Region,
			Details: map[string]any{"data_keys_destroyed": dataKeys, "grants_retiring": retiring, "backups_deleted": backups}})
	})
	if err == nil {
		s.cfg.Logger.InfoContext(ctx, "organisation deleted", "request_id", domain.RequestID(ctx), "org_id", org.ID,
			"data_keys_destroyed", dataKeys, "grants_to_retire", retiring, "backups_deleted", backups)
	}
	return err
}

// Events lists an organisation's audit trail, newest first, optionally of one type; orgID "" is the
// platform's whole trail, deleted organisations included (the admin's GET /v1/events).
func (s *Service) Events(ctx context.Context, orgID, typ string, page domain.Page) ([]domain.Event, string, error) {
	if typ != "" && !slices.Contains(domain.EventTypes, typ) {
		e := domain.Invalid("type", "type must be one of the event types")
		e.Details["types"] = domain.EventTypes
		return nil, "", e
	}
	return s.cfg.Store.Events(ctx, orgID, typ, page)
}
