package store

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/cmekd/cmekd/internal/domain"
)

// LockOrg locks an organisation's row until the transaction ends, so that what is counted of it next
// stays true until then: rows that reference the organisation cannot be inserted meanwhile (their
// foreign key check waits), and another LockOrg waits.
func (q *Q) LockOrg(ctx context.Context, orgID string) error {
	var one int
	err := q.db.QueryRow(ctx, `SELECT 1 FROM orgs WHERE id = $1 FOR UPDATE`, orgID).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.NotFound("organisation")
	}
	return translate(err)
}

// OrgHoldings counts what deleting an organisation destroys: its data keys (of every purpose) and its
// backups.
func (q *Q) OrgHoldings(ctx context.Context, orgID string) (dataKeys, backups int, err error) {
	err = q.db.QueryRow(ctx, `SELECT (SELECT count(*) FROM data_keys WHERE org_id = $1), (SELECT count(*) FROM backups WHERE org_id = $1)`,
		orgID).Scan(&dataKeys, &backups)
	return dataKeys, backups, translate(err)
}
