package orgs

import (
	"context"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/grants"
	"github.com/cmekd/cmekd/internal/store"
)

// Grants lists an organisation's KMS grants, newest first (SPEC §12). A provider-managed
// organisation's keys are the platform's and have none.
func (s *Service) Grants(ctx context.Context, org domain.Org) ([]domain.Grant, error) {
	return s.cfg.Store.Grants(ctx, org.ID)
}

// RenewGrants is the customer's own act after revoking a grant (SPEC §12): each linked key whose
// grant no longer admits the data identity is verified again with a new grant, which is recorded
// (the old one retired on record), and then every key is probed, so that §7 brings the collections
// back. cmekd never makes a new grant by itself; only this does. A key that fails verification
// answers 422 key_verification_failed and keeps no new grant.
func (s *Service) RenewGrants(ctx context.Context, p domain.Principal, org domain.Org) ([]domain.Grant, error) {
	if s.cfg.Grants == nil || org.Mode == domain.ModeProviderManaged {
		return s.Grants(ctx, org)
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
	if s.cfg.Health != nil {
		if _, err := s.cfg.Health.ProbeNow(ctx, org, p.Actor()); err != nil {
			return nil, err
		}
	}
	return s.Grants(ctx, org)
}

// renewGrant gives one linked key a new grant if its grant is gone.
func (s *Service) renewGrant(ctx context.Context, p domain.Principal, org domain.Org, link domain.KeyLink) error {
	held, err := s.cfg.Grants.Held(ctx, link.KeyARN, org.ID)
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
	req := s.linkRequest(org.ID, link.Region, link.Purpose, link.KeyARN, "")
	req.KnownGrant = old.ID
	report, err := s.verifyKey(ctx, req)
	if err != nil {
		return err
	}
	made := appendMade(nil, org.ID, link.Region, link.Purpose, link.KeyARN, report)
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
		return grants.Record(ctx, tx, actor, s.cfg.DataPrincipal, made)
	})
	if err != nil {
		s.release(ctx, made)
		return err
	}
	s.cfg.Logger.InfoContext(ctx, "grant renewed", "request_id", domain.RequestID(ctx), "org_id", org.ID, "region", link.Region,
		"purpose", link.Purpose, "key_arn", link.KeyARN, "grant_id", made[0].Grant.ID, "replaced", hadOld)
	return nil
}
