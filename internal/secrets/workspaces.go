package secrets

import (
	"context"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/store"
)

func workspaceEvent(p domain.Principal, w domain.Workspace, typ string) domain.Event {
	return domain.Event{OrgID: w.OrgID, Type: typ, Actor: p.Actor(), Details: map[string]any{"workspace": w.Name}}
}

// CreateWorkspace makes a workspace, whose tokens (role workspace) read the secrets it is granted.
func (s *Service) CreateWorkspace(ctx context.Context, p domain.Principal, orgID, name string) (domain.Workspace, error) {
	if err := validName(name); err != nil {
		return domain.Workspace{}, err
	}
	w := domain.Workspace{ID: domain.NewID("wsp"), OrgID: orgID, Name: name}
	err := s.cfg.Store.InTxWithin(ctx, store.LimitedWorkspaces, orgID, s.cfg.Limits.Workspaces, func(tx *store.Q) error {
		w.CreatedAt = tx.Now()
		if err := tx.InsertWorkspace(ctx, w); err != nil {
			return err
		}
		return tx.InsertEvent(ctx, workspaceEvent(p, w, domain.EventWorkspaceCreated))
	})
	if err != nil {
		return domain.Workspace{}, err
	}
	return w, nil
}

// Workspaces lists the organisation's workspaces, oldest first.
func (s *Service) Workspaces(ctx context.Context, orgID string, page domain.Page) ([]domain.Workspace, string, error) {
	return s.cfg.Store.Workspaces(ctx, orgID, page)
}

// DeleteWorkspace removes a workspace with its tokens and its role assignments on every scope.
func (s *Service) DeleteWorkspace(ctx context.Context, p domain.Principal, orgID, name string) error {
	if !namePattern.MatchString(name) {
		return domain.NotFound("workspace")
	}
	return s.cfg.Store.InTx(ctx, func(tx *store.Q) error {
		w, err := tx.DeleteWorkspace(ctx, orgID, name)
		if err != nil {
			return err
		}
		return tx.InsertEvent(ctx, workspaceEvent(p, w, domain.EventWorkspaceDeleted))
	})
}
