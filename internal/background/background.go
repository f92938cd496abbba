// Package background runs cmekd's background services: each has a name and a Run(ctx) that returns
// once ctx ends, and the server starts them as one list and stops them together.
package background

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Service is one background task.
type Service interface {
	// Name names the service in logs.
	Name() string
	// Run works until ctx ends, then returns.
	Run(ctx context.Context) error
}

// Start runs every service in its own goroutine until ctx ends. The returned function waits for all
// of them to return.
func Start(ctx context.Context, log *slog.Logger, services ...Service) (wait func()) {
	var wg sync.WaitGroup
	for _, s := range services {
		wg.Go(func() {
			if err := s.Run(ctx); err != nil && ctx.Err() == nil {
				log.ErrorContext(ctx, "background service stopped", "service", s.Name(), "error", err.Error())
			}
		})
	}
	return wg.Wait
}

// Periodic is a service that runs a chore now and then every interval.
type Periodic struct {
	name  string
	every time.Duration
	chore func(context.Context) error
	log   *slog.Logger
}

// Every returns a Periodic service running chore every d; a failed run is logged and the next one
// comes at its time.
func Every(name string, d time.Duration, log *slog.Logger, chore func(context.Context) error) *Periodic {
	return &Periodic{name: name, every: d, chore: chore, log: log}
}

// Name names the service.
func (p *Periodic) Name() string { return p.name }

// Run runs the chore now and then every interval until ctx ends.
func (p *Periodic) Run(ctx context.Context) error {
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		if err := p.chore(ctx); err != nil && ctx.Err() == nil {
			p.log.WarnContext(ctx, "background chore failed", "service", p.name, "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
