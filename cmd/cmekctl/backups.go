package main

import (
	"context"
	"errors"
	"flag"
	"time"

	"github.com/cmekd/cmekd/client"
)

// backupCommands are the rows of collection backups and their restores (SPEC §11).
var backupCommands = []command{
	{name: "backups", orgScoped: true, summary: "list the organisation's backups, newest first",
		help: `Lists the organisation's backups (of one collection with --collection): their state (running,
complete, failed), how many documents they hold and the key that wraps them. Backups outlive their
collection.`,
		setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			col := fs.String("collection", "", "only the backups of this `COLLECTION_ID`")
			return pagedList(func(ctx context.Context, e *env, _ []string, cursor *string, limit *int) (*client.ListBackupsResponse, error) {
				p := &client.ListBackupsParams{Cursor: cursor, Limit: limit}
				if *col != "" {
					p.CollectionId = col
				}
				return e.api.ListBackupsWithResponse(ctx, e.org, p)
			}, func(r *client.ListBackupsResponse) ([]client.Backup, string) {
				return r.JSON200.Backups, r.JSON200.NextCursor
			},
				func(e *env, all []client.Backup) { e.backups(client.BackupList{Backups: all}) })
		}},
	{name: "backups create", args: []string{"COLLECTION_ID"}, orgScoped: true, summary: "back up a collection now (operator)",
		help: `Takes a consistent backup of the collection COLLECTION_ID: every document committed before it
began, none after. Its data keys are re-wrapped under the region's backup key (or its data key
when it has none). A large collection is copied in the background: the backup answers running,
and --wait polls it until it is complete (exit 1 if it fails), showing the documents copied so far
when stdout is a terminal.`,
		setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			wait := fs.Bool("wait", false, "wait until the backup is complete or failed")
			return func(ctx context.Context, e *env, args []string) error {
				r, err := e.api.CreateBackupWithResponse(ctx, e.org, args[0])
				if err := e.answer(r, err); err != nil {
					return err
				}
				b := *r.JSON201
				bar := newProgress(e.stdout)
				for *wait && b.State == client.Running {
					bar.show("backup %s: running, %d documents copied", b.Id, b.Documents)
					select {
					case <-ctx.Done():
						bar.clear()
						return ctx.Err()
					case <-time.After(500 * time.Millisecond):
					}
					g, err := e.api.GetBackupWithResponse(ctx, e.org, b.Id)
					if err := e.answer(g, err); err != nil {
						return err
					}
					b = *g.JSON200
				}
				bar.clear()
				e.backups(client.BackupList{Backups: []client.Backup{b}})
				if b.State == client.Failed {
					return errFailed
				}
				return nil
			}
		}},
	{name: "backups get", args: []string{"BACKUP_ID"}, orgScoped: true, summary: "show one backup and its progress",
		help: `Shows the backup BACKUP_ID (bak_…): its state and the documents copied so far.`,
		setup: noFlags(request(func(ctx context.Context, e *env, args []string) (*client.GetBackupResponse, error) {
			return e.api.GetBackupWithResponse(ctx, e.org, args[0])
		}, func(e *env, r *client.GetBackupResponse) error {
			e.backups(client.BackupList{Backups: []client.Backup{*r.JSON200}})
			return nil
		}))},
	{name: "backups delete", args: []string{"BACKUP_ID"}, orgScoped: true, summary: "delete a backup (operator)",
		help: `Deletes the backup BACKUP_ID with its documents and data-key copies. There is no undo. A backup
still running cannot be deleted.`,
		setup: noFlags(func(ctx context.Context, e *env, args []string) error {
			r, err := e.api.DeleteBackupWithResponse(ctx, e.org, args[0])
			return done(e, "deleted "+args[0], e.answer(r, err))
		})},
	{name: "backups restore", args: []string{"BACKUP_ID"}, orgScoped: true, summary: "restore a backup into a new collection (operator)",
		help: `Restores the complete backup BACKUP_ID into a new collection --name in the backup's region: every
document, in order, under new ids and new data keys of the region's data key. All or nothing.`,
		setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			name := fs.String("name", "", "the new collection's `NAME` (required)")
			return func(ctx context.Context, e *env, args []string) error {
				if *name == "" {
					return errors.New("--name is required")
				}
				r, err := e.api.RestoreBackupWithResponse(ctx, e.org, args[0], client.BackupRestore{Name: *name})
				if err := e.answer(r, err); err != nil {
					return err
				}
				e.collections(client.CollectionList{Collections: []client.Collection{*r.JSON201}})
				return nil
			}
		}},
}

func (e *env) backups(l client.BackupList) {
	list(e, l, l.Backups, "ID\tCOLLECTION\tREGION\tSTATE\tDOCUMENTS\tCREATED\tFINISHED\tKEY ARN", func(b client.Backup) (string, []any) {
		return b.Id, []any{b.Id, b.CollectionId, b.Region, b.State, b.Documents, stamp(b.CreatedAt), nstamp(b.FinishedAt), dash(b.KeyArn)}
	})
}
