package backups_test

import (
	"context"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/domain"
)

// TestBackup_FinishedAtIsWhenItFinished: a backup whose copy takes a while finishes that while after
// it was created, not at the moment its copy began.
func TestBackup_FinishedAtIsWhenItFinished(t *testing.T) {
	t.Parallel()
	f := setup(t, 100)
	o, col := f.filled(t, true, "events", 10)
	reached, release := f.kms.hold()
	defer release()
	got := make(chan error, 1)
	var b domain.Backup
	go func() {
		var err error
		b, err = f.svc.Create(context.Background(), admin, o, col.ID)
		got <- err
	}()
	<-reached // the copy has begun
	const held = 500 * time.Millisecond
	time.Sleep(held)
	release()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	done := f.waitState(t, o, b.ID, domain.BackupComplete)
	if done.FinishedAt == nil || done.FinishedAt.Sub(done.CreatedAt) < held {
		t.Fatalf("created at %v, finished at %v: want at least %v later", done.CreatedAt, done.FinishedAt, held)
	}
}
