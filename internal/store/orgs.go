package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cmekd/cmekd/internal/domain"
)

// orgColumns reads an organisation with its home region's data key and that key's health.
const orgSelect = `
SELECT o.id, o.name, o.region, o.encryption_mode, coalesce(k.key_arn, ''), coalesce(h.status, 'unknown'), o.created_at
FROM orgs o
LEFT JOIN key_links k ON k.org_id = o.id AND k.region = o.region AND k.purpose = 'data'
LEFT JOIN key_health h ON h.org_id = o.id AND h.region = o.region`

func scanOrg(row pgx.Row) (domain.Org, error) {
	var o domain.Org
	err := row.Scan(&o.ID, &o.Name, &o.Region, &o.Mode, &o.KeyARN, &o.KeyStatus, &o.CreatedAt)
	if o.Mode == domain.ModeProviderManaged {
		o.KeyStatus = domain.KeyHealthy
	}
	o.CreatedAt = o.CreatedAt.UTC()
	return o, translate(err)
}

// InsertOrg stores a new organisation and, for customer_managed, its home region's data key link and
// that key's health row (healthy: the key was just verified).
func (q *Q) InsertOrg(ctx context.Context, o domain.Org) error {
	if _, err := q.db.Exec(ctx, `INSERT INTO orgs (id, name, region, encryption_mode, created_at) VALUES ($1, $2, $3, $4, $5)`,
		o.ID, o.Name, o.Region, o.Mode, o.CreatedAt); err != nil {
		return translate(err)
	}
	if o.Mode != domain.ModeCustomerManaged {
		return nil
	}
	return q.InsertKeyLink(ctx, domain.KeyLink{OrgID: o.ID, Region: o.Region, Purpose: domain.PurposeData, KeyARN: o.KeyARN, CreatedAt: o.CreatedAt})
}

// InsertKeyLink links a key for good; it never updates an existing link.
func (q *Q) InsertKeyLink(ctx context.Context, l domain.KeyLink) error {
	_, err := q.db.Exec(ctx, `INSERT INTO key_links (org_id, region, purpose, key_arn, created_at) VALUES ($1, $2, $3, $4, $5)`,
		l.OrgID, l.Region, l.Purpose, l.KeyARN, l.CreatedAt)
	if err != nil {
		return translate(err)
	}
	if l.Purpose != domain.PurposeData {
		return nil
	}
	_, err = q.db.Exec(ctx, `
INSERT INTO key_health (org_id, region, status, last_probe_at, last_ok_at, next_probe_at)
VALUES ($1, $2, 'healthy', $3, $3, $3)
ON CONFLICT (org_id, region) DO NOTHING`, l.OrgID, l.Region, l.CreatedAt)
	return translate(err)
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

// utc normalises a nullable time read from the database.
func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
