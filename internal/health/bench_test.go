package health_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/jackc/pgx/v5"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/health"
	"github.com/cmekd/cmekd/internal/keyarn"
	"github.com/cmekd/cmekd/internal/kms/kmstest"
	"github.com/cmekd/cmekd/internal/store"
	"github.com/cmekd/cmekd/internal/testkit"
	"github.com/cmekd/cmekd/internal/verify"
)

// sweepKeys is how many linked keys BenchmarkSweep10kKeys sweeps.
const sweepKeys = 10_000

// queryCounter counts the queries the store sends: each is one round trip to PostgreSQL.
type queryCounter struct{ n atomic.Int64 }

func (c *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// BenchmarkSweep10kKeys measures one full monitor sweep over 10,000 linked keys, each a real key in
// the emulator: per key a claim (in batches of 100), DescribeKey, GenerateDataKey and Decrypt over
// HTTP, and the transaction that applies the outcome. One iteration is one sweep of every key, so
// the figures are per sweep; the fake clock moves past the interval between sweeps so every key is
// due again. Creating the keys and seeding the database happen once, before the timer.
//
// The rate ceiling is lifted (MaxRPS) so that the sweep shows what the work costs. With the default
// CMEKD_PROBE_MAX_RPS of 100 calls per second and region, the ceiling alone makes a sweep of 10,000
// keys take 300 s (three calls per key).
//
// What limits it is CPU. The process (monitor, SDK client, pgx, and the emulator, which a CPU profile
// puts at about a quarter of it) and the PostgreSQL backends use cpu_s/sweep + pg_cpu_s/sweep, about
// 11 CPU-seconds per sweep together, so on 2 CPUs a sweep cannot take much under 6 s. Concurrency is
// the default 16: 10 and 64 sweep as fast, and above 10 the SDK's transport (10 idle connections per
// host) redials, at 64 about once every five calls.
func BenchmarkSweep10kKeys(b *testing.B) {
	ctx := context.Background()
	var kmsCalls atomic.Int64
	env := kmstest.StartEmulatorBehind(b, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			kmsCalls.Add(1)
			next.ServeHTTP(w, r)
		})
	})
	clk := testkit.NewClock(time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC))
	dbURL := testkit.Database(b)
	queries := &queryCounter{}
	st, err := store.Open(ctx, dbURL, store.Options{Clock: clk, Tracer: queries})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(st.Close)
	admin, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { admin.Close(ctx) })
	start := time.Now()
	keys := createKeys(b, env, sweepKeys)
	created := time.Since(start)
	seedLinkedKeys(b, admin, keys, clk.Now())
	b.Logf("setup: %d keys created in the emulator in %v, their organisations seeded in %v",
		sweepKeys, created.Round(time.Millisecond), (time.Since(start) - created).Round(time.Millisecond))

	v := verify.New(env.PlatformClient(b), keyarn.Rules{}, verify.Options{Backoff: []time.Duration{}})
	svc := health.New(health.Config{Store: st, Verifier: v, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Interval: interval, PauseAfter: 6 * time.Hour})
	m := health.NewMonitor(svc, health.MonitorConfig{Owner: "bench", MaxRPS: 1e9, Concurrency: 16, Clock: clk})

	kmsCalls.Store(0)
	queries.n.Store(0)
	cpu0 := cpuTime(b)
	pg0, pgVisible := backendCPU(b, admin)
	sweeps := 0
	for b.Loop() {
		clk.Advance(interval * 11 / 10) // past the interval plus the largest jitter
		n, err := m.Sweep(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if n != sweepKeys {
			b.Fatalf("a sweep probed %d keys, want %d", n, sweepKeys)
		}
		sweeps++
	}
	cpu := cpuTime(b) - cpu0
	probes := float64(sweeps * sweepKeys)
	b.ReportMetric(b.Elapsed().Seconds()/float64(sweeps), "s/sweep")
	b.ReportMetric(probes/b.Elapsed().Seconds(), "probes/s")
	b.ReportMetric(float64(kmsCalls.Load())/probes, "kms_calls/key")
	b.ReportMetric(float64(queries.n.Load())/probes, "db_roundtrips/key")
	b.ReportMetric(cpu.Seconds()/float64(sweeps), "cpu_s/sweep")
	if pg1, ok := backendCPU(b, admin); ok && pgVisible {
		var pg time.Duration
		for pid, t := range pg1 {
			pg += t - pg0[pid]
		}
		b.ReportMetric(pg.Seconds()/float64(sweeps), "pg_cpu_s/sweep")
	}

	var unhealthy int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM key_health WHERE status <> 'healthy' OR last_probe_at <> $1`,
		clk.Now()).Scan(&unhealthy); err != nil || unhealthy != 0 {
		b.Fatalf("%d keys not found healthy by the last sweep (%v)", unhealthy, err)
	}
}

// createKeys creates n keys as the customer, each with a policy that admits the platform.
func createKeys(b *testing.B, env *kmstest.Env, n int) []string {
	b.Helper()
	sdk := env.SDK(b, env.Region, env.CustomerAccessKey)
	policy := env.PlatformPolicy()
	arns := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	for range 16 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				out, err := sdk.CreateKey(context.Background(), &awskms.CreateKeyInput{Policy: aws.String(policy)})
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
				arns[i] = aws.ToString(out.KeyMetadata.Arn)
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatalf("create keys: %v", err)
	default:
	}
	return arns
}

// seedLinkedKeys stores one customer-managed organisation per key, with its key link, a healthy key
// health row due at now and one active collection, copied in bulk.
func seedLinkedKeys(b *testing.B, conn *pgx.Conn, keys []string, now time.Time) {
	b.Helper()
	ctx := context.Background()
	orgs := make([][]any, len(keys))
	links := make([][]any, len(keys))
	health := make([][]any, len(keys))
	cols := make([][]any, len(keys))
	for i, k := range keys {
		org := domain.NewID("org")
		orgs[i] = []any{org, "org " + strconv.Itoa(i), kmstest.EmulatorRegion, domain.ModeCustomerManaged, now}
		links[i] = []any{org, kmstest.EmulatorRegion, domain.PurposeData, k, now}
		health[i] = []any{org, kmstest.EmulatorRegion, domain.KeyHealthy, now, now, now}
		cols[i] = []any{domain.NewID("col"), org, "c", kmstest.EmulatorRegion, domain.StateActive, now, true, now}
	}
	for _, c := range []struct {
		table   string
		columns []string
		rows    [][]any
	}{
		{"orgs", []string{"id", "name", "region", "encryption_mode", "created_at"}, orgs},
		{"key_links", []string{"org_id", "region", "purpose", "key_arn", "created_at"}, links},
		{"key_health", []string{"org_id", "region", "status", "last_probe_at", "last_ok_at", "next_probe_at"}, health},
		{"collections", []string{"id", "org_id", "name", "region", "state", "state_changed_at", "recoverable", "created_at"}, cols},
	} {
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{c.table}, c.columns, pgx.CopyFromRows(c.rows)); err != nil {
			b.Fatalf("seed %s: %v", c.table, err)
		}
	}
	if _, err := conn.Exec(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
}

// cpuTime is the user and system CPU time the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// backendCPU is the CPU time used so far by each PostgreSQL backend serving clients of conn's
// database (but conn itself), read from /proc. ok is false when the server's processes are not visible from here (a
// server on another host or in a container).
func backendCPU(b *testing.B, conn *pgx.Conn) (map[int]time.Duration, bool) {
	b.Helper()
	ctx := context.Background()
	var db string
	if err := conn.QueryRow(ctx, `SELECT current_database()`).Scan(&db); err != nil {
		b.Fatal(err)
	}
	rows, err := conn.Query(ctx, `
SELECT pid FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend' AND pid <> pg_backend_pid()`, db)
	if err != nil {
		b.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		b.Fatal(err)
	}
	const userHZ = 100 // the unit of /proc/<pid>/stat times on Linux
	cpu := map[int]time.Duration{}
	for _, pid := range pids {
		cmd, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err != nil || !strings.Contains(string(cmd), " "+db+" ") {
			return nil, false // not this server's backend: the pid belongs to another namespace
		}
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return nil, false
		}
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:])) // after the command name
		if len(f) < 13 {
			return nil, false
		}
		utime, err1 := strconv.ParseInt(f[11], 10, 64)
		stime, err2 := strconv.ParseInt(f[12], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, false
		}
		cpu[pid] = time.Duration(utime+stime) * time.Second / userHZ
	}
	return cpu, true
}
