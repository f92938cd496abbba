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
	"github.com/cmekd/cmekd/internal/store"
	"github.com/cmekd/cmekd/internal/testing/kmstest"
	"github.com/cmekd/cmekd/internal/testing/testkit"
	"github.com/cmekd/cmekd/internal/verify"
)

// queryCounter counts the queries the store sends: each is one round trip to PostgreSQL.
type queryCounter struct{ n atomic.Int64 }

func (c *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// emulatorKeys is how many distinct keys BenchmarkSweep creates in the emulator; larger sweeps link
// several organisations to each (a key may back any number of them).
const emulatorKeys = 10_000

// BenchmarkSweep measures full monitor sweeps over 1,000, 10,000 and 100,000 linked keys, each
// organisation's key a real key in the emulator: per batch of 250 keys a claim, per key DescribeKey,
// GenerateDataKey and Decrypt over HTTP, and per batch the one statement that writes back every
// result that changes nothing (all of them here: healthy keys stay healthy). One op is one sweep of
// every key, or for the smaller sizes as many as make 20,000 probes (sweepRounds); the figures are
// per sweep or per probe. The fake clock moves past the interval between sweeps so every key is due
// again. Creating the keys (once, for all three sizes) and seeding each
// size's database happen before the timer.
//
// Beside each sweep, its floor: the same probes (the same three KMS calls through the same client,
// at the same concurrency, 16) without the database, over as many keys (at most 10,000), before and
// after each sweep: bare-probes/s, and ratio = probes/s ÷ bare-probes/s. ns/op is a sweep and its
// floor runs together. db_roundtrips/key counts every query the store
// sends during the sweeps; pg_cpu_s/sweep is the CPU time of the PostgreSQL backends serving them
// (from /proc, when the server runs on this host) and pg_cpu_ms/1k_keys the same per thousand keys,
// flat when the per-key cost is.
//
// The rate ceiling is lifted (MaxRPS) so that the sweep shows what the work costs. With the default
// CMEKD_PROBE_MAX_RPS of 100 calls per second and region, the ceiling alone makes a sweep of 10,000
// keys take 300 s (three calls per key). What limits the sweep then is the probes themselves: the
// process's CPU (SDK client and the emulator in this process) on 2 shared CPUs.
func BenchmarkSweep(b *testing.B) {
	env := kmstest.StartEmulatorBehind(b, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sweepKMSCalls.Add(1)
			next.ServeHTTP(w, r)
		})
	})
	start := time.Now()
	keys := createKeys(b, env, emulatorKeys)
	b.Logf("setup: %d keys created in the emulator in %v", len(keys), time.Since(start).Round(time.Millisecond))
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(strconv.Itoa(n/1000)+"k_keys", func(b *testing.B) { benchSweep(b, env, keys, n) })
	}
}

// sweepRounds is how many keys one op of BenchmarkSweep probes at least, in as many sweeps as that
// takes.
const sweepRounds = 20_000

// sweepKMSCalls counts the requests the emulator of BenchmarkSweep receives.
var sweepKMSCalls atomic.Int64

func benchSweep(b *testing.B, env *kmstest.Env, keys []string, n int) {
	ctx := context.Background()
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
	orgs := seedLinkedKeys(b, admin, keys, n, clk.Now())

	v := verify.New(env.PlatformClient(b), keyarn.Rules{}, verify.Options{Backoff: []time.Duration{}})
	svc := health.New(health.Config{Store: st, Verifier: v, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Interval: interval, PauseAfter: 6 * time.Hour})
	const concurrency = 16
	m := health.NewMonitor(svc, health.MonitorConfig{Owner: "bench", MaxRPS: 1e9, Concurrency: concurrency, Clock: clk})

	// The floor: the same probes, at the same concurrency, with no database, over as many keys (at
	// most emulatorKeys), run before and after each sweep so that both see the same machine.
	bare := min(n, emulatorKeys)
	bareProbes := func() {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range concurrency {
			wg.Go(func() {
				for i := int(next.Add(1)) - 1; i < bare; i = int(next.Add(1)) - 1 {
					if o := svc.Probe(ctx, orgs[i], kmstest.EmulatorRegion, keys[i%len(keys)]); o.Kind != health.Healthy {
						b.Errorf("bare probe of %s: %+v", keys[i%len(keys)], o)
						return
					}
				}
			})
		}
		wg.Wait()
	}

	var sweepTime, sweepCPU, bareTime, bareCPU time.Duration
	var kmsCalls, roundTrips int64
	pg0, pgVisible := backendCPU(b, admin)
	sweeps := 0
	bareRuns := 0
	runBare := func() {
		cpu0, start := cpuTime(b), time.Now()
		bareProbes()
		bareTime += time.Since(start)
		bareCPU += cpuTime(b) - cpu0
		bareRuns++
	}
	// The floor brackets every sweep, run before it and after it, so that the machine drifting during
	// a sweep (this one's speed moves by a tenth within seconds) weighs on both alike. One op is
	// several sweeps of the smaller sizes (sweepRounds), so that one op averages as many probes as a
	// large sweep: a single sweep of 1,000 keys lasts a fifth of a second, within the drift.
	rounds := max(1, sweepRounds/n)
	runBare()
	for b.Loop() {
		for range rounds {
			clk.Advance(interval * 11 / 10) // past the interval plus the largest jitter
			calls0, queries0, cpu0, start := sweepKMSCalls.Load(), queries.n.Load(), cpuTime(b), time.Now()
			got, err := m.Sweep(ctx)
			if err != nil {
				b.Fatal(err)
			}
			sweepTime += time.Since(start)
			sweepCPU += cpuTime(b) - cpu0
			kmsCalls += sweepKMSCalls.Load() - calls0
			roundTrips += queries.n.Load() - queries0
			if got != n {
				b.Fatalf("a sweep probed %d keys, want %d", got, n)
			}
			sweeps++
			runBare()
		}
	}
	probes := float64(sweeps * n)
	rate := probes / sweepTime.Seconds()
	floor := float64(bareRuns*bare) / bareTime.Seconds()
	b.ReportMetric(sweepTime.Seconds()/float64(sweeps), "s/sweep")
	b.ReportMetric(rate, "probes/s")
	b.ReportMetric(floor, "bare-probes/s")
	b.ReportMetric(rate/floor, "ratio")
	b.ReportMetric(float64(kmsCalls)/probes, "kms_calls/key")
	b.ReportMetric(float64(roundTrips)/probes, "db_roundtrips/key")
	b.ReportMetric(sweepCPU.Seconds()/float64(sweeps), "cpu_s/sweep")
	b.ReportMetric(float64(sweepCPU.Microseconds())/probes, "cpu_us/probe")
	b.ReportMetric(float64(bareCPU.Microseconds())/float64(bareRuns*bare), "bare_cpu_us/probe")
	// The bare probes ask PostgreSQL nothing, so the backends' CPU is the sweeps'.
	if pg1, ok := backendCPU(b, admin); ok && pgVisible {
		var pg time.Duration
		for pid, t := range pg1 {
			pg += t - pg0[pid]
		}
		b.ReportMetric(pg.Seconds()/float64(sweeps), "pg_cpu_s/sweep")
		b.ReportMetric(float64(pg.Milliseconds())/probes*1000, "pg_cpu_ms/1k_keys")
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

// seedLinkedKeys stores n customer-managed organisations, the i-th linked to keys[i % len(keys)], each
// with its key link, a healthy key health row due at now and one active collection, copied in bulk;
// it returns their ids.
func seedLinkedKeys(b *testing.B, conn *pgx.Conn, keys []string, n int, now time.Time) []string {
	b.Helper()
	ctx := context.Background()
	ids := make([]string, n)
	orgs := make([][]any, n)
	links := make([][]any, n)
	health := make([][]any, n)
	cols := make([][]any, n)
	for i := range n {
		k := keys[i%len(keys)]
		org := domain.NewID("org")
		ids[i] = org
		orgs[i] = []any{org, "org " + strconv.Itoa(i), kmstest.EmulatorRegion, domain.ModeCustomerManaged, now}
		links[i] = []any{org, kmstest.EmulatorRegion, domain.PurposeData, k, now}
		health[i] = []any{org, kmstest.EmulatorRegion, domain.PurposeData, domain.KeyHealthy, now, now, now}
		cols[i] = []any{domain.NewID("col"), org, "c", kmstest.EmulatorRegion, domain.StateActive, now, true, now}
	}
	for _, c := range []struct {
		table   string
		columns []string
		rows    [][]any
	}{
		{"orgs", []string{"id", "name", "region", "encryption_mode", "created_at"}, orgs},
		{"key_links", []string{"org_id", "region", "purpose", "key_arn", "created_at"}, links},
		{"key_health", []string{"org_id", "region", "purpose", "status", "last_probe_at", "last_ok_at", "next_probe_at"}, health},
		{"collections", []string{"id", "org_id", "name", "region", "state", "state_changed_at", "recoverable", "created_at"}, cols},
	} {
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{c.table}, c.columns, pgx.CopyFromRows(c.rows)); err != nil {
			b.Fatalf("seed %s: %v", c.table, err)
		}
	}
	if _, err := conn.Exec(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	return ids
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
