package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cmekd/cmekd/internal/domain"
)

// orgSelect reads an organisation with its home region's data key and that key's health, the
// regions it uses (home first) and all its key links, in one statement.
const orgSelect = `
SELECT o.id, o.name, o.region, o.encryption_mode, coalesce(k.key_arn, ''), coalesce(h.status, 'unknown'), o.created_at,
       ARRAY(SELECT r.region FROM org_regions r WHERE r.org_id = o.id ORDER BY r.region <> o.region, r.created_at, r.region),
       ARRAY(SELECT l.region || ' ' || l.purpose || ' ' || l.key_arn FROM key_links l WHERE l.org_id = o.id ORDER BY l.region, l.purpose)
FROM orgs o
LEFT JOIN key_links k ON k.org_id = o.id AND k.region = o.region AND k.purpose = 'data'
LEFT JOIN key_health h ON h.org_id = o.id AND h.region = o.region AND h.purpose = 'data'`

func scanOrg(row pgx.Row) (domain.Org, error) {
	var o domain.Org
	var links []string
	err := row.Scan(&o.ID, &o.Name, &o.Region, &o.Mode, &o.KeyARN, &o.KeyStatus, &o.CreatedAt, &o.Regions, &links)
	if o.Mode == domain.ModeProviderManaged {
		o.KeyStatus = domain.KeyHealthy
	}
	for _, l := range links {
		// region, purpose and ARN hold no spaces: the region is checked and the ARN rule-bound.
		if f := strings.SplitN(l, " ", 3); len(f) == 3 {
			o.Links = append(o.Links, domain.KeyLink{OrgID: o.ID, Region: f[0], Purpose: f[1], KeyARN: f[2]})
		}
	}
	o.BackupKeyARN, _ = o.LinkedKey(o.Region, domain.PurposeBackup)
	o.CreatedAt = o.CreatedAt.UTC()
	return o, translate(err)
}

// InsertOrg stores a new organisation with its home region and, for customer_managed, that region's
// data key link (and backup key link, when it names one) with their health rows (healthy: the keys
// were just verified), and events, as one batch of writes (Q.write): inside the caller's transaction
// they go out with its next statement or its COMMIT, which answers with their error.
func (q *Q) InsertOrg(ctx context.Context, o domain.Org, events ...domain.Event) error {
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO orgs (id, name, region, encryption_mode, created_at) VALUES ($1, $2, $3, $4, $5)`,
		o.ID, o.Name, o.Region, o.Mode, o.CreatedAt)
	b.Queue(insertRegionSQL, o.ID, o.Region, o.CreatedAt)
	for _, l := range (domain.Region{OrgID: o.ID, Region: o.Region, KeyARN: o.KeyARN, BackupKeyARN: o.BackupKeyARN, CreatedAt: o.CreatedAt}).Links() {
		b.Queue(insertKeyLinkSQL, l.OrgID, l.Region, l.Purpose, l.KeyARN, l.CreatedAt)
		b.Queue(insertKeyHealthSQL, l.OrgID, l.Region, l.Purpose, l.CreatedAt)
	}
	for _, e := range events {
		b.Queue(insertEventSQL, q.eventArgs(e)...)
	}
	return q.write(ctx, b)
}

const (
	insertRegionSQL    = `INSERT INTO org_regions (org_id, region, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`
	insertKeyLinkSQL   = `INSERT INTO key_links (org_id, region, purpose, key_arn, created_at) VALUES ($1, $2, $3, $4, $5)`
	insertKeyHealthSQL = `
INSERT INTO key_health (org_id, region, purpose, status, last_probe_at, last_ok_at, next_probe_at)
VALUES ($1, $2, $3, 'healthy', $4, $4, $4)
ON CONFLICT (org_id, region, purpose) DO NOTHING`
)

// InsertRegion records a region the organisation uses with its key links: the data key (none for a
// provider-managed organisation) and the backup key, when named. A region already there is
// region_already_linked.
func (q *Q) InsertRegion(ctx context.Context, r domain.Region) error {
	tag, err := q.db.Exec(ctx, insertRegionSQL, r.OrgID, r.Region, r.CreatedAt)
	if err != nil {
		return translate(err)
	}
	if tag.RowsAffected() == 0 {
		return domain.Errorf(domain.KindConflict, domain.CodeRegionAlreadyLinked, "the organisation already uses region %s; its key links are for good", r.Region)
	}
	for _, l := range r.Links() {
		if err := q.InsertKeyLink(ctx, l); err != nil {
			return err
		}
	}
	return nil
}

// InsertKeyLink links a key for good, with its health row; it never updates an existing link.
func (q *Q) InsertKeyLink(ctx context.Context, l domain.KeyLink) error {
	if _, err := q.db.Exec(ctx, insertKeyLinkSQL, l.OrgID, l.Region, l.Purpose, l.KeyARN, l.CreatedAt); err != nil {
		return translate(err)
	}
	_, err := q.db.Exec(ctx, insertKeyHealthSQL, l.OrgID, l.Region, l.Purpose, l.CreatedAt)
	return translate(err)
}

const regionSelect = `
SELECT r.org_id, r.region, r.region = o.region, coalesce(d.key_arn, ''), coalesce(b.key_arn, ''),
       CASE WHEN o.encryption_mode = 'provider_managed' THEN 'healthy' ELSE coalesce(h.status, 'unknown') END, r.created_at
FROM org_regions r
JOIN orgs o ON o.id = r.org_id
LEFT JOIN key_links d ON d.org_id = r.org_id AND d.region = r.region AND d.purpose = 'data'
LEFT JOIN key_links b ON b.org_id = r.org_id AND b.region = r.region AND b.purpose = 'backup'
LEFT JOIN key_health h ON h.org_id = r.org_id AND h.region = r.region AND h.purpose = 'data'`

func scanRegion(row pgx.Row) (domain.Region, error) {
	var r domain.Region
	err := row.Scan(&r.OrgID, &r.Region, &r.Home, &r.KeyARN, &r.BackupKeyARN, &r.Status, &r.CreatedAt)
	r.CreatedAt = r.CreatedAt.UTC()
	return r, translate(err)
}

// Regions lists the regions an organisation uses, home first, then in the order they were added.
func (q *Q) Regions(ctx context.Context, orgID string) ([]domain.Region, error) {
	rows, err := q.db.Query(ctx, regionSelect+` WHERE r.org_id = $1 ORDER BY r.region <> o.region, r.created_at, r.region`, orgID)
	if err != nil {
		return nil, translate(err)
	}
	return collect(rows, scanRegion)
}

// Region reads one region of an organisation.
func (q *Q) Region(ctx context.Context, orgID, region string) (domain.Region, error) {
	r, err := scanRegion(q.db.QueryRow(ctx, regionSelect+` WHERE r.org_id = $1 AND r.region = $2`, orgID, region))
	if errors.Is(err, domain.ErrNotFound) {
		return r, domain.NotFound("region")
	}
	return r, err
}

// Org reads one organisation.
func (q *Q) Org(ctx context.Context, id string) (domain.Org, error) {
	o, err := scanOrg(q.db.QueryRow(ctx, orgSelect+` WHERE o.id = $1`, id))
	if errors.Is(err, domain.ErrNotFound) {
		return o, domain.NotFound("organisation")
	}
	return o, err
}

// Orgs lists organisations oldest first, after the cursor; only is a filter for one id (an
// organisation token lists its own).
func (q *Q) Orgs(ctx context.Context, page domain.Page, only string) ([]domain.Org, string, error) {
	return list(ctx, q, page, func(after cursor, limit int) (string, []any) {
		return orgSelect + `
WHERE ($1 = '' OR o.id = $1) AND (o.created_at, o.id) > ($2, $3)
ORDER BY o.created_at, o.id LIMIT $4`, []any{only, after.At, after.ID, limit}
	}, scanOrg, func(o domain.Org) cursor { return cursor{At: o.CreatedAt, ID: o.ID} })
}

// RenameOrg changes an organisation's name.
func (q *Q) RenameOrg(ctx context.Context, id, name string) error {
	tag, err := q.db.Exec(ctx, `UPDATE orgs SET name = $2 WHERE id = $1`, id, name)
	if err != nil {
		return translate(err)
	}
	if tag.RowsAffected() == 0 {
		return domain.NotFound("organisation")
	}
	return nil
}

// DeleteOrg removes an organisation with everything it owns (key links, tokens, collections,
// documents); its events stay on record.
func (q *Q) DeleteOrg(ctx context.Context, id string) error {
	tag, err := q.db.Exec(ctx, `DELETE FROM orgs WHERE id = $1`, id)
	if err != nil {
		return translate(err)
	}
	if tag.RowsAffected() == 0 {
		return domain.NotFound("organisation")
	}
	return nil
}

// LinkedAccounts lists the AWS accounts of the keys an organisation has linked.
func (q *Q) LinkedAccounts(ctx context.Context, orgID string) ([]string, error) {
	rows, err := q.db.Query(ctx, `SELECT DISTINCT split_part(key_arn, ':', 5) FROM key_links WHERE org_id = $1 ORDER BY 1`, orgID)
	if err != nil {
		return nil, translate(err)
	}
	return collect(rows, func(r pgx.Row) (string, error) {
		var a string
		return a, r.Scan(&a)
	})
}

// LinkedKeys are the ids of every key the organisation links, all regions and purposes.
func (q *Q) LinkedKeys(ctx context.Context, orgID string) ([]string, error) {
	rows, err := q.db.Query(ctx, `SELECT DISTINCT key_arn FROM key_links WHERE org_id = $1 ORDER BY 1`, orgID)
	if err != nil {
		return nil, translate(err)
	}
	return collect(rows, func(r pgx.Row) (string, error) {
		var k string
		return k, r.Scan(&k)
	})
}

// utc normalises a nullable time read from the database.
func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
