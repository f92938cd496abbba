// Package collections is the use-case service of collections: creation in the state
// the region's key allows, listing, deletion with the collection's data keys, and resume of a paused
// collection once its key is verified again.
package collections

import (
	"context"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/health"
	"github.com/cmekd/cmekd/internal/keyring"
	"github.com/cmekd/cmekd/internal/store"
)

// Config configures the service.
type Config struct {
	Store *store.Store
	// Health probes the key of a collection that resumes and applies the result.
	Health *health.Service
	// MaxPerOrg is the most collections an organisation may have (0: no limit).
	MaxPerOrg int
}

// Service runs the collection use cases.
type Service struct {
	cfg Config
}

// New returns a Service.
func New(cfg Config) *Service { return &Service{cfg: cfg} }

// CreateInput is what POST …/collections asks for.
type CreateInput struct {
	Name        string
	Recoverable *bool
	// Region is where the collection lives; "" means the organisation's home region.
	Region string
}

// Create makes a collection in one of the organisation's regions (its home by default). It starts
// ingest_halted when that region's data key is unavailable, read under a shared lock so a concurrent
// state change cannot be missed.
func (s *Service) Create(ctx context.Context, p domain.Principal, org domain.Org, in CreateInput) (domain.Collection, error) {
	var c domain.Collection
	err := s.cfg.Store.InTxWithin(ctx, store.LimitedCollections, org.ID, s.cfg.MaxPerOrg, func(tx *store.Q) error {
		var err error
		c, err = CreateIn(ctx, tx, p, org, in)
		return err
	})
	if err != nil {
		return domain.Collection{}, err
	}
	return c, nil
}

// CreateIn is Create inside the caller's transaction tx, for use cases that fill the new collection
// in the same transaction (a restore of a backup).
func CreateIn(ctx context.Context, tx *store.Q, p domain.Principal, org domain.Org, in CreateInput) (domain.Collection, error) {
	name, err := domain.ValidName("name", in.Name)
	if err != nil {
		return domain.Collection{}, err
	}
	region := in.Region
	if region == "" {
		region = org.Region
	}
	if !org.HasRegion(region) {
		e := domain.Errorf(domain.KindInvalid, domain.CodeRegionNotLinked,
			"the organisation does not use region %q; add it first with POST /v1/orgs/{org}/regions", domain.Clip(region, 40))
		e.Details = map[string]any{"field": "region", "regions": org.Regions}
		return domain.Collection{}, e
	}
	c := domain.Collection{ID: domain.NewID("col"), OrgID: org.ID, Name: name, Region: region, Recoverable: true}
	if in.Recoverable != nil {
		c.Recoverable = *in.Recoverable
	}
	h, linked, err := tx.ShareKeyHealth(ctx, org.ID, region, domain.PurposeData)
	if err != nil {
		return domain.Collection{}, err
	}
	var key *domain.KeyHealth
	if linked {
		key = &h
	}
	c.State, c.StateReason = health.InitialState(key)
	c.CreatedAt, c.StateChangedAt = tx.Now(), tx.Now()
	if err := tx.InsertCollection(ctx, c); err != nil {
		return domain.Collection{}, err
	}
	err = tx.InsertEvent(ctx, domain.Event{OrgID: org.ID, Type: domain.EventCollectionCreated,
		Actor: p.Actor(), Region: c.Region, CollectionID: c.ID, ToState: c.State, Reason: c.StateReason})
	if err != nil {
		return domain.Collection{}, err
	}
	return c, nil
}

// Get reads one collection of the organisation.
func (s *Service) Get(ctx context.Context, orgID, id string) (domain.Collection, error) {
	return s.cfg.Store.Collection(ctx, orgID, id)
}

// List lists the organisation's collections, oldest first.
func (s *Service) List(ctx context.Context, orgID string, page domain.Page) ([]domain.Collection, string, error) {
	return s.cfg.Store.Collections(ctx, orgID, page)
}

// Delete removes a collection, its documents and its data keys, with its event, in one transaction.
func (s *Service) Delete(ctx context.Context, p domain.Principal, orgID, id string) error {
	return s.cfg.Store.InTx(ctx, func(tx *store.Q) error {
		c, err := tx.LockCollection(ctx, orgID, id)
		if err != nil {
			return err
		}
		if err := tx.DeleteCollection(ctx, orgID, id); err != nil {
			return err
		}
		if _, err := tx.DeleteDataKeys(ctx, keyring.Documents.Name, id); err != nil {
			return err
		}
		return tx.InsertEvent(ctx, domain.Event{OrgID: orgID, Type: domain.EventCollectionDeleted,
			Actor: p.Actor(), Region: c.Region, CollectionID: id, FromState: c.State})
	})
}

var (
	errNotPaused     = domain.Errorf(domain.KindConflict, domain.CodeCollectionNotPaused, "only a paused collection can be resumed")
	errUnrecoverable = domain.Errorf(domain.KindConflict, domain.CodeCollectionUnrecoverable,
		"this collection was created with recoverable=false and cannot be resumed; recreate it")
)

// Resume re-verifies the key of a paused collection now and, when it is healthy, makes the collection
// active. The key's health is applied as for any probe, in the same transaction.
func (s *Service) Resume(ctx context.Context, p domain.Principal, orgID, colID string) (domain.Collection, error) {
	col, err := s.cfg.Store.Collection(ctx, orgID, colID)
	if err != nil {
		return col, err
	}
	if col.State != domain.StatePaused {
		return col, errNotPaused
	}
	if !col.Recoverable {
		return col, errUnrecoverable
	}
	keys, err := s.cfg.Store.KeyHealth(ctx, orgID)
	if err != nil {
		return col, err
	}
	var key *domain.KeyHealth
	for i := range keys {
		if keys[i].Region == col.Region && keys[i].Purpose == domain.PurposeData {
			key = &keys[i]
		}
	}
	if key == nil {
		return col, domain.NotFound("key link")
	}
	actor := p.Actor()
	o := s.cfg.Health.Probe(ctx, orgID, col.Region, key.KeyARN)
	var resumed domain.Collection
	err = s.cfg.Health.Apply(ctx, health.Key{OrgID: orgID, Region: col.Region, Purpose: domain.PurposeData}, actor, o, func(tx *store.Q) error {
		if o.Kind != health.Healthy {
			return nil
		}
		c, err := tx.LockCollection(ctx, orgID, colID)
		if err != nil {
			return err
		}
		if c.State != domain.StatePaused {
			return errNotPaused
		}
		c.State, c.StateReason, c.StateChangedAt = domain.StateActive, "", tx.Now()
		if err := tx.SetCollectionState(ctx, c.ID, c.State, "", c.StateChangedAt); err != nil {
			return err
		}
		resumed = c
		return tx.InsertEvent(ctx, domain.Event{OrgID: orgID, Type: domain.EventCollectionResumed, Actor: actor,
			Region: col.Region, CollectionID: c.ID, FromState: domain.StatePaused, ToState: domain.StateActive, Reason: "resumed; key verified"})
	})
	if err != nil {
		return col, err
	}
	switch o.Kind {
	case health.Transient:
		return col, domain.KMSUnreachableError(o.Error)
	case health.CustomerCaused:
		return col, domain.KeyUnavailableError(o.Error)
	}
	return resumed, nil
}
