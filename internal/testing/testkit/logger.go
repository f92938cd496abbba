package testkit

import (
	"bytes"
	"io"
	"log/slog"
	"sync"
)

// Discard is a logger that writes nowhere, for tests that assert on behaviour rather than logs.
func Discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// SyncBuffer collects what many goroutines write (a server's log lines, a command's output) for a
// test to read while they go on.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Logger is a logger that writes text lines to b.
func (b *SyncBuffer) Logger() *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }
