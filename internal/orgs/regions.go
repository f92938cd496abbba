package orgs

import (
	"context"
	"strings"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/grants"
	"github.com/cmekd/cmekd/internal/keyarn"
	"github.com/cmekd/cmekd/internal/store"
	"github.com/cmekd/cmekd/internal/verify"
)

// RegionInput is what POST /v1/orgs/{org}/regions asks for (SPEC §11).
type RegionInput struct {
	Region string
	// KeyARN or KeyID is the region's data key; none derives the replica of a multi-region AWS
	// home key.
	KeyARN, KeyID string
	// BackupKeyARN or BackupKeyID is the region's optional backup key.
	BackupKeyARN, BackupKeyID string
}

// AddRegion links a new region to an organisation: its keys are checked (§3, with the region as the
// link's region) and verified (§4) in that region, then the region and its key links are stored with
// their events in one transaction. Nothing is stored when a check fails.
//
// Without a key_arn, a multi-region home key's replica is the region's key: same partition, account
// and mrk- id, the new region; its verification proves it is a replica of the home key's primary.
// A provider-managed organisation may add a region where the platform has a key.
func (s *Service) AddRegion(ctx context.Context, p domain.Principal, org domain.Org, in RegionInput) (domain.Region, error) {
	if err := s.CheckRegion(in.Region, domain.ProviderOf(org.KeyARN)); err != nil {
		return domain.Region{}, err
	}
	if org.HasRegion(in.Region) {
		return domain.Region{}, errRegionLinked(in.Region)
	}
	r := domain.Region{OrgID: org.ID, Region: in.Region}
	var made []grants.Made
	if org.Mode == domain.ModeProviderManaged {
		if (KeyRef{KeyARN: in.KeyARN, KeyID: in.KeyID}).given() || (KeyRef{KeyARN: in.BackupKeyARN, KeyID: in.BackupKeyID}).given() {
			return r, domain.Invalid("key_arn", "a provider-managed organisation uses the platform's key in every region: give no key_arn or backup_key_arn")
		}
		if s.cfg.ProviderRegion == nil || !s.cfg.ProviderRegion(in.Region) {
			return r, domain.Errorf(domain.KindInvalid, domain.CodeUnsupportedRegion,
				"the platform has no key in region %s, so a provider-managed organisation cannot use it", in.Region)
		}
	} else {
		keyARN, replicaOf, err := s.regionKey(org, in)
		if err != nil {
			return r, err
		}
		p, _ := s.cfg.Providers.Named(domain.ProviderOf(org.KeyARN))
		if r.BackupKeyARN, err = s.backupKey(p, KeyRef{KeyARN: in.BackupKeyARN, KeyID: in.BackupKeyID}, in.Region, "backup_key_id"); err != nil {
			return r, err
		}
		r.KeyARN = keyARN
		if made, err = s.verifyLinks(ctx, org.ID, in.Region, keyARN, replicaOf, r.BackupKeyARN); err != nil {
			return r, err
		}
	}
	err := s.cfg.Store.InTx(ctx, func(tx *store.Q) error {
		r.CreatedAt = tx.Now()
		if err := tx.InsertRegion(ctx, r); err != nil {
			return err
		}
		if err := tx.InsertEvent(ctx, domain.Event{OrgID: org.ID, Type: domain.EventRegionLinked, Actor: p.Actor(),
			Region: r.Region, Purpose: domain.PurposeData, Reason: r.KeyARN}); err != nil {
			return err
		}
		if err := insertVerified(ctx, tx, org.ID, p.Actor(), r); err != nil {
			return err
		}
		return grants.Record(ctx, tx, p.Actor(), s.cfg.DataPrincipal, made)
	})
	if err != nil {
		s.release(ctx, made)
		return r, err
	}
	r.Status = domain.KeyHealthy
	r = s.regionView(org, r)
	s.cfg.Logger.InfoContext(ctx, "region linked", "request_id", domain.RequestID(ctx), "org_id", org.ID, "region", r.Region,
		"key_arn", r.KeyARN, "backup_key_arn", r.BackupKeyARN)
	return r, nil
}

func errRegionLinked(region string) error {
	return domain.Errorf(domain.KindConflict, domain.CodeRegionAlreadyLinked,
		"the organisation already uses region %s; a region's key links are for good", region)
}

// regionKey is the data key a new region links: the key named, checked by the organisation's
// provider against the region, or, for AWS, the replica of the multi-region home key (and then
// the home key, which it must be a replica of).
func (s *Service) regionKey(org domain.Org, in RegionInput) (keyARN, replicaOf string, err error) {
	ref := KeyRef{Provider: domain.ProviderOf(org.KeyARN), KeyARN: in.KeyARN, KeyID: in.KeyID}
	if ref.given() {
		if err := sameProvider(org, in.KeyID+in.KeyARN, keyField(ref, "key_id")); err != nil {
			return "", "", err
		}
		p, key, err := s.resolve(ref, "key_id")
		if err != nil {
			return "", "", err
		}
		id, err := s.identify(p, key, in.Region, keyField(ref, "key_id"), false)
		return id, "", err
	}
	if ref.Provider != domain.ProviderAWS {
		return "", "", domain.Errorf(domain.KindInvalid, domain.CodeKeyIDRequired,
			"a %s key cannot be derived for another region: give key_id, the key to link in %s", ref.Provider, in.Region)
	}
	home, err := keyarn.Parse(org.KeyARN)
	if err != nil || !home.MultiRegion() {
		return "", "", domain.Errorf(domain.KindInvalid, domain.CodeKeyARNRequired,
			"the home key is a single-region key, so region %s needs its own: give key_arn, the full ARN of a key in %s", in.Region, in.Region)
	}
	a, err := s.cfg.Rules.Check(home.InRegion(in.Region).String(), in.Region)
	if err != nil {
		return "", "", arnError(err)
	}
	return a.String(), org.KeyARN, nil
}

// verifiedEvents are the key.verified events of the keys a new region links.
func verifiedEvents(orgID, actor string, r domain.Region) []domain.Event {
	var out []domain.Event
	r.OrgID = orgID
	for _, l := range r.Links() {
		out = append(out, domain.Event{OrgID: orgID, Type: domain.EventKeyVerified, Actor: actor,
			Region: r.Region, Purpose: l.Purpose, Reason: l.KeyARN})
	}
	return out
}

// insertVerified writes the key.verified events of the keys a new region links.
func insertVerified(ctx context.Context, tx *store.Q, orgID, actor string, r domain.Region) error {
	for _, e := range verifiedEvents(orgID, actor, r) {
		if err := tx.InsertEvent(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// verifyLinks proves the platform can use a region's data key (a derived replica of replicaOf, when
// that is set) and its backup key, when it has one that is another key. A failure the customer can
// fix is 422 key_verification_failed with the failed key's checks and purpose; KMS being unreachable
// is 503 kms_unreachable.
//
// In grant mode each verified key gets its grant (SPEC §12), returned for the transaction that links
// the keys to record; a backup key that is the data key itself is used through the data key's grant.
// When the backup key fails, the data key's new grant is retired again: nothing is left behind.
func (s *Service) verifyLinks(ctx context.Context, orgID, region, keyARN, replicaOf, backupARN string) ([]grants.Made, error) {
	var made []grants.Made
	data, err := s.verifyKey(ctx, s.linkRequest(orgID, region, domain.PurposeData, keyARN, replicaOf))
	if err != nil {
		return nil, err
	}
	made = grants.Kept(made, orgID, region, domain.PurposeData, data)
	if backupARN == "" || backupARN == keyARN {
		return made, nil
	}
	backup, err := s.verifyKey(ctx, s.linkRequest(orgID, region, domain.PurposeBackup, backupARN, ""))
	if err != nil {
		s.release(ctx, made)
		return nil, err
	}
	return grants.Kept(made, orgID, region, domain.PurposeBackup, backup), nil
}

// linkRequest is the verification of a key to link for purpose: in grant mode, with its grant.
func (s *Service) linkRequest(orgID, region, purpose, keyARN, replicaOf string) verify.Request {
	return grants.LinkRequest(s.cfg.Verifier.GrantMode(), orgID, region, purpose, keyARN, replicaOf)
}

// release retires the new grants of links that were not stored after all.
func (s *Service) release(ctx context.Context, made []grants.Made) {
	s.cfg.Grants.ReleaseNew(ctx, made)
}

func (s *Service) verifyKey(ctx context.Context, req verify.Request) (verify.Report, error) {
	report := s.cfg.Verifier.Run(ctx, req)
	return report, verify.Failure(report, req.Purpose)
}

// Regions lists the regions an organisation uses, home first, as its tenants see them.
func (s *Service) Regions(ctx context.Context, org domain.Org) ([]domain.Region, error) {
	list, err := s.cfg.Store.Regions(ctx, org.ID)
	for i := range list {
		list[i] = s.regionView(org, list[i])
	}
	return list, err
}

// regionView is a region as the organisation's tenants see it: a provider_managed organisation's
// regions use the platform's keys, which are never shown to them; their status is that key's.
func (s *Service) regionView(org domain.Org, r domain.Region) domain.Region {
	r.Home = r.Region == org.Region
	if org.Mode == domain.ModeProviderManaged {
		r.KeyARN, r.BackupKeyARN = "", ""
		if s.cfg.Health != nil {
			r.Status = s.cfg.Health.ProviderKeyStatus(r.Region)
		}
	}
	return r
}

// regionName says s may name a region of any provider: AWS's us-west-2, Google Cloud's us-central1,
// Azure's eastus.
func regionName(s string) bool {
	return s != "" && len(s) <= 32 && strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == ""
}

// Region reads one region of an organisation.
func (s *Service) Region(ctx context.Context, org domain.Org, region string) (domain.Region, error) {
	if !regionName(region) {
		return domain.Region{}, domain.NotFound("region") // names no region: never reaches a query
	}
	r, err := s.cfg.Store.Region(ctx, org.ID, region)
	return s.regionView(org, r), err
}
