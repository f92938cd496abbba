package store

import (
	"context"

	"github.com/cmekd/cmekd/internal/domain"
)

// LockOrg locks an organisation's row until the transaction ends, so that what is counted of it next
// stays true until then: rows that reference the organisation cannot be inserted meanwhile (their
// foreign key check waits), and another LockOrg waits.
func (q *Q) LockOrg(ctx context.Context, orgID string) error {
	var one int
	err := q.db.QueryRow(ctx, `SELECT 1 FROM orgs WHERE id = $1 FOR UPDATE`, orgID).Scan(&one)
	return translateMissing(err, "organisation")
}

// OrgHoldings counts what deleting an organisation destroys: its data keys (of every purpose) and its
// backups.
func (q *Q) OrgHoldings(ctx context.Context, orgID string) (dataKeys, backups int, err error) {
	err = q.db.QueryRow(ctx, `SELECT (SELECT count(*) FROM data_keys WHERE org_id = $1), (SELECT count(*) FROM backups WHERE org_id = $1)`,
		orgID).Scan(&dataKeys, &backups)
	return dataKeys, backups, translate(err)
}

// Limited is what a per-organisation limit counts.
type Limited int

// What per-organisation limits count.
const (
	LimitedTokens Limited = iota
	LimitedWebhooks
	LimitedCollections
	LimitedSecretScopes
	LimitedWorkspaces
)

// limited is what each limit counts: its name in the refusal, and the statement that counts it.
var limited = [...]struct{ name, count string }{
	LimitedTokens:       {"tokens", `SELECT count(*) FROM tokens WHERE org_id = $1 AND revoked_at IS NULL`},
	LimitedWebhooks:     {"webhooks", `SELECT count(*) FROM webhooks WHERE org_id = $1`},
	LimitedCollections:  {"collections", `SELECT count(*) FROM collections WHERE org_id = $1`},
	LimitedSecretScopes: {"secret scopes", `SELECT count(*) FROM secret_scopes WHERE org_id = $1`},
	LimitedWorkspaces:   {"workspaces", `SELECT count(*) FROM workspaces WHERE org_id = $1`},
}

// WithinLimit refuses one more of what the organisation holds when it already holds limit of them
// (domain.WithinLimit; zero is no limit), for a transaction that then creates one more. It counts
// them: it first locks the organisation's row against other such counts (not against the rest of its
// work: rows referencing it can still be inserted), so that concurrent creations count one after the
// other and cannot pass the limit together. The count is a statement of its own, run once the lock is
// held, so it sees what the creation before it committed.
func (q *Q) WithinLimit(ctx context.Context, what Limited, orgID string, limit int) error {
	var one, n int
	err := q.db.QueryRow(ctx, `SELECT 1 FROM orgs WHERE id = $1 FOR NO KEY UPDATE`, orgID).Scan(&one)
	if err != nil {
		return translateMissing(err, "organisation")
	}
	if err := q.db.QueryRow(ctx, limited[what].count, orgID).Scan(&n); err != nil {
		return translate(err)
	}
	return domain.WithinLimit(limited[what].name, limit, n)
}

// InTxWithin runs fn in a transaction (InTx) once WithinLimit lets the organisation hold one more of
// what: the transaction of a creation that a per-organisation limit bounds.
func (s *Store) InTxWithin(ctx context.Context, what Limited, orgID string, limit int, fn func(*Q) error) error {
	return s.InTx(ctx, func(tx *Q) error {
		if err := tx.WithinLimit(ctx, what, orgID, limit); err != nil {
			return err
		}
		return fn(tx)
	})
}

// CountScopeSecretsForLimit is WithinLimit's count of a scope's keys: it locks the scope's row as ShareScope
// does, but against other such counts too, and counts its keys.
func (q *Q) CountScopeSecretsForLimit(ctx context.Context, orgID, scopeID string) (int, error) {
	var one, n int
	err := q.db.QueryRow(ctx, `SELECT 1 FROM secret_scopes WHERE org_id = $1 AND id = $2 FOR NO KEY UPDATE`, orgID, scopeID).Scan(&one)
	if err != nil {
		return 0, translateMissing(err, "secret scope")
	}
	err = q.db.QueryRow(ctx, `SELECT count(*) FROM secrets WHERE scope_id = $1`, scopeID).Scan(&n)
	return n, translate(err)
}
