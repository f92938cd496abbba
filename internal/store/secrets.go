package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cmekd/cmekd/internal/domain"
)

const scopeColumns = `id, org_id, name, created_by, created_at`

func scanScope(r pgx.Row) (domain.SecretScope, error) {
	var s domain.SecretScope
	err := r.Scan(&s.ID, &s.OrgID, &s.Name, &s.CreatedBy, &s.CreatedAt)
	s.CreatedAt = s.CreatedAt.UTC()
	return s, translateMissing(err, "secret scope")
}

// InsertScope stores a new secret scope.
func (q *Q) InsertScope(ctx context.Context, s domain.SecretScope) error {
	_, err := q.db.Exec(ctx, `INSERT INTO secret_scopes (`+scopeColumns+`) VALUES ($1, $2, $3, $4, $5)`,
		s.ID, s.OrgID, s.Name, s.CreatedBy, s.CreatedAt)
	return translate(err)
}

// Scope reads one secret scope of the organisation by name.
func (q *Q) Scope(ctx context.Context, orgID, name string) (domain.SecretScope, error) {
	return scanScope(q.db.QueryRow(ctx, `SELECT `+scopeColumns+` FROM secret_scopes WHERE org_id = $1 AND name = $2`, orgID, name))
}

// ShareScope reads a scope by id under a shared lock, so that its deletion waits for this
// transaction's writes into it (or they find it gone).
func (q *Q) ShareScope(ctx context.Context, orgID, id string) (domain.SecretScope, error) {
	return scanScope(q.db.QueryRow(ctx, `SELECT `+scopeColumns+` FROM secret_scopes WHERE org_id = $1 AND id = $2 FOR SHARE`, orgID, id))
}

// Scopes lists the organisation's scopes, oldest first: all of them when holder is empty, else those
// on which holder has a role.
func (q *Q) Scopes(ctx context.Context, orgID, holder string, page domain.Page) ([]domain.SecretScope, string, error) {
	return list(ctx, q, page, func(after cursor, limit int) (string, []any) {
		return `SELECT ` + scopeColumns + ` FROM secret_scopes s
WHERE org_id = $1 AND (created_at, id) > ($2, $3)
  AND ($5 = '' OR EXISTS (SELECT 1 FROM secret_scope_roles r WHERE r.scope_id = s.id AND r.principal = $5))
ORDER BY created_at, id LIMIT $4`, []any{orgID, after.At, after.ID, limit, holder}
	}, scanScope, func(s domain.SecretScope) cursor { return cursor{At: s.CreatedAt, ID: s.ID} })
}

// DeleteScope removes a scope with its secrets and role assignments; its data keys are the keyring's
// to delete (DeleteDataKeys), in the same transaction.
func (q *Q) DeleteScope(ctx context.Context, orgID, id string) error {
	return q.changeOne(ctx, "secret scope", `DELETE FROM secret_scopes WHERE org_id = $1 AND id = $2`, orgID, id)
}

// ScopeRole is holder's role on a scope; the zero role when it has none.
func (q *Q) ScopeRole(ctx context.Context, scopeID, holder string) (domain.ScopeRole, error) {
	var role string
	err := q.db.QueryRow(ctx, `SELECT role FROM secret_scope_roles WHERE scope_id = $1 AND principal = $2`, scopeID, holder).Scan(&role)
	if err := translate(err); errors.Is(err, domain.ErrNotFound) {
		return "", nil
	} else if err != nil {
		return "", err
	}
	return domain.ScopeRole(role), nil
}

// ScopeRoles lists a scope's role assignments by principal.
func (q *Q) ScopeRoles(ctx context.Context, scopeID string) ([]domain.RoleAssignment, error) {
	rows, err := q.db.Query(ctx, `SELECT principal, role FROM secret_scope_roles WHERE scope_id = $1 ORDER BY principal`, scopeID)
	if err != nil {
		return nil, translate(err)
	}
	return collect(rows, func(r pgx.Row) (domain.RoleAssignment, error) {
		var a domain.RoleAssignment
		var role string
		err := r.Scan(&a.Principal, &role)
		a.Role = domain.ScopeRole(role)
		return a, err
	})
}

// PutScopeRole gives holder role on a scope, replacing any role it had; workspaceID names the
// workspace of a "workspace:<name>" holder, so that deleting the workspace removes the assignment.
func (q *Q) PutScopeRole(ctx context.Context, scopeID string, a domain.RoleAssignment, workspaceID string) error {
	_, err := q.db.Exec(ctx, `
INSERT INTO secret_scope_roles (scope_id, principal, workspace_id, role) VALUES ($1, $2, $3, $4)
ON CONFLICT (scope_id, principal) DO UPDATE SET role = excluded.role, workspace_id = excluded.workspace_id`,
		scopeID, a.Principal, nullable(workspaceID), string(a.Role))
	return translate(err)
}

// DeleteScopeRole removes holder's role on a scope and returns the role it had.
func (q *Q) DeleteScopeRole(ctx context.Context, scopeID, holder string) (domain.ScopeRole, error) {
	var role string
	err := q.db.QueryRow(ctx, `DELETE FROM secret_scope_roles WHERE scope_id = $1 AND principal = $2 RETURNING role`, scopeID, holder).Scan(&role)
	if err != nil {
		return "", translateMissing(err, "role assignment")
	}
	return domain.ScopeRole(role), nil
}

// SealedSecret is a secret as stored: ciphertext only.
type SealedSecret struct {
	Seq                  int64
	ScopeID, Key, OrgID  string
	Version              int
	DataKeyID            string
	AADVersion           int // the keyring AAD version the value was sealed with
	Nonce, Ciphertext    []byte
	CreatedAt, UpdatedAt time.Time
}

// Meta is what may be shown of the secret without its value.
func (s SealedSecret) Meta() domain.SecretMeta {
	return domain.SecretMeta{Key: s.Key, Version: s.Version, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt}
}

const secretColumns = `seq, scope_id, key, org_id, version, data_key_id, aad_version, nonce, ciphertext, created_at, updated_at`

func scanSecret(r pgx.Row) (SealedSecret, error) {
	var s SealedSecret
	err := r.Scan(&s.Seq, &s.ScopeID, &s.Key, &s.OrgID, &s.Version, &s.DataKeyID, &s.AADVersion, &s.Nonce, &s.Ciphertext, &s.CreatedAt, &s.UpdatedAt)
	s.CreatedAt, s.UpdatedAt = s.CreatedAt.UTC(), s.UpdatedAt.UTC()
	return s, translateMissing(err, "secret")
}

// SecretVersion is the current version of a scope's key, 0 when the key has no secret.
func (q *Q) SecretVersion(ctx context.Context, scopeID, key string) (int, error) {
	var v int
	err := q.db.QueryRow(ctx, `SELECT version FROM secrets WHERE scope_id = $1 AND key = $2`, scopeID, key).Scan(&v)
	if err := translate(err); errors.Is(err, domain.ErrNotFound) {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	return v, nil
}

// PutSecret stores s as the next version of its key when the key's current version is still
// s.Version-1 (0: no secret yet), counting it against its data key. It reports false, storing
// nothing, when another write got there first. Created keeps the first version's time.
func (q *Q) PutSecret(ctx context.Context, s SealedSecret) (SealedSecret, bool, error) {
	out, err := scanSecret(q.db.QueryRow(ctx, `
INSERT INTO secrets (scope_id, key, org_id, version, data_key_id, nonce, ciphertext, created_at, updated_at, aad_version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)
ON CONFLICT (scope_id, key) DO UPDATE
SET version = excluded.version, data_key_id = excluded.data_key_id, aad_version = excluded.aad_version, nonce = excluded.nonce,
    ciphertext = excluded.ciphertext, updated_at = excluded.updated_at
WHERE secrets.version = excluded.version - 1
RETURNING `+secretColumns, s.ScopeID, s.Key, s.OrgID, s.Version, s.DataKeyID, s.Nonce, s.Ciphertext, s.UpdatedAt, s.AADVersion))
	if errors.Is(err, domain.ErrNotFound) {
		return out, false, nil
	} else if err != nil {
		return out, false, err
	}
	return out, true, q.AddUses(ctx, map[string]int{s.DataKeyID: 1})
}

// Secret reads one sealed secret of a scope.
func (q *Q) Secret(ctx context.Context, scopeID, key string) (SealedSecret, error) {
	return scanSecret(q.db.QueryRow(ctx, `SELECT `+secretColumns+` FROM secrets WHERE scope_id = $1 AND key = $2`, scopeID, key))
}

// Secrets lists a scope's secrets in the order their keys were first written.
func (q *Q) Secrets(ctx context.Context, scopeID string, page domain.Page) ([]domain.SecretMeta, string, error) {
	sealed, next, err := list(ctx, q, page, func(after cursor, limit int) (string, []any) {
		return `SELECT ` + secretColumns + ` FROM secrets WHERE scope_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
			[]any{scopeID, after.Seq, limit}
	}, scanSecret, func(s SealedSecret) cursor { return cursor{Seq: s.Seq} })
	if err != nil {
		return nil, "", err
	}
	out := make([]domain.SecretMeta, len(sealed))
	for i, s := range sealed {
		out[i] = s.Meta()
	}
	return out, next, nil
}

// DeleteSecret removes a scope's secret and returns the version it had.
func (q *Q) DeleteSecret(ctx context.Context, scopeID, key string) (int, error) {
	var v int
	err := q.db.QueryRow(ctx, `DELETE FROM secrets WHERE scope_id = $1 AND key = $2 RETURNING version`, scopeID, key).Scan(&v)
	if err != nil {
		return 0, translateMissing(err, "secret")
	}
	return v, nil
}
