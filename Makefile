# cmekd — see README.md.
GO ?= go
export PATH := /usr/local/go/bin:$(PATH)

.PHONY: help run test faults soak lint bench build generate

## help: this list of targets
help:
	@awk 'match($$0, /^## [a-z-]+: /) { d[substr($$0, 4, RLENGTH - 5)] = substr($$0, RLENGTH + 1) } \
	  /^[a-z-]+:/ { t = $$1; sub(/:.*/, "", t); printf "  %-9s %s\n", t, d[t] }' $(MAKEFILE_LIST)

## run: the server in dev mode (embedded KMS emulator; PostgreSQL at 127.0.0.1:5432 or a private cluster); Ctrl-C stops it
# Built, then run by bash with job control (set -m) where stderr is a terminal: the server gets a
# process group of its own, the terminal's foreground one, so Ctrl-C reaches it alone and it exits 0,
# and so does make. In the group Ctrl-C reaches, make would die of the SIGINT itself (it re-raises
# it once its child has exited), whatever the server answered.
run:
	@$(GO) build -ldflags "$(LDFLAGS)" -o bin/cmekd ./cmd/server
	@CMEKD_DEV=1 bash -c 'if [ -t 2 ]; then set -m; fi; bin/cmekd; exit $$?'

# The race detector needs cgo; machines without a C compiler run the tests without it.
RACE := $(shell command -v gcc >/dev/null 2>&1 && echo -race)

## test: go vet, then every test (race detector where a C compiler is present)
## Against the local PostgreSQL and the KMS emulator.
test:
	$(GO) vet ./...
	$(GO) test $(RACE) -count=1 -timeout 20m ./...

## faults: the fault tests alone (make test runs them too)
## Kill -9 of the server binary under idempotent ingests (internal/faults), database outage, stalled KMS, lease takeover (internal/e2e)
faults:
	$(GO) test $(RACE) -count=1 -timeout 5m -run 'TestFaults' -v ./internal/faults ./internal/e2e

## soak: mixed traffic against the real binaries for SOAK (default 2m); not part of make test
## Prints throughput, p50/p99, errors, server RSS and goroutines.
SOAK ?= 2m
soak:
	$(GO) test -count=1 -timeout 60m -run '^TestSoak$$' -v ./internal/faults -args -soak=$(SOAK)

## lint: go vet and staticcheck (pinned in go.mod as a tool)
lint:
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

## bench: the benchmarks whose figures are in docs/benchmarks.md
## One package at a time (-p 1: go test would otherwise run two packages' benchmarks at once, each weighing on the other's figures). The sweep
## of 100,000 keys and the scale benchmarks' seeding of a million rows take minutes on a loaded
## machine: hence the timeout.
bench:
	$(GO) test -p 1 -run '^$$' -bench . -benchmem -benchtime 2s -timeout 60m ./...

## generate: the Go client in client/ from openapi/openapi.yaml (oapi-codegen, a pinned tool)
generate:
	$(GO) generate ./client

# make build stamps the version (git describe), the commit and the build date into every binary;
# cmekd -version, kms-emulator -version and cmekctl version print them.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
VERSION_PKG := github.com/cmekd/cmekd/internal/version
LDFLAGS := -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Commit=$(COMMIT) -X $(VERSION_PKG).Date=$(DATE)

## build: static binaries in bin/ (cmekd, kms-emulator, cmekctl, terraform-provider-cmekd), stamped with version, commit and date
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/cmekd ./cmd/server
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/kms-emulator ./cmd/kms-emulator
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/cmekctl ./cmd/cmekctl
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/terraform-provider-cmekd ./cmd/terraform-provider-cmekd
