package background_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cmekd/cmekd/internal/background"
	"github.com/cmekd/cmekd/internal/testing/testkit"
)

func TestEvery_RunsAtStartAndOnEachTickUntilCancelled(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var runs atomic.Int32
		p := background.Every("sweeper", time.Minute, testkit.Discard(), func(context.Context) error { runs.Add(1); return nil })
		if p.Name() != "sweeper" {
			t.Fatalf("Name = %q", p.Name())
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		synctest.Wait()
		if n := runs.Load(); n != 1 {
			t.Fatalf("%d runs at start, want 1", n)
		}
		time.Sleep(59 * time.Second)
		synctest.Wait()
		if n := runs.Load(); n != 1 {
			t.Fatalf("%d runs before the first tick, want 1", n)
		}
		time.Sleep(2 * time.Minute) // at 2m59s: ticks at 1m and 2m
		synctest.Wait()
		if n := runs.Load(); n != 3 {
			t.Fatalf("%d runs after two ticks, want 3", n)
		}
		cancel()
		synctest.Wait()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run = %v, want nil on cancel", err)
			}
		default:
			t.Fatal("Run did not return on cancel")
		}
		time.Sleep(time.Hour)
		if n := runs.Load(); n != 3 {
			t.Fatalf("%d runs after cancel, want 3", n)
		}
	})
}

func TestEvery_FailedRunIsLoggedAndTheNextComes(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var l testkit.SyncBuffer
		var runs atomic.Int32
		p := background.Every("purger", time.Second, l.Logger(), func(context.Context) error {
			if runs.Add(1) == 1 {
				return errors.New("database away")
			}
			return nil
		})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go p.Run(ctx) //nolint:errcheck // returns nil on cancel
		time.Sleep(1500 * time.Millisecond)
		synctest.Wait()
		if n := runs.Load(); n != 2 {
			t.Fatalf("%d runs, want the failed one and the next", n)
		}
		if got := l.String(); !strings.Contains(got, "background chore failed") || !strings.Contains(got, "purger") ||
			!strings.Contains(got, "database away") || strings.Count(got, "\n") != 1 {
			t.Fatalf("logs %q, want one line naming the service and the error", got)
		}
	})
}

func TestEvery_FailureAfterCancelIsNotLogged(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var l testkit.SyncBuffer
		ctx, cancel := context.WithCancel(t.Context())
		p := background.Every("monitor", time.Minute, l.Logger(), func(ctx context.Context) error {
			cancel() // the server stops while the chore runs
			return ctx.Err()
		})
		if err := p.Run(ctx); err != nil {
			t.Fatal(err)
		}
		if got := l.String(); got != "" {
			t.Fatalf("logged %q on shutdown", got)
		}
	})
}

// service is a background service made of a function.
type service struct {
	name string
	run  func(context.Context) error
}

func (s service) Name() string                  { return s.name }
func (s service) Run(ctx context.Context) error { return s.run(ctx) }

func TestStart_WaitsForEveryService(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var l testkit.SyncBuffer
		var slowDone, tickerDone atomic.Bool
		var ticks atomic.Int32
		ticker := background.Every("ticker", time.Second, l.Logger(), func(context.Context) error { ticks.Add(1); return nil })
		slow := service{"slow", func(ctx context.Context) error {
			<-ctx.Done()
			time.Sleep(5 * time.Second) // a clean stop that takes a while
			slowDone.Store(true)
			return nil
		}}
		broken := service{"broken", func(context.Context) error { return errors.New("cannot start") }}
		ctx, cancel := context.WithCancel(t.Context())
		wait := background.Start(ctx, l.Logger(), slow, service{"ticker", func(ctx context.Context) error {
			defer tickerDone.Store(true)
			return ticker.Run(ctx)
		}}, broken)
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if n := ticks.Load(); n != 4 {
			t.Fatalf("%d ticks in 3s, want 4", n)
		}
		if got := l.String(); !strings.Contains(got, "background service stopped") || !strings.Contains(got, "broken") ||
			!strings.Contains(got, "cannot start") {
			t.Fatalf("logs %q, want the broken service's error", got)
		}
		cancel()
		start := time.Now()
		wait()
		if !slowDone.Load() || !tickerDone.Load() {
			t.Fatal("wait returned before every service stopped")
		}
		if d := time.Since(start); d != 5*time.Second {
			t.Fatalf("wait took %v, want the slow service's 5s", d)
		}
		if strings.Count(l.String(), "\n") != 1 {
			t.Fatalf("logs %q, want only the broken service's line (a stop on cancel is no error)", l.String())
		}
	})
}
