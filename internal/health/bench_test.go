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

// BenchmarkSweep measures full monitor sweeps over 1,000, 10,000 and 100,000 linked keys, and sweeps
// of a slice of a million (sliceKeys), each
// organisation's key a real key in the emulator: per batch of 250 keys a claim, per key DescribeKey,
// GenerateDataKey and Decrypt over HTTP, and per batch the one statement that writes back every
// result that changes nothing (all of them here: healthy keys stay healthy). One op is one sweep of
// every key, or for the smaller sizes as many as make 20,000 probes (sweepRounds); the figures are
// per sweep or per probe. The fake clock moves past the interval between sweeps so every key is due
// again. Creating the keys (once, for all sizes) and seeding each size's database happen before the
// timer. 100k_keys_rps_bound sweeps 100,000 keys under a ceiling instead (benchSweepBound).
//
// Beside each sweep, its floor: the same probes (the same three KMS calls through the same client,
// at the same concurrency, 16) without the database, over as many keys (at most 10,000), before and
// after each sweep: bare-probes/s, and ratio = probes/s ÷ bare-probes/s. ns/op is a sweep and its
// floor runs together. db_roundtrips/key counts every query the store
// sends during the sweeps; pg_cpu_s/sweep is the CPU time of the PostgreSQL backends serving them
// (from /proc, when the server runs on this host) and pg_cpu_ms/1k_keys the same per thousand keys,
// flat when the per-key cost is; checkpoints counts those the server started during the sweeps,
// which must be none (see below).
//
// The rate ceiling is lifted (MaxRPS) so that the sweep shows what the work costs. With the default
// CMEKD_PROBE_MAX_RPS of 100 calls per second and region, the ceiling alone makes a sweep of 10,000
// keys take 300 s (three calls per key). What limits the sweep then is the probes themselves: the
// process's CPU (SDK client and the emulator in this process) on 2 shared CPUs.
func BenchmarkSweep(b *testing.B) {
	var calls callLog
	env := kmstest.StartEmulatorBehind(b, func(next http.Handler) http.Handler {
		next = calls.behind(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sweepKMSCalls.Add(1)
			next.ServeHTTP(w, r)
		})
	})
	start := time.Now()
	keys := createKeys(b, env, emulatorKeys)
	b.Logf("setup: %d keys created in the emulator in %v", len(keys), time.Since(start).Round(time.Millisecond))
	// The sweeps run on a private PostgreSQL sized for a fleet of a million keys (docs/capacity.md):
	// the monitor's tables and indexes at 1M keys (about 540 MiB) fit its shared buffers, as they
	// should in service. The shared server's 128 MiB of buffers would measure its other tenants'
	// pages instead.
	//
	// No checkpoint runs during a measured sweep (the checkpoints metric says so): each size takes
	// one before its seeding, and none is due by time or WAL until the benchmark ends. After a
	// checkpoint, the first change of each block writes the whole block to the WAL, with its CPU.
	// In service that full-page image is paid once per block and checkpoint, shared by all the keys
	// of the block (about 35 rows of key_health, probed once an interval each), whatever the number
	// of keys. A slice of a million keys swept in a checkpoint that the timer (5 min by default) or
	// the seeding's WAL started pays it instead for most blocks of key_health and its primary key on
	// a twentieth of their keys (in one run, 3,410 bytes of WAL a key instead of 486): a cost of the
	// seeding and of when the timer fired, not of the sweep, and one that only some runs paid.
	fleet := testkit.NewTunedCluster(b, "shared_buffers=1GB", "max_wal_size=16GB", "checkpoint_timeout=1h")
	for _, n := range []int{1_000, 10_000, 100_000, 1_000_000} {
		b.Run(strconv.Itoa(n/1000)+"k_keys", func(b *testing.B) {
			benchSweep(b, env, keys, fleet.Database(b, "sweep_"+strconv.Itoa(n)), n, slicesOf(n))
		})
	}
	b.Run("100k_keys_rps_bound", func(b *testing.B) { benchSweepBound(b, env, &calls, keys, 100_000) })
}

// sliceKeys is about how many keys one sweep of a million probes: a million keys are due spread over
// the interval, as they are in service, and each op moves the clock on by the interval's share of
// sliceKeys and sweeps the keys that came due (in service the monitor sweeps every second, each
// sweep the keys that came due since the last). The per-key costs at a million keys, measured so, are
// those of a table of a million, at a twentieth of the time a sweep of every key takes.
const sliceKeys = 50_000

// slicesOf is how many sweeps make one round of n keys: a million keys are swept sliceKeys at a time,
// fewer all at once.
func slicesOf(n int) int {
	if n < 1_000_000 {
		return 1
	}
	return n / sliceKeys
}

// sweepRounds is how many keys one op of BenchmarkSweep probes at least, in as many sweeps as that
// takes.
const sweepRounds = 20_000

// sweepKMSCalls counts the requests the emulator of BenchmarkSweep receives.
var sweepKMSCalls atomic.Int64

// benchSweep sweeps n linked keys: all of them each sweep when slices is 1, or else keys due spread
// over the interval and, each sweep, the slices-th part of them that came due.
func benchSweep(b *testing.B, env *kmstest.Env, keys []string, dbURL string, n, slices int) {
	ctx := context.Background()
	clk := testkit.NewClock(time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC))
	queries := &queryCounter{}
	st, admin := openStore(b, dbURL, store.Options{Clock: clk, Tracer: queries})
	start := time.Now()
	spread, advance := time.Duration(0), interval*11/10 // past the interval plus the largest jitter
	if slices > 1 {
		spread, advance = interval, interval/time.Duration(slices)
	}
	if _, err := admin.Exec(ctx, `CHECKPOINT`); err != nil {
		b.Fatal(err)
	}
	orgs, orgKeys := seedLinkedKeys(b, admin, keys, n, clk.Now(), spread)
	b.Logf("setup: %d keys seeded in %v", n, time.Since(start).Round(time.Millisecond))

	v := verify.New(env.PlatformClient(b), keyarn.Rules{}, verify.Options{Backoff: []time.Duration{}})
	svc := health.New(health.Config{Store: st, Verifier: v, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Interval: interval, PauseAfter: 6 * time.Hour})
	const concurrency = 16
	m := health.NewMonitor(svc, health.MonitorConfig{Owner: "bench", MaxRPS: 1e9, Concurrency: concurrency, Clock: clk})

	// The floor: the same probes, at the same concurrency, with no database, over as many keys (at
	// most emulatorKeys), run before and after each sweep so that both see the same machine.
	bare := len(orgs)
	bareProbes := func() {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range concurrency {
			wg.Go(func() {
				for i := int(next.Add(1)) - 1; i < bare; i = int(next.Add(1)) - 1 {
					if o := svc.Probe(ctx, orgs[i], kmstest.EmulatorRegion, orgKeys[i]); o.Kind != health.Healthy {
						b.Errorf("bare probe of %s: %+v", orgKeys[i], o)
						return
					}
				}
			})
		}
		wg.Wait()
	}

	var sweepTime, sweepCPU, bareTime, bareCPU time.Duration
	var kmsCalls, roundTrips int64
	var wal int64 // bytes of WAL this database's sweeps wrote
	walKnown := true
	resetPeakRSS(b)
	hit0, read0 := blocks(b, admin)
	ckpt0 := checkpoints(b, admin)
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
	probed, got := 0, 0
	runBare()
	for b.Loop() {
		for range rounds {
			clk.Advance(advance)
			meter := startWAL(b, dbURL)
			calls0, queries0, cpu0, start := sweepKMSCalls.Load(), queries.n.Load(), cpuTime(b), time.Now()
			var err error
			if got, err = m.Sweep(ctx); err != nil {
				b.Fatal(err)
			}
			sweepTime += time.Since(start)
			w, ok := meter.end(b)
			wal, walKnown = wal+w, walKnown && ok
			sweepCPU += cpuTime(b) - cpu0
			kmsCalls += sweepKMSCalls.Load() - calls0
			roundTrips += queries.n.Load() - queries0
			if want := n / slices; got < want*8/10 || got > want*12/10 || slices == 1 && got != n {
				b.Fatalf("a sweep probed %d keys, want %d", got, want)
			}
			probed += got
			sweeps++
			runBare()
		}
	}
	probes := float64(probed)
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
	hit1, read1 := blocks(b, admin)
	b.ReportMetric(float64(checkpoints(b, admin)-ckpt0), "checkpoints")
	b.ReportMetric(float64(read1-read0)/probes, "pg_blks_read/key")
	b.ReportMetric(float64(hit1-hit0)/probes, "pg_blks_hit/key")
	if walKnown {
		b.ReportMetric(float64(wal)/probes, "wal_bytes/key")
	}
	// The process's peak RSS during the sweeps and their floors: the monitor, and the emulator and
	// its keys with it, so the monitor's own is below this.
	b.ReportMetric(float64(procStatusKiB(b, "VmHWM"))/1024, "monitor_rss_mib")
	logSizes(b, admin)

	var unhealthy, last int
	if err := admin.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status <> 'healthy'), count(*) FILTER (WHERE last_probe_at = $1)
FROM key_health`, clk.Now()).Scan(&unhealthy, &last); err != nil || unhealthy != 0 || last != got {
		b.Fatalf("%d keys not healthy, %d probed by the last sweep, want 0 and %d (%v)", unhealthy, last, got, err)
	}
}

// openDB opens a fresh database with the store on it, and a connection of its own to it (to seed
// and inspect it), closed when tb ends.
func openDB(tb testing.TB, opts store.Options) (dbURL string, st *store.Store, admin *pgx.Conn) {
	dbURL = testkit.Database(tb)
	st, admin = openStore(tb, dbURL, opts)
	return dbURL, st, admin
}

// openStore opens the store on dbURL (creating and migrating the database) and a connection of its
// own to it, closed when tb ends.
func openStore(tb testing.TB, dbURL string, opts store.Options) (st *store.Store, admin *pgx.Conn) {
	ctx := context.Background()
	st, err := store.Open(ctx, dbURL, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(st.Close)
	if admin, err = pgx.Connect(ctx, dbURL); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { admin.Close(ctx) })
	return st, admin
}

// createKeys creates n keys as the customer, each with a policy that admits the platform.
func createKeys(b testing.TB, env *kmstest.Env, n int) []string {
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
// with its key link, a healthy key health row probed at now and due at a random time within spread of
// it, and one active collection:
// one INSERT … SELECT over generate_series per table, so that a million keys are seeded by the
// database without passing through this process. The ids are random-looking (md5 of the row number),
// as the real ones are random, so that the primary key's pages are touched in no helpful order. (The
// keys are joined by position: an element of a text array is found by walking it from the start.) The
// tables are then vacuumed and analysed, as a database in service would be. It returns the first
// min(n, len(keys)) organisations and their keys, for the bare probes.
func seedLinkedKeys(b testing.TB, conn *pgx.Conn, keys []string, n int, now time.Time, spread time.Duration) (orgs, orgKeys []string) {
	b.Helper()
	ctx := context.Background()
	region := kmstest.EmulatorRegion
	// The rows are consistent by construction: the foreign keys' triggers, a lookup per row and key,
	// are skipped while seeding (session_replication_role).
	if _, err := conn.Exec(ctx, `SET session_replication_role = replica`); err != nil {
		b.Fatal(err)
	}
	ids := func(prefix, salt string) string { return `'` + prefix + `_' || left(md5(` + salt + `i::text), 16)` }
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO orgs (id, name, region, encryption_mode, created_at)
SELECT ` + ids("org", "") + `, 'org ' || i, $2, $3, $4 FROM generate_series(0, $1 - 1) i`,
			[]any{n, region, domain.ModeCustomerManaged, now}},
		{`INSERT INTO key_links (org_id, region, purpose, key_arn, created_at)
SELECT ` + ids("org", "") + `, $2, $3, k.arn, $5
FROM generate_series(0, $1 - 1) i JOIN unnest($4::text[]) WITH ORDINALITY k (arn, at) ON k.at = 1 + i % cardinality($4::text[])`,
			[]any{n, region, domain.PurposeData, keys, now}},
		{`INSERT INTO key_health (org_id, region, purpose, status, last_probe_at, last_ok_at, next_probe_at)
SELECT ` + ids("org", "") + `, $2, $3, $4, $5, $5, $5::timestamptz + $6::interval * random() FROM generate_series(0, $1 - 1) i`,
			[]any{n, region, domain.PurposeData, domain.KeyHealthy, now, spread}},
		{`INSERT INTO collections (id, org_id, name, region, state, state_changed_at, recoverable, created_at)
SELECT ` + ids("col", "'c' || ") + `, ` + ids("org", "") + `, 'c', $2, $3, $4, true, $4 FROM generate_series(0, $1 - 1) i`,
			[]any{n, region, domain.StateActive, now}},
	} {
		if _, err := conn.Exec(ctx, q.sql, q.args...); err != nil {
			b.Fatalf("seed: %v", err)
		}
	}
	if _, err := conn.Exec(ctx, `SET session_replication_role = DEFAULT`); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `VACUUM (FREEZE, ANALYZE) orgs, key_links, key_health, collections`); err != nil {
		b.Fatal(err)
	}
	rows, err := conn.Query(ctx, `
SELECT `+ids("org", "")+`, k.arn
FROM unnest($2::text[]) WITH ORDINALITY k (arn, at) JOIN generate_series(0, $1 - 1) i ON i = k.at - 1 ORDER BY i`, n, keys)
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var org, key string
		if err := rows.Scan(&org, &key); err != nil {
			b.Fatal(err)
		}
		orgs, orgKeys = append(orgs, org), append(orgKeys, key)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	return orgs, orgKeys
}

// walMeter counts the bytes of write-ahead log this database writes while it runs: the records that
// name one of its blocks, read back with pg_walinspect every quarter of a second on a connection of
// its own (the server's other databases write WAL too, and a loaded server recycles its segments
// within seconds, so the log is read as it is written).
type walMeter struct {
	conn  *pgx.Conn
	from  string // read up to here
	bytes int64
	err   error
	stop  chan struct{}
	done  chan struct{}
}

const walMeterName = "bench-wal-meter"

// startWAL starts a meter on the database at dbURL; nil when pg_walinspect cannot be had.
func startWAL(b *testing.B, dbURL string) *walMeter {
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		b.Fatal(err)
	}
	cfg.RuntimeParams["application_name"] = walMeterName // not the sweep's: backendCPU leaves it out
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	w := &walMeter{conn: conn, stop: make(chan struct{}), done: make(chan struct{})}
	if _, err := conn.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_walinspect`); err != nil {
		b.Logf("WAL not measured: %v", err)
		conn.Close(ctx)
		return nil
	}
	w.from, w.err = w.flushed()
	go func() {
		defer close(w.done)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for w.err == nil {
			select {
			case <-w.stop:
				w.read()
				return
			case <-t.C:
				w.read()
			}
		}
	}()
	return w
}

func (w *walMeter) flushed() (lsn string, err error) {
	err = w.conn.QueryRow(context.Background(), `SELECT pg_current_wal_flush_lsn()::text`).Scan(&lsn)
	return lsn, err
}

// read adds this database's records from where the last read ended to where the log is flushed now.
func (w *walMeter) read() {
	to, err := w.flushed()
	if err == nil && to != w.from {
		var n int64
		err = w.conn.QueryRow(context.Background(), `
SELECT coalesce(sum(record_length), 0)::bigint FROM pg_get_wal_records_info($1::pg_lsn, $2::pg_lsn)
WHERE block_ref LIKE '%/' || (SELECT oid FROM pg_database WHERE datname = current_database()) || '/%'`, w.from, to).Scan(&n)
		w.bytes, w.from = w.bytes+n, to
	}
	w.err = err
}

// end stops the meter and returns the bytes counted; ok is false when the log could not be read.
func (w *walMeter) end(b *testing.B) (n int64, ok bool) {
	if w == nil {
		return 0, false
	}
	close(w.stop)
	<-w.done
	w.conn.Close(context.Background())
	if w.err != nil {
		b.Logf("WAL not measured: %v", w.err)
	}
	return w.bytes, w.err == nil
}

// blocks is how many blocks this database's backends found in PostgreSQL's shared buffers (hit) and
// had to read into them (from the operating system's cache or the disk) so far.
func blocks(b *testing.B, conn *pgx.Conn) (hit, read int64) {
	// The backends report their counts when idle, at most a second late.
	time.Sleep(1100 * time.Millisecond)
	if err := conn.QueryRow(context.Background(), `SELECT blks_hit, blks_read FROM pg_stat_database WHERE datname = current_database()`).Scan(&hit, &read); err != nil {
		b.Fatal(err)
	}
	return hit, read
}

// checkpoints is how many checkpoints the server has started so far (after blocks, which waits for
// the statistics to be reported).
func checkpoints(b *testing.B, conn *pgx.Conn) (n int64) {
	if err := conn.QueryRow(context.Background(), `SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter`).Scan(&n); err != nil {
		b.Fatal(err)
	}
	return n
}

// logSizes logs the size of the monitor's tables and their indexes after the sweeps.
func logSizes(b *testing.B, conn *pgx.Conn) {
	rows, err := conn.Query(context.Background(), `
SELECT c.relname, c.reltuples::bigint, pg_relation_size(c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND (c.relname IN ('key_health', 'key_links')
   OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid IN ('key_health'::regclass, 'key_links'::regclass)))
ORDER BY c.relname`)
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var name string
		var tuples, size int64
		if err := rows.Scan(&name, &tuples, &size); err != nil {
			b.Fatal(err)
		}
		b.Logf("size: %s %.1f MiB (%d rows as last analysed)", name, float64(size)/(1<<20), tuples)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
}

// resetPeakRSS makes the process's peak RSS (VmHWM) its RSS now.
func resetPeakRSS(b *testing.B) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Logf("reset peak RSS: %v", err)
	}
}

// procStatusKiB reads a field of /proc/self/status, in KiB.
func procStatusKiB(b *testing.B, field string) int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kib
		}
	}
	b.Fatalf("no %s in /proc/self/status", field)
	return 0
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
// database (but conn itself and the WAL meter's), read from /proc. ok is false when the server's processes are not visible from here (a
// server on another host or in a container).
func backendCPU(b *testing.B, conn *pgx.Conn) (map[int]time.Duration, bool) {
	b.Helper()
	ctx := context.Background()
	var db string
	if err := conn.QueryRow(ctx, `SELECT current_database()`).Scan(&db); err != nil {
		b.Fatal(err)
	}
	rows, err := conn.Query(ctx, `
SELECT pid FROM pg_stat_activity
WHERE datname = $1 AND backend_type = 'client backend' AND pid <> pg_backend_pid() AND application_name <> $2`, db, walMeterName)
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
