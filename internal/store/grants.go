package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cmekd/cmekd/internal/domain"
)

const grantColumns = `grant_id, org_id, name, key_arn, region, purpose, grantee_principal, operations, status, created_at`

func scanGrant(r pgx.Row) (domain.Grant, error) {
	var g domain.Grant
	err := r.Scan(&g.ID, &g.OrgID, &g.Name, &g.KeyARN, &g.Region, &g.Purpose, &g.GranteePrincipal, &g.Operations, &g.Status, &g.CreatedAt)
	g.CreatedAt = g.CreatedAt.UTC()
	return g, translate(err)
}

// InsertGrant records an active grant of a linked key; CreatedAt is filled in when zero.
// A grant already on record (KMS answers a named grant again while it exists) is left as it is, and
// inserted is false.
func (q *Q) InsertGrant(ctx context.Context, g domain.Grant) (inserted bool, err error) {
	if g.CreatedAt.IsZero() {
		g.CreatedAt = q.Now()
	}
	tag, err := q.db.Exec(ctx, `
INSERT INTO grants (grant_id, org_id, name, key_arn, region, purpose, grantee_principal, operations, status, created_at, grant_token)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active', $9, $10)
ON CONFLICT (grant_id) DO NOTHING`,
		g.ID, g.OrgID, g.Name, g.KeyARN, g.Region, g.Purpose, g.GranteePrincipal, g.Operations, g.CreatedAt, g.Token)
	if err != nil {
		return false, translate(err)
	}
	return tag.RowsAffected() == 1, nil
}

// Grants lists an organisation's grants, newest first, whatever their status.
func (q *Q) Grants(ctx context.Context, orgID string) ([]domain.Grant, error) {
	rows, err := q.db.Query(ctx, `SELECT `+grantColumns+` FROM grants WHERE org_id = $1 ORDER BY created_at DESC, grant_id`, orgID)
	if err != nil {
		return nil, translate(err)
	}
	return collect(rows, scanGrant)
}

// ActiveGrant is the active grant of one linked key, locked for the transaction's renewal of it;
// false when it has none.
func (q *Q) ActiveGrant(ctx context.Context, orgID, region, purpose string) (domain.Grant, bool, error) {
	g, err := scanGrant(q.db.QueryRow(ctx, `SELECT `+grantColumns+` FROM grants
WHERE org_id = $1 AND region = $2 AND purpose = $3 AND status = 'active' FOR UPDATE`, orgID, region, purpose))
	if errors.Is(err, domain.ErrNotFound) {
		return g, false, nil
	}
	return g, err == nil, err
}

// GrantKept reports whether a grant is on record as the active grant of a linked key.
func (q *Q) GrantKept(ctx context.Context, grantID string) (bool, error) {
	var kept bool
	err := q.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM grants WHERE grant_id = $1 AND status = 'active')`, grantID).Scan(&kept)
	return kept, translate(err)
}

// RecentGrantTokens lists the active grants made after since that have a token, with their key,
// token and creation time only.
func (q *Q) RecentGrantTokens(ctx context.Context, since time.Time) ([]domain.Grant, error) {
	rows, err := q.db.Query(ctx, `SELECT grant_id, key_arn, grant_token, created_at FROM grants
WHERE status = 'active' AND created_at > $1 AND grant_token <> '' ORDER BY created_at`, since)
	if err != nil {
		return nil, translate(err)
	}
	return collect(rows, func(r pgx.Row) (domain.Grant, error) {
		var g domain.Grant
		err := r.Scan(&g.ID, &g.KeyARN, &g.Token, &g.CreatedAt)
		return g, err
	})
}

// SetGrantRetired records that a grant is gone from KMS (retired, or revoked by the customer).
func (q *Q) SetGrantRetired(ctx context.Context, grantID string) error {
	_, err := q.db.Exec(ctx, `UPDATE grants SET status = 'retired', retired_at = $2, lease_owner = '', lease_until = NULL
WHERE grant_id = $1`, grantID, q.Now())
	return translate(err)
}

// QueueOrgGrantRetirements marks every active grant of an organisation for retirement and returns
// how many. The rows do not go with the organisation: they are the retirement worker's outbox.
func (q *Q) QueueOrgGrantRetirements(ctx context.Context, orgID string) (int, error) {
	tag, err := q.db.Exec(ctx, `UPDATE grants SET status = 'retiring', next_attempt_at = $2
WHERE org_id = $1 AND status = 'active'`, orgID, q.Now())
	if err != nil {
		return 0, translate(err)
	}
	return int(tag.RowsAffected()), nil
}

// QueueGrantRetirement puts a grant that was never on record (a failed verification's, whose
// retirement failed) into the retirement worker's outbox. A grant already there is left alone.
func (q *Q) QueueGrantRetirement(ctx context.Context, grantID, keyARN, region string) error {
	now := q.Now()
	_, err := q.db.Exec(ctx, `
INSERT INTO grants (grant_id, org_id, name, key_arn, region, purpose, grantee_principal, operations, status, created_at,
                    next_attempt_at, announced)
VALUES ($1, '', '', $2, $3, '', '', '{}', 'retiring', $4, $4, false)
ON CONFLICT (grant_id) DO NOTHING`, grantID, keyARN, region, now)
	return translate(err)
}

// GrantRetirement is a grant the retirement worker claimed.
type GrantRetirement struct {
	domain.Grant
	// Attempts are the failed retirements so far.
	Attempts int
	// Announced says the grant was the organisation's on record: its retirement is an event.
	Announced bool
}

// ClaimGrantRetirements leases up to limit grants that are due for retirement to owner until now+lease:
// none that another replica holds is taken, so each is retired by one replica at a time.
func (q *Q) ClaimGrantRetirements(ctx context.Context, owner string, lease time.Duration, limit int) ([]GrantRetirement, error) {
	now := q.Now()
	rows, err := q.db.Query(ctx, `
UPDATE grants SET lease_owner = $1, lease_until = $2
WHERE grant_id IN (
    SELECT grant_id FROM grants
    WHERE status = 'retiring' AND next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until < $3)
    ORDER BY next_attempt_at LIMIT $4
    FOR UPDATE SKIP LOCKED)
RETURNING `+grantColumns+`, attempts, announced`, owner, now.Add(lease), now, limit)
	if err != nil {
		return nil, translate(err)
	}
	return collect(rows, func(r pgx.Row) (GrantRetirement, error) {
		var g GrantRetirement
		err := r.Scan(&g.ID, &g.OrgID, &g.Name, &g.KeyARN, &g.Region, &g.Purpose, &g.GranteePrincipal, &g.Operations, &g.Status,
			&g.CreatedAt, &g.Attempts, &g.Announced)
		g.CreatedAt = g.CreatedAt.UTC()
		return g, err
	})
}

// FinishGrantRetirement marks a claimed grant retired, if owner still holds its lease; false means
// the lease was lost (another replica may retire it: nothing is recorded twice).
func (q *Q) FinishGrantRetirement(ctx context.Context, grantID, owner string) (bool, error) {
	tag, err := q.db.Exec(ctx, `UPDATE grants SET status = 'retired', retired_at = $3, lease_owner = '', lease_until = NULL
WHERE grant_id = $1 AND status = 'retiring' AND lease_owner = $2`, grantID, owner, q.Now())
	if err != nil {
		return false, translate(err)
	}
	return tag.RowsAffected() == 1, nil
}

// FailGrantRetirement records a failed retirement of a claimed grant and when to try again.
func (q *Q) FailGrantRetirement(ctx context.Context, grantID, owner, message string, next time.Time) error {
	_, err := q.db.Exec(ctx, `UPDATE grants SET attempts = attempts + 1, last_error = $3, next_attempt_at = $4,
    lease_owner = '', lease_until = NULL
WHERE grant_id = $1 AND status = 'retiring' AND lease_owner = $2`, grantID, owner, message, next)
	return translate(err)
}
