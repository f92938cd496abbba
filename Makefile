# cmekd — see README.md.
GO ?= go
export PATH := /usr/local/go/bin:$(PATH)

.PHONY: run test faults soak lint bench build emulator generate

## run: the server in dev mode (embedded KMS emulator, local PostgreSQL)
run:
	CMEKD_DEV=1 $(GO) run ./cmd/server

# The race detector needs cgo; machines without a C compiler run the tests without it.
RACE := $(shell command -v gcc >/dev/null 2>&1 && echo -race)

## test: every test (with the race detector where a C compiler is present), against the local
## PostgreSQL and the KMS emulator
test:
	$(GO) vet ./...
	$(GO) test $(RACE) -count=1 -timeout 20m ./...

## faults: the fault tests alone (make test runs them too): kill -9 of the server binary under
## idempotent ingests (internal/faults), database outage, stalled KMS, lease takeover (internal/e2e)
faults:
	$(GO) test $(RACE) -count=1 -timeout 5m -run 'TestFaults' -v ./internal/faults ./internal/e2e

## soak: mixed traffic against the server and emulator binaries on loopback for SOAK (default 2m);
## prints throughput, p50/p99, errors, server RSS and goroutines. Not part of make test.
SOAK ?= 2m
soak:
	$(GO) test -count=1 -timeout 60m -run '^TestSoak$$' -v ./internal/faults -args -soak=$(SOAK)

## lint: go vet and staticcheck (pinned in go.mod as a tool)
lint:
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

## bench: the benchmarks whose figures are in README.md, one package at a time (-p 1: go test would
## otherwise run two packages' benchmarks at once, each weighing on the other's figures). The sweep
## of 100,000 keys and the scale benchmarks' seeding of a million rows take minutes on a loaded
## machine: hence the timeout.
bench:
	$(GO) test -p 1 -run '^$$' -bench . -benchmem -benchtime 2s -timeout 60m ./...

## generate: the Go client in client/ from openapi/openapi.yaml (oapi-codegen, pinned in go.mod as a tool)
generate:
	$(GO) generate ./client

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/cmekd ./cmd/server
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/kms-emulator ./cmd/kms-emulator
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/cmekctl ./cmd/cmekctl
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/terraform-provider-cmekd ./cmd/terraform-provider-cmekd
