package faults_test

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/testing/testkit"
)

var (
	soakFor     = flag.Duration("soak", 0, "run TestSoak for this long (make soak; 0 skips it)")
	soakWorkers = flag.Int("soak.workers", 8, "concurrent clients of TestSoak")
)

// soakOps is the traffic mix: each worker picks an operation by these weights.
var soakOps = []struct {
	name   string
	weight int
}{{"ingest", 4}, {"page", 3}, {"get", 2}, {"key-status", 1}}

// TestSoak runs mixed traffic (ingestion, page reads, single reads, key status) from a bounded number
// of clients against the real server binary and the emulator binary on loopback for -soak, and
// prints throughput, p50/p99 latency, errors, and the server's RSS and goroutines at start and end.
// It fails on any error answer and on goroutines that grew without bound. It is minutes long, so it
// runs only when -soak is given (make soak).
func TestSoak(t *testing.T) {
	if *soakFor <= 0 {
		t.Skip("a soak runs only when asked: make soak (or go test ./internal/faults -run TestSoak -args -soak=2m)")
	}
	s := newStack(t, testkit.Database(t))
	srv := s.startServer()
	org, docsPath := s.orgAndCollection()
	// A first page to read and documents to get from the start.
	seed := s.must(http.StatusCreated, "POST", docsPath, map[string]any{"documents": []any{map[string]any{"seed": true}}})
	known := &idSet{}
	for _, id := range seed["ids"].([]any) {
		known.add(id.(string))
	}

	startRSS, startGo := serverRSS(t, srv), goroutines(t, s)
	var (
		mu      sync.Mutex
		lat     = map[string][]time.Duration{}
		errs    = map[string]int{}
		samples []string
	)
	record := func(op string, d time.Duration, failure string) {
		mu.Lock()
		defer mu.Unlock()
		lat[op] = append(lat[op], d)
		if failure != "" {
			errs[op]++
			if len(samples) < 5 {
				samples = append(samples, op+": "+failure)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), *soakFor)
	defer cancel()
	began := time.Now()
	var wg sync.WaitGroup
	for w := range *soakWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ctx.Err() == nil; n++ {
				op := pickOp()
				var method, path string
				var body []byte
				header := map[string]string{}
				want := http.StatusOK
				switch op {
				case "ingest":
					method, path, want = "POST", docsPath, http.StatusCreated
					body = fmt.Appendf(nil, `{"documents":[{"w":%d,"n":%d,"text":"soak"},{"w":%d,"n":%d,"i":1},{"w":%d,"n":%d,"i":2}]}`, w, n, w, n, w, n)
					if n%2 == 0 {
						header["Idempotency-Key"] = fmt.Sprintf("soak-%d-%d", w, n)
					}
				case "page":
					method, path = "GET", docsPath+"?limit=50"
				case "get":
					method, path = "GET", docsPath+"/"+known.pick()
				case "key-status":
					method, path = "GET", "/v1/orgs/"+org+"/key-status"
				}
				t0 := time.Now()
				a, err := call(context.Background(), method, s.URL+path, body, header)
				d := time.Since(t0)
				switch {
				case err != nil:
					record(op, d, err.Error())
				case a.Status != want:
					record(op, d, fmt.Sprintf("%d %s", a.Status, a.Body))
				default:
					record(op, d, "")
					if op == "ingest" {
						if got, err := ids(a.Body); err == nil {
							known.add(got...)
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(began)
	endRSS, endGo := serverRSS(t, srv), goroutines(t, s)

	var all []time.Duration
	var total, failed int
	fmt.Printf("soak: %s, %d clients, server binary and emulator binary on loopback\n", elapsed.Round(time.Second), *soakWorkers)
	fmt.Printf("  %-10s %8s %9s %9s %9s %6s\n", "op", "requests", "req/s", "p50", "p99", "errors")
	for _, o := range soakOps {
		l := lat[o.name]
		all = append(all, l...)
		total += len(l)
		failed += errs[o.name]
		fmt.Printf("  %-10s %8d %9.1f %9s %9s %6d\n", o.name, len(l), float64(len(l))/elapsed.Seconds(), pct(l, 50), pct(l, 99), errs[o.name])
	}
	fmt.Printf("  %-10s %8d %9.1f %9s %9s %6d\n", "all", total, float64(total)/elapsed.Seconds(), pct(all, 50), pct(all, 99), failed)
	fmt.Printf("  server RSS %.1f MiB -> %.1f MiB, goroutines %d -> %d\n", startRSS, endRSS, startGo, endGo)

	if failed > 0 {
		t.Errorf("%d of %d requests failed, for instance:\n%s", failed, total, strings.Join(samples, "\n"))
	}
	if total == 0 {
		t.Error("no request completed")
	}
	// Bounded clients hold a bounded number of connections; goroutines beyond that are a leak.
	if endGo > 2*startGo+4*(*soakWorkers) {
		t.Errorf("server goroutines grew from %d to %d under %d clients", startGo, endGo, *soakWorkers)
	}
}

// pickOp draws an operation by soakOps' weights.
func pickOp() string {
	sum := 0
	for _, o := range soakOps {
		sum += o.weight
	}
	r := rand.IntN(sum)
	for _, o := range soakOps {
		if r < o.weight {
			return o.name
		}
		r -= o.weight
	}
	panic("unreachable")
}

// idSet is the document ids ingested so far, for single reads.
type idSet struct {
	mu  sync.Mutex
	ids []string
}

func (s *idSet) add(ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids = append(s.ids, ids...)
}

func (s *idSet) pick() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids[rand.IntN(len(s.ids))]
}

// pct is the p-th percentile of l, rounded for printing.
func pct(l []time.Duration, p int) string {
	if len(l) == 0 {
		return "-"
	}
	l = slices.Clone(l)
	slices.Sort(l)
	d := l[(len(l)-1)*p/100]
	return d.Round(10 * time.Microsecond).String()
}

// serverRSS is the server process's resident set in MiB, from /proc/<pid>/status.
func serverRSS(t testing.TB, p *process) float64 { return procStatusMiB(t, p, "VmRSS") }

// procStatusMiB is a field of the process's /proc/<pid>/status given in kB (VmRSS, VmHWM), in MiB.
func procStatusMiB(t testing.TB, p *process, field string) float64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			var kb float64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%f kB", &kb); err != nil {
				t.Fatalf("%s %q: %v", field, v, err)
			}
			return kb / 1024
		}
	}
	t.Fatalf("no %s in /proc/<pid>/status", field)
	return 0
}

// goroutines is the server's go_goroutines gauge.
func goroutines(t testing.TB, s *stack) int {
	t.Helper()
	v, err := s.metric("go_goroutines")
	if err != nil {
		t.Fatal(err)
	}
	return int(v)
}
