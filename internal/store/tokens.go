package store

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/cmekd/cmekd/internal/domain"
)

// InsertToken stores a token by the hash of its secret.
func (q *Q) InsertToken(ctx context.Context, tok domain.Token, secretHash []byte) error {
	_, err := q.db.Exec(ctx, `INSERT INTO tokens (id, org_id, name, role, secret_hash, created_at, workspace_id) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		tok.ID, tok.OrgID, tok.Name, string(tok.Role), secretHash, tok.CreatedAt, nullable(tok.WorkspaceID))
	return translate(err)
}

// tokenSelect reads a token with the name of its workspace, if it has one.
const tokenSelect = `
SELECT t.id, t.org_id, t.name, t.role, t.created_at, coalesce(t.workspace_id, ''), coalesce(w.name, '')
FROM tokens t LEFT JOIN workspaces w ON w.id = t.workspace_id`

// TokenByHash finds the live token whose secret hashes to h.
func (q *Q) TokenByHash(ctx context.Context, h []byte) (domain.Token, error) {
	return scanToken(q.db.QueryRow(ctx, tokenSelect+` WHERE t.secret_hash = $1 AND t.revoked_at IS NULL`, h))
}

// Token reads one live token of the organisation.
func (q *Q) Token(ctx context.Context, orgID, id string) (domain.Token, error) {
	t, err := scanToken(q.db.QueryRow(ctx, tokenSelect+` WHERE t.org_id = $1 AND t.id = $2 AND t.revoked_at IS NULL`, orgID, id))
	return t, translateMissing(err, "token")
}

func scanToken(r pgx.Row) (domain.Token, error) {
	var t domain.Token
	var role string
	err := r.Scan(&t.ID, &t.OrgID, &t.Name, &role, &t.CreatedAt, &t.WorkspaceID, &t.Workspace)
	t.Role = domain.Role(role)
	t.CreatedAt = t.CreatedAt.UTC()
	return t, translate(err)
}

// Tokens lists an organisation's live tokens, oldest first.
func (q *Q) Tokens(ctx context.Context, orgID string, page domain.Page) ([]domain.Token, string, error) {
	return list(ctx, q, page, func(after cursor, limit int) (string, []any) {
		return tokenSelect + `
WHERE t.org_id = $1 AND t.revoked_at IS NULL AND (t.created_at, t.id) > ($2, $3)
ORDER BY t.created_at, t.id LIMIT $4`, []any{orgID, after.At, after.ID, limit}
	}, scanToken, func(t domain.Token) cursor { return cursor{At: t.CreatedAt, ID: t.ID} })
}

// RevokeToken marks a live token of the organisation revoked.
func (q *Q) RevokeToken(ctx context.Context, orgID, id string) error {
	return q.changeOne(ctx, "token", `UPDATE tokens SET revoked_at = $3 WHERE org_id = $1 AND id = $2 AND revoked_at IS NULL`, orgID, id, q.Now())
}
