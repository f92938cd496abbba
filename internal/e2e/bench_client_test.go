package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
)

// benchClient sends requests as the admin over keep-alive connections, without OpenAPI validation.
type benchClient struct{ http *http.Client }

// newBenchClient is a benchClient keeping up to idle connections open to the server (0: the
// transport's default), closed when b ends.
func newBenchClient(b *testing.B, idle int) *benchClient {
	c := &benchClient{http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: idle}}}
	b.Cleanup(c.http.CloseIdleConnections)
	return c
}

// send makes one request, reads the whole answer and fails unless its status is want.
func (c *benchClient) send(tb testing.TB, method, url string, body []byte, want int) []byte {
	rb, err := c.try(method, url, body, want)
	if err != nil {
		tb.Fatal(err)
	}
	return rb
}

// try is send for a goroutine other than the benchmark's: it returns what went wrong.
func (c *benchClient) try(method, url string, body []byte, want int) ([]byte, error) {
	return c.exchange(method, url, body, want, nil)
}

// hit is send for a timed op, whose answer is read whole and then dropped: it is read into a buffer
// the client reuses, as a client that cares would, so that the benchmark's own garbage does not weigh
// on the server it shares this process with.
func (c *benchClient) hit(tb testing.TB, method, url string, body []byte, want int) {
	buf := answerBuffers.Get().(*[]byte)
	defer answerBuffers.Put(buf)
	if _, err := c.exchange(method, url, body, want, buf); err != nil {
		tb.Fatal(err)
	}
}

// tryHit is hit for a goroutine other than the benchmark's.
func (c *benchClient) tryHit(method, url string, body []byte, want int) error {
	buf := answerBuffers.Get().(*[]byte)
	defer answerBuffers.Put(buf)
	_, err := c.exchange(method, url, body, want, buf)
	return err
}

var answerBuffers = sync.Pool{New: func() any { return new([]byte) }}

// exchange makes one request and reads the whole answer, into *buf when buf is not nil (grown as
// needed), else into a new buffer.
func (c *benchClient) exchange(method, url string, body []byte, want int, buf *[]byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	hr, err := http.NewRequest(method, url, rd)
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Authorization", "Bearer "+adminToken)
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(hr)
	if err != nil {
		return nil, err
	}
	var rb []byte
	switch {
	case resp.ContentLength > 0 && buf != nil:
		if int64(cap(*buf)) < resp.ContentLength {
			*buf = make([]byte, resp.ContentLength)
		}
		rb = (*buf)[:resp.ContentLength]
		_, err = io.ReadFull(resp.Body, rb)
	case resp.ContentLength > 0: // read into a buffer of the answer's size, as a client that cares would
		rb = make([]byte, resp.ContentLength)
		_, err = io.ReadFull(resp.Body, rb)
	default:
		rb, err = io.ReadAll(resp.Body)
	}
	resp.Body.Close()
	if err != nil || resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: %d, want %d: %s %v", method, url, resp.StatusCode, want, rb, err)
	}
	return rb, nil
}

// collection creates a collection through base (a server's URL) and returns its id.
func (c *benchClient) collection(tb testing.TB, base, org, name string) string {
	var out struct{ ID string }
	body, _ := json.Marshal(map[string]any{"name": name, "recoverable": true})
	if err := json.Unmarshal(c.send(tb, "POST", base+"/v1/orgs/"+org+"/collections", body, http.StatusCreated), &out); err != nil {
		tb.Fatal(err)
	}
	return out.ID
}

// ingest posts one batch through base and returns the ids.
func (c *benchClient) ingest(tb testing.TB, base, org, col string, batch []byte) []string {
	var out struct{ IDs []string }
	if err := json.Unmarshal(c.send(tb, "POST", base+docsPath(org, col), batch, http.StatusCreated), &out); err != nil {
		tb.Fatal(err)
	}
	return out.IDs
}

// pageCursors walks a collection of want documents in pages of docsPerBatch, checking that each
// page is full of objects, and returns the cursor of every page.
func (c *benchClient) pageCursors(tb testing.TB, base, org, col string, want int) []string {
	cursors := []string{""}
	seen := 0
	for {
		var page struct {
			Documents []struct {
				ID   string
				Data map[string]any
			}
			NextCursor string `json:"next_cursor"`
		}
		url := base + docsPath(org, col) + "?limit=100&cursor=" + cursors[len(cursors)-1]
		if err := json.Unmarshal(c.send(tb, "GET", url, nil, http.StatusOK), &page); err != nil {
			tb.Fatal(err)
		}
		for _, d := range page.Documents {
			if d.Data["event_id"] == nil {
				tb.Fatalf("document %s reads %v", d.ID, d.Data)
			}
		}
		seen += len(page.Documents)
		if page.NextCursor == "" {
			break
		}
		if len(page.Documents) != docsPerBatch {
			tb.Fatalf("a page of %d documents before the last", len(page.Documents))
		}
		cursors = append(cursors, page.NextCursor)
	}
	if seen != want {
		tb.Fatalf("listed %d documents, want %d", seen, want)
	}
	return cursors
}
