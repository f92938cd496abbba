package faults_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/testing/testkit"
)

// Ingests of this size, all at once, are what the server's memory must survive: just under the
// 8 MiB body limit of an ingest, 32 of them at the same moment.
const (
	bigBatchBytes = 7.5 * (1 << 20)
	bigBatches    = 32
	rssBoundMiB   = 512
)

// TestMemory_ConcurrentLargeIngestsStayBounded sends 32 ingests of 7.5 MiB at once to the server
// binary, by one operator token: its peak RSS stays under 512 MiB, every batch it acknowledged reads
// back, and every one it turned away was 503 server_busy with Retry-After, and is taken on retry.
func TestMemory_ConcurrentLargeIngestsStayBounded(t *testing.T) {
	s := newStack(t, testkit.Database(t))
	srv := s.startServer()
	org, docsPath := s.orgAndCollection()
	token := s.operatorToken(org)

	bodies := bigBodies()
	type outcome struct {
		status     int
		retryAfter string
		body       []byte
		err        error
	}
	out := make([]outcome, bigBatches)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := bigClient.Do(ingestRequest(t, s.URL+docsPath, token, bodies[i]))
			if err != nil {
				out[i].err = err
				return
			}
			defer resp.Body.Close()
			out[i].status, out[i].retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
			out[i].body, out[i].err = io.ReadAll(resp.Body)
		}()
	}
	close(start)
	wg.Wait()
	peak := peakRSS(t, srv)
	t.Logf("peak RSS after %d concurrent ingests of %.1f MiB: %.0f MiB", bigBatches, float64(bigBatchBytes)/(1<<20), peak)
	if peak >= rssBoundMiB {
		t.Errorf("peak RSS %.0f MiB, want under %d MiB", peak, rssBoundMiB)
	}

	var accepted, refused int
	for i, o := range out {
		switch {
		case o.err != nil:
			t.Fatalf("ingest %d: %v", i, o.err)
		case o.status == http.StatusCreated:
			accepted++
			s.mustRead(token, docsPath, o.body, bodies[i])
		case o.status == http.StatusServiceUnavailable:
			refused++
			if code := errorCode(o.body); code != "server_busy" {
				t.Errorf("ingest %d: 503 with code %q, want server_busy: %s", i, code, o.body)
			}
			secs, err := strconv.Atoi(o.retryAfter)
			if err != nil || secs < 1 {
				t.Fatalf("ingest %d: 503 with Retry-After %q, want a number of seconds", i, o.retryAfter)
			}
			time.Sleep(time.Duration(secs) * time.Second)
			resp, err := bigClient.Do(ingestRequest(t, s.URL+docsPath, token, bodies[i]))
			if err != nil {
				t.Fatalf("retry of ingest %d: %v", i, err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("retry of ingest %d = %d %s, want 201", i, resp.StatusCode, b)
			}
			s.mustRead(token, docsPath, b, bodies[i])
		default:
			t.Errorf("ingest %d = %d %s, want 201 or 503", i, o.status, o.body)
		}
	}
	t.Logf("%d accepted at once, %d refused and taken on retry", accepted, refused)
}

// BenchmarkIngestMemory measures the server binary's peak RSS and throughput under rounds of 32
// concurrent ingests of 7.5 MiB (a 503 is retried after its Retry-After), with the default in-flight
// budget, beside the same binary on the same database with the budget unbounded: each op is one
// round on each, alternately, so both see the same machine. It reports peak_rss_mib and MiB/s (the
// bounded server's), unbounded_peak_rss_mib and unbounded-MiB/s, and ratio (bounded ÷ unbounded
// throughput).
func BenchmarkIngestMemory(b *testing.B) {
	s := newStack(b, testkit.Database(b))
	srv := s.startServer()
	free := s.withEnv("CMEKD_MAX_INFLIGHT_BYTES=" + strconv.FormatInt(1<<40, 10))
	freeSrv := free.startServer()
	org, docsPath := s.orgAndCollection()
	token := s.operatorToken(org)
	bodies := bigBodies()
	var bounded, unbounded time.Duration
	b.ResetTimer()
	for range b.N {
		bounded += timedRound(b, s.URL+docsPath, token, bodies)
		unbounded += timedRound(b, free.URL+docsPath, token, bodies)
	}
	b.StopTimer()
	mib := float64(b.N*bigBatches) * bigBatchBytes / (1 << 20)
	b.ReportMetric(peakRSS(b, srv), "peak_rss_mib")
	b.ReportMetric(mib/bounded.Seconds(), "MiB/s")
	b.ReportMetric(peakRSS(b, freeSrv), "unbounded_peak_rss_mib")
	b.ReportMetric(mib/unbounded.Seconds(), "unbounded-MiB/s")
	b.ReportMetric(unbounded.Seconds()/bounded.Seconds(), "ratio")
}

// timedRound sends every body at once to url and returns how long until all were taken (a 503 is
// retried after its Retry-After).
func timedRound(b *testing.B, url, token string, bodies [][]byte) time.Duration {
	began := time.Now()
	var wg sync.WaitGroup
	for _, body := range bodies {
		wg.Go(func() {
			for {
				resp, err := bigClient.Do(ingestRequest(b, url, token, body))
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusCreated:
					return
				case http.StatusServiceUnavailable:
					secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
					time.Sleep(time.Duration(max(secs, 1)) * time.Second)
				default:
					b.Errorf("ingest = %d", resp.StatusCode)
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(began)
}

// withEnv is a stack whose servers run with extra settings, on an address of their own.
func (s *stack) withEnv(extra ...string) *stack {
	c := *s
	c.URL = "http://" + testkit.FreeAddr(s.t)
	// exec takes the last of a name set twice.
	c.env = append(append(slices.Clone(s.env), "CMEKD_ADDR="+strings.TrimPrefix(c.URL, "http://")), extra...)
	return &c
}

// bigClient waits longer than the harness's client: a batch of 7.5 MiB may queue behind others.
var bigClient = &http.Client{Timeout: 2 * time.Minute}

// bigBodies is bigBatches ingest bodies of bigBatchBytes each, every one naming its batch.
func bigBodies() [][]byte {
	bodies := make([][]byte, bigBatches)
	for i := range bodies {
		bodies[i] = bigBatch(i)
	}
	return bodies
}

// bigBatch is a valid ingest body of exactly bigBatchBytes: 32 documents of about 240 KiB each,
// under the 256 KiB a document may be, each naming its batch.
func bigBatch(batch int) []byte {
	const docs = 32
	var buf bytes.Buffer
	buf.WriteString(`{"documents":[`)
	for d := range docs {
		if d > 0 {
			buf.WriteByte(',')
		}
		head := fmt.Sprintf(`{"batch":%d,"doc":%d,"pad":"`, batch, d)
		// What is left of the body, shared evenly by the documents still to write.
		left := (int(bigBatchBytes) - buf.Len() - 2) / (docs - d)
		buf.WriteString(head)
		buf.Write(bytes.Repeat([]byte{'a' + byte(d%26)}, left-len(head)-2-btoi(d < docs-1)))
		buf.WriteString(`"}`)
	}
	buf.WriteString(`]}`)
	return buf.Bytes()
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func ingestRequest(t testing.TB, url, token string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	return req
}

// operatorToken creates an operator token of org and returns its secret.
func (s *stack) operatorToken(org string) string {
	s.t.Helper()
	return s.must(http.StatusCreated, "POST", "/v1/orgs/"+org+"/tokens",
		map[string]any{"name": "ingester", "role": "operator"})["token"].(string)
}

// mustRead reads back every document an ingest acknowledged (answer), and checks each is the
// document of body at its position.
func (s *stack) mustRead(token, docsPath string, answer, body []byte) {
	s.t.Helper()
	got, err := ids(answer)
	if err != nil {
		s.t.Fatalf("ingest answer %.200s: %v", answer, err)
	}
	var sent struct {
		Documents []json.RawMessage `json:"documents"`
	}
	if err := json.Unmarshal(body, &sent); err != nil {
		s.t.Fatal(err)
	}
	if len(got) != len(sent.Documents) {
		s.t.Fatalf("ingest acknowledged %d ids for %d documents", len(got), len(sent.Documents))
	}
	for i, id := range got {
		req, _ := http.NewRequest(http.MethodGet, s.URL+docsPath+"/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := bigClient.Do(req)
		if err != nil {
			s.t.Fatal(err)
		}
		var doc struct {
			Data json.RawMessage `json:"data"`
		}
		err = json.NewDecoder(resp.Body).Decode(&doc)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil {
			s.t.Fatalf("GET document %s = %d (%v)", id, resp.StatusCode, err)
		}
		if !bytes.Equal(doc.Data, sent.Documents[i]) {
			s.t.Fatalf("document %s reads back %.80s…, want %.80s…", id, doc.Data, sent.Documents[i])
		}
	}
}

func errorCode(body []byte) string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	return e.Error.Code
}

// peakRSS is the process's peak resident set (VmHWM) in MiB.
func peakRSS(t testing.TB, p *process) float64 { return procStatusMiB(t, p, "VmHWM") }
