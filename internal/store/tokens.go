package store

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/cmekd/cmekd/internal/domain"
)

// InsertToken stores a token by the hash of its secret.
func (t *Tx) InsertToken(ctx context.Context, tok domain.Token, secretHash []byte) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO tokens (id, org_id, name, role, secret_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		tok.ID, tok.OrgID, tok.Name, string(tok.Role), secretHash, tok.CreatedAt)
	return translate(err)
}

// TokenByHash finds the live token whose secret hashes to h.
func (s *Store) TokenByHash(ctx context.Context, h []byte) (domain.Token, error) {
	return scanToken(s.pool.QueryRow(ctx, `SELECT id, org_id, name, role, created_at FROM tokens WHERE secret_hash = $1 AND revoked_at IS NULL`, h))
}

func scanToken(r pgx.Row) (domain.Token, error) {
	var t domain.Token
	var role string
	err := r.Scan(&t.ID, &t.OrgID, &t.Name, &role, &t.CreatedAt)
	t.Role = domain.Role(role)
	t.CreatedAt = t.CreatedAt.UTC()
	return t, translate(err)
}

// Tokens lists an organisation's live tokens, oldest first.
func (s *Store) Tokens(ctx context.Context, orgID string, page Page) ([]domain.Token, string, error) {
	after, err := page.after()
	if err != nil {
		return nil, "", err
	}
	rows, err := s.pool.Query(ctx, `
SELECT id, org_id, name, role, created_at FROM tokens
WHERE org_id = $1 AND revoked_at IS NULL AND (created_at, id) > ($2, $3)
ORDER BY created_at, id LIMIT $4`, orgID, after.At, after.ID, page.Limit+1)
	if err != nil {
		return nil, "", translate(err)
	}
	toks, err := collect(rows, scanToken)
	if err != nil {
		return nil, "", err
	}
	return trim(toks, page.Limit, func(t domain.Token) cursor { return cursor{At: t.CreatedAt, ID: t.ID} })
}

// RevokeToken marks a live token of the organisation revoked.
func (t *Tx) RevokeToken(ctx context.Context, orgID, id string) error {
	tag, err := t.tx.Exec(ctx, `UPDATE tokens SET revoked_at = $3 WHERE org_id = $1 AND id = $2 AND revoked_at IS NULL`, orgID, id, t.now)
	if err != nil {
		return translate(err)
	}
	if tag.RowsAffected() == 0 {
		return domain.NotFound("token")
	}
	return nil
}
