package grants

import (
	"context"
	"log/slog"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/store"
	"github.com/cmekd/cmekd/internal/verify"
)

// LinkRequest is the verification of a key to link for purpose: in grant mode, with its grant.
func LinkRequest(grantMode bool, orgID, region, purpose, keyARN, replicaOf string) verify.Request {
	req := verify.Request{Key: keyARN, Region: region, OrgID: orgID, Steps: verify.Full, ReplicaOf: replicaOf, Purpose: purpose}
	if grantMode {
		req.Grant = Name(orgID, region, purpose)
	}
	return req
}

// Kept adds to made the grant a passed verification of the key linked for region and purpose kept,
// if any.
func Kept(made []Made, orgID, region, purpose string, r verify.Report) []Made {
	if r.Grant == nil {
		return made
	}
	return append(made, Made{Link: domain.KeyLink{OrgID: orgID, Region: region, Purpose: purpose, KeyARN: r.KeyARN}, Grant: *r.Grant})
}

// ReleaseNew retires the new grants of links that were not stored after all; a nil Granter (no
// grant mode) has none.
func (g *Granter) ReleaseNew(ctx context.Context, made []Made) {
	if g == nil {
		return
	}
	for _, m := range made {
		if m.Grant.New {
			g.Release(context.WithoutCancel(ctx), m.Link.KeyARN, m.Grant.ID)
		}
	}
}

// Prober probes an organisation's keys now, so that a renewal brings its collections back.
type Prober interface {
	ProbeNow(ctx context.Context, org domain.Org, actor string) ([]domain.KeyHealth, error)
}

// Service lists an organisation's grants and renews those the customer revoked.
type Service struct {
	cfg ServiceConfig
}

// ServiceConfig configures a Service.
type ServiceConfig struct {
	Store    *store.Store
	Verifier *verify.Verifier
	// Granter is nil without grant mode: then there is nothing to renew.
	Granter *Granter
	// DataPrincipal is the grants' grantee, recorded with each.
	DataPrincipal string
	Prober        Prober
	Logger        *slog.Logger
}

// NewService returns a Service.
func NewService(cfg ServiceConfig) *Service { return &Service{cfg: cfg} }

// List lists an organisation's KMS grants, newest first. A provider-managed organisation's keys
// are the platform's and have none.
func (s *Service) List(ctx context.Context, org domain.Org) ([]domain.Grant, error) {
	return s.cfg.Store.Grants(ctx, org.ID)
}

// Renew is the customer's own act after revoking a grant: each linked key whose
// grant no longer admits the data identity is verified again with a new grant, which is recorded
// (the old one retired on record), and then every key is probed, so that the health monitor brings the collections
// back. cmekd never makes a new grant by itself; only this does. A key that fails verification
// answers 422 key_verification_failed and keeps no new grant.
func (s *Service) Renew(ctx context.Context, p domain.Principal, org domain.Org) ([]domain.Grant, error) {
	if s.cfg.Granter == nil || org.Mode == domain.ModeProviderManaged {
		return s.List(ctx, org)
	}
	keys, err := s.cfg.Store.KeyHealth(ctx, org.ID)
	if err != nil {
		return nil, err
	}
	dataKey := map[string]string{} // region → data key ARN
	for _, k := range keys {
		if k.Purpose == domain.PurposeData {
			dataKey[k.Region] = k.KeyARN
		}
	}
	for _, k := range keys {
		if k.Purpose == domain.PurposeBackup && dataKey[k.Region] == k.KeyARN {
			continue // the data key's grant serves its backup link too
		}
		if err := s.renewGrant(ctx, p, org, domain.KeyLink{OrgID: org.ID, Region: k.Region, Purpose: k.Purpose, KeyARN: k.KeyARN}); err != nil {
			return nil, err
		}
	}
	if s.cfg.Prober != nil {
		if _, err := s.cfg.Prober.ProbeNow(ctx, org, p.Actor()); err != nil {
			return nil, err
		}
	}
	return s.List(ctx, org)
}

// renewGrant gives one linked key a new grant if its grant is gone.
func (s *Service) renewGrant(ctx context.Context, p domain.Principal, org domain.Org, link domain.KeyLink) error {
	held, err := s.cfg.Granter.Held(ctx, link.KeyARN, org.ID)
	if err != nil {
		s.cfg.Logger.WarnContext(ctx, "grant renewal: KMS did not answer", "org_id", org.ID, "key_arn", link.KeyARN, "error", err.Error())
		return domain.KMSUnreachableError(nil)
	}
	if held {
		return nil
	}
	old, hadOld, err := s.cfg.Store.ActiveGrant(ctx, org.ID, link.Region, link.Purpose)
	if err != nil {
		return err
	}
	req := LinkRequest(s.cfg.Verifier.GrantMode(), org.ID, link.Region, link.Purpose, link.KeyARN, "")
	req.KnownGrant = old.ID
	report := s.cfg.Verifier.Run(ctx, req)
	if err := verify.Failure(report, req.Purpose); err != nil {
		return err
	}
	made := Kept(nil, org.ID, link.Region, link.Purpose, report)
	if len(made) == 0 || !made[0].Grant.New {
		return nil
	}
	actor := p.Actor()
	err = s.cfg.Store.InTx(ctx, func(tx *store.Q) error {
		cur, ok, err := tx.ActiveGrant(ctx, org.ID, link.Region, link.Purpose)
		if err != nil {
			return err
		}
		if ok && cur.ID == made[0].Grant.ID {
			return nil // a concurrent renewal recorded it
		}
		if ok {
			if err := tx.SetGrantRetired(ctx, cur.ID); err != nil {
				return err
			}
			if err := tx.InsertEvent(ctx, domain.Event{OrgID: org.ID, Type: domain.EventGrantRetired, Actor: actor, Region: cur.Region,
				Purpose: cur.Purpose, Reason: "gone from KMS (revoked); replaced by a new grant",
				Details: map[string]any{"grant_id": cur.ID, "key_arn": cur.KeyARN}}); err != nil {
				return err
			}
		}
		return Record(ctx, tx, actor, s.cfg.DataPrincipal, made)
	})
	if err != nil {
		s.cfg.Granter.ReleaseNew(ctx, made)
		return err
	}
	s.cfg.Logger.InfoContext(ctx, "grant renewed", "request_id", domain.RequestID(ctx), "org_id", org.ID, "region", link.Region,
		"purpose", link.Purpose, "key_arn", link.KeyARN, "grant_id", made[0].Grant.ID, "replaced", hadOld)
	return nil
}
