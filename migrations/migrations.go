// Package migrations embeds cmekd's numbered SQL migrations, applied at start with goose.
package migrations

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
