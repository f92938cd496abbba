package testkit

import (
	"io"
	"log/slog"
)

// Discard is a logger that writes nowhere, for tests that assert on behaviour rather than logs.
func Discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
