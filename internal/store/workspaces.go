package store

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/cmekd/cmekd/internal/domain"
)

const workspaceColumns = `id, org_id, name, created_at`

func scanWorkspace(r pgx.Row) (domain.Workspace, error) {
	var w domain.Workspace
	err := r.Scan(&w.ID, &w.OrgID, &w.Name, &w.CreatedAt)
	w.CreatedAt = w.CreatedAt.UTC()
	return w, translateMissing(err, "workspace")
}

// nullable stores an empty string as NULL, for optional references.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// InsertWorkspace stores a new workspace.
func (q *Q) InsertWorkspace(ctx context.Context, w domain.Workspace) error {
	_, err := q.db.Exec(ctx, `INSERT INTO workspaces (`+workspaceColumns+`) VALUES ($1, $2, $3, $4)`, w.ID, w.OrgID, w.Name, w.CreatedAt)
	return translate(err)
}

// Workspace reads one workspace of the organisation by name.
func (q *Q) Workspace(ctx context.Context, orgID, name string) (domain.Workspace, error) {
	return scanWorkspace(q.db.QueryRow(ctx, `SELECT `+workspaceColumns+` FROM workspaces WHERE org_id = $1 AND name = $2`, orgID, name))
}

// Workspaces lists the organisation's workspaces, oldest first.
func (q *Q) Workspaces(ctx context.Context, orgID string, page domain.Page) ([]domain.Workspace, string, error) {
	return list(ctx, q, page, func(after cursor, limit int) (string, []any) {
		return `SELECT ` + workspaceColumns + ` FROM workspaces
WHERE org_id = $1 AND (created_at, id) > ($2, $3) ORDER BY created_at, id LIMIT $4`, []any{orgID, after.At, after.ID, limit}
	}, scanWorkspace, func(w domain.Workspace) cursor { return cursor{At: w.CreatedAt, ID: w.ID} })
}

// DeleteWorkspace removes a workspace by name with its tokens and its role assignments, and returns
// what it removed.
func (q *Q) DeleteWorkspace(ctx context.Context, orgID, name string) (domain.Workspace, error) {
	return scanWorkspace(q.db.QueryRow(ctx, `DELETE FROM workspaces WHERE org_id = $1 AND name = $2 RETURNING `+workspaceColumns, orgID, name))
}
