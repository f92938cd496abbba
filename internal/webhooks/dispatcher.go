package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cmekd/cmekd/internal/clock"
	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/keyring"
	"github.com/cmekd/cmekd/internal/prom"
	"github.com/cmekd/cmekd/internal/store"
)

// Delivery bounds.
const (
	// DeliveryTimeout is how long a receiver has to answer a delivery with a 2xx.
	DeliveryTimeout = 10 * time.Second
	// MaxRetryDelay caps the doubling of the wait between attempts.
	MaxRetryDelay = time.Hour
	// RetryWindow is how long an endpoint may fail before it is disabled.
	RetryWindow = 24 * time.Hour
	// maxResponseRead is how much of a receiver's answer is read (and thrown away), so a huge or
	// endless body costs nothing.
	maxResponseRead = 4 << 10
	// maxErrorText bounds the error text of a delivery attempt.
	maxErrorText = 300
)

// DispatcherConfig configures a Dispatcher.
type DispatcherConfig struct {
	Store   *store.Store
	Keyring *keyring.Keyring
	// ProviderKeyARN is the platform's own key, the only one that may wrap an endpoint's secret.
	ProviderKeyARN string
	Guard          *Guard
	Logger         *slog.Logger
	Registerer     prometheus.Registerer
	// Clock tells the time of attempts, retries and leases; nil means the wall clock.
	Clock clock.Clock
	// Owner names this replica in leases; it must be unique per running replica.
	Owner string
	// RetryBase is CMEKD_WEBHOOK_RETRY_BASE: the wait before the first retry, doubled after each
	// failed attempt up to MaxRetryDelay.
	RetryBase time.Duration
	// Poll is how often the audit trail is read for new events; 0 means 250 ms.
	Poll time.Duration
	// Concurrency bounds the endpoints being delivered to at once; 0 means 16. A slow receiver holds
	// one slot, never the API's or the monitor's work.
	Concurrency int
	// Batch is how many events one claim of an endpoint sends at most; 0 means 100.
	Batch int
	// Timeout overrides DeliveryTimeout (benchmarks of a hanging receiver); 0 means DeliveryTimeout.
	Timeout time.Duration
}

// Dispatcher delivers the audit trail to webhook endpoints. Endpoints are claimed with leases in
// PostgreSQL (FOR UPDATE SKIP LOCKED), so any number of replicas share the work, one endpoint is sent
// to by one replica at a time, in audit order, and a dead replica's endpoints are claimed again when
// its leases run out. An event leaves an endpoint's queue only when its delivery is recorded.
type Dispatcher struct {
	cfg     DispatcherConfig
	client  *http.Client
	lease   time.Duration
	horizon horizon
	started bool

	outcomes *prometheus.CounterVec
	depth    prometheus.Gauge
	oldest   prometheus.Gauge
}

// Outcomes of a delivery attempt, the label of cmekd_webhook_deliveries_total.
const (
	outcomeDelivered = "delivered"
	outcomeRejected  = "rejected"  // the receiver answered, not with a 2xx
	outcomeNoAnswer  = "no_answer" // refused, reset or timed out
	outcomeRefused   = "refused"   // the host resolved to an address cmekd does not call
	statsEvery       = 5 * time.Second
)

// NewDispatcher returns a Dispatcher.
func NewDispatcher(cfg DispatcherConfig) (*Dispatcher, error) {
	cfg.Clock = clock.Or(cfg.Clock)
	if cfg.Poll <= 0 {
		cfg.Poll = 250 * time.Millisecond
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 16
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 100
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DeliveryTimeout
	}
	d := &Dispatcher{cfg: cfg,
		// A lease outlasts a delivery that takes its whole timeout, with room to record it.
		lease: 3 * cfg.Timeout,
		client: &http.Client{
			Timeout: cfg.Timeout,
			Transport: &http.Transport{
				// Never a proxy: it would connect to addresses the guard has not vetted.
				Proxy:                 nil,
				DialContext:           cfg.Guard.DialContext,
				TLSHandshakeTimeout:   cfg.Timeout,
				ResponseHeaderTimeout: cfg.Timeout,
				MaxIdleConnsPerHost:   4,
				IdleConnTimeout:       90 * time.Second,
				ForceAttemptHTTP2:     true,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cmekd_webhook_deliveries_total",
			Help: "Webhook delivery attempts by outcome (delivered, rejected, no_answer, refused)."}, []string{"outcome"}),
		depth: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cmekd_webhook_queue_depth",
			Help: "Events that active webhook endpoints have yet to receive."}),
		oldest: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cmekd_webhook_oldest_undelivered_seconds",
			Help: "Age of the oldest event an active webhook endpoint has yet to receive; 0 when none waits."}),
	}
	if cfg.Registerer != nil {
		var err error
		if d.outcomes, err = prom.Register(cfg.Registerer, d.outcomes); err != nil {
			return nil, err
		}
		if d.depth, err = prom.Register(cfg.Registerer, d.depth); err != nil {
			return nil, err
		}
		if d.oldest, err = prom.Register(cfg.Registerer, d.oldest); err != nil {
			return nil, err
		}
	}
	for _, o := range []string{outcomeDelivered, outcomeRejected, outcomeNoAnswer, outcomeRefused} {
		d.outcomes.WithLabelValues(o)
	}
	return d, nil
}

// Name names the dispatcher among the background services.
func (d *Dispatcher) Name() string { return "webhook-dispatcher" }

// Run delivers until ctx ends, then gives its leases back so another replica (or this one, restarted)
// takes the endpoints over at once.
func (d *Dispatcher) Run(ctx context.Context) error {
	sem := make(chan struct{}, d.cfg.Concurrency)
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		releaseCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if err := d.cfg.Store.ReleaseWebhookLeases(releaseCtx, d.cfg.Owner); err != nil {
			d.cfg.Logger.WarnContext(ctx, "release webhook leases", "error", err.Error())
		}
	}()
	t := time.NewTicker(d.cfg.Poll)
	defer t.Stop()
	var lastStats time.Time
	for {
		if err := d.dispatch(ctx, sem, &wg); err != nil && ctx.Err() == nil {
			d.cfg.Logger.ErrorContext(ctx, "webhook dispatch failed", "error", err.Error())
		}
		if time.Since(lastStats) >= statsEvery {
			lastStats = time.Now()
			if err := d.stats(ctx); err != nil && ctx.Err() == nil {
				d.cfg.Logger.WarnContext(ctx, "webhook queue stats", "error", err.Error())
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// dispatch moves the horizon, then claims as many due endpoints as there are free slots and
// delivers to each in its own goroutine.
func (d *Dispatcher) dispatch(ctx context.Context, sem chan struct{}, wg *sync.WaitGroup) error {
	if !d.started {
		start, err := d.cfg.Store.MinWebhookCursor(ctx)
		if err != nil {
			return err
		}
		d.horizon, d.started = horizon{safe: start}, true
	}
	h, err := d.cfg.Store.EventHorizon(ctx, d.horizon.safe, 1000)
	if err != nil {
		return err
	}
	d.horizon.advance(h)
	upto := d.horizon.safe
	free := cap(sem) - len(sem)
	if free == 0 {
		return nil
	}
	claimed, err := d.cfg.Store.ClaimWebhooks(ctx, d.cfg.Owner, d.cfg.Clock.Now().UTC(), d.lease, upto, free)
	if err != nil {
		return err
	}
	for _, c := range claimed {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			d.deliverAll(ctx, c, upto)
		})
	}
	return nil
}

// stats refreshes the queue gauges.
func (d *Dispatcher) stats(ctx context.Context) error {
	depth, oldest, err := d.cfg.Store.QueueStats(ctx)
	if err != nil {
		return err
	}
	d.depth.Set(float64(depth))
	age := 0.0
	if oldest != nil {
		age = max(0, d.cfg.Clock.Now().Sub(*oldest).Seconds())
	}
	d.oldest.Set(age)
	return nil
}

// Backoff is the wait after a delivery's n-th failed attempt: base doubled n-1 times, at most
// MaxRetryDelay, plus up to a tenth more of jitter so that endpoints that failed together do not
// retry together.
func Backoff(base time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < MaxRetryDelay; i++ {
		d *= 2
	}
	d = min(d, MaxRetryDelay)
	return d + rand.N(d/10+1)
}

// deliverAll sends endpoint c its events in (cursor, upto], in order and batch after batch, while its
// receiver accepts them and its lease holds; the first failure schedules a retry of that event and
// ends the round.
func (d *Dispatcher) deliverAll(ctx context.Context, c store.ClaimedWebhook, upto int64) {
	log := d.cfg.Logger.With("org_id", c.OrgID, "webhook_id", c.ID)
	p := store.WebhookProgress{Cursor: c.Cursor, Attempts: c.Attempts, FailingSince: c.FailingSince}
	secret := ""
	for {
		now := d.cfg.Clock.Now().UTC()
		p.NextAttemptAt = now
		evs, err := d.cfg.Store.PendingEvents(ctx, c.ID, p.Cursor, upto, d.cfg.Batch)
		if err != nil {
			log.ErrorContext(ctx, "read webhook events", "error", err.Error())
			return // the lease runs out and the endpoint is claimed again
		}
		if len(evs) == 0 { // nothing else in range is for this endpoint
			p.Cursor, p.Keep = upto, false
			d.save(ctx, log, c, nil, p, false)
			return
		}
		if secret == "" {
			if secret, err = openSecret(ctx, d.cfg.Keyring, d.cfg.ProviderKeyARN, c.Webhook, c.Secret); err != nil {
				log.ErrorContext(ctx, "open webhook secret", "error", fmt.Errorf("%w: %w", errNoSecret, err).Error())
				p.NextAttemptAt, p.Keep = now.Add(d.cfg.RetryBase), false
				d.save(ctx, log, c, nil, p, false)
				return
			}
		}
		full := len(evs) == d.cfg.Batch
		for i, ev := range evs {
			a, ok := d.send(ctx, c.Webhook, secret, ev)
			if ctx.Err() != nil {
				return // shutting down: unrecorded, so sent again later (at least once)
			}
			now := d.cfg.Clock.Now().UTC()
			a.Attempt = p.Attempts + 1
			last := i == len(evs)-1
			disable := false
			if ok {
				p.Cursor, p.Attempts, p.FailingSince, p.NextAttemptAt = ev.Seq, 0, nil, now
				if last && !full {
					p.Cursor = upto // every later event in range is for other endpoints
				}
			} else {
				p.Attempts = a.Attempt
				if p.FailingSince == nil {
					p.FailingSince = &a.At
				}
				p.NextAttemptAt = now.Add(Backoff(d.cfg.RetryBase, a.Attempt))
				disable = now.Sub(*p.FailingSince) >= RetryWindow
			}
			p.Keep, p.LeaseTill = ok && (!last || full), now.Add(d.lease)
			if !d.save(ctx, log, c, &a, p, disable) || !ok {
				return
			}
		}
		if !full {
			return
		}
	}
}

// save records an attempt (when there is one) and the endpoint's progress in one transaction, and
// disables the endpoint with its webhook.disabled event when its retry window is spent. It reports
// whether the lease still held.
func (d *Dispatcher) save(ctx context.Context, log *slog.Logger, c store.ClaimedWebhook, a *domain.WebhookDelivery,
	p store.WebhookProgress, disable bool) bool {
	var held bool
	err := d.cfg.Store.InTx(ctx, func(tx *store.Q) error {
		if a != nil {
			if err := tx.InsertDelivery(ctx, *a); err != nil {
				return err
			}
		}
		var err error
		if held, err = tx.SaveWebhookProgress(ctx, c.ID, d.cfg.Owner, d.cfg.Clock.Now().UTC(), p); err != nil || !held || !disable {
			return err
		}
		if err := tx.DisableWebhook(ctx, c.ID); err != nil {
			return err
		}
		return tx.InsertEvent(ctx, domain.Event{OrgID: c.OrgID, Type: domain.EventWebhookDisabled, Actor: "webhook-dispatcher",
			WebhookID: c.ID, Reason: "no delivery succeeded for 24 hours"})
	})
	if err != nil {
		log.ErrorContext(ctx, "record webhook delivery", "error", err.Error())
		return false
	}
	if disable && held {
		log.WarnContext(ctx, "webhook disabled after 24 hours of failed deliveries")
	}
	return held
}

// payload is a delivery's body.
type payload struct {
	ID    string           `json:"id"`
	Type  string           `json:"type"`
	At    time.Time        `json:"at"`
	OrgID string           `json:"org_id"`
	Data  domain.EventBody `json:"data"`
}

// send POSTs one event to the endpoint and reports the attempt and whether it was delivered.
func (d *Dispatcher) send(ctx context.Context, w domain.Webhook, secret string, ev domain.Event) (domain.WebhookDelivery, bool) {
	a := domain.WebhookDelivery{ID: domain.NewID("whd"), WebhookID: w.ID, EventID: ev.ID, Type: ev.Type}
	body, err := json.Marshal(payload{ID: ev.ID, Type: ev.Type, At: ev.At, OrgID: ev.OrgID, Data: ev.Body()})
	if err != nil {
		a.Error = "encode the event: " + err.Error()
		return a, false
	}
	outcome := outcomeNoAnswer
	defer func() { d.outcomes.WithLabelValues(outcome).Inc() }()
	if _, _, err := d.cfg.Guard.parse(w.URL); err != nil { // CMEKD_WEBHOOK_HTTP_HOSTS changed since creation
		a.At, outcome = d.cfg.Clock.Now().UTC(), outcomeRefused
		if e, ok := domain.AsError(err); ok {
			a.Error = "refused: " + e.Message
		}
		return a, false
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		a.Error = "build the request: " + err.Error()
		return a, false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "cmekd-webhooks/1")
	req.Header.Set("Cmekd-Event-Id", ev.ID)
	a.At = d.cfg.Clock.Now().UTC()
	req.Header.Set("Cmekd-Signature", Signature(secret, a.At, body))
	start := time.Now()
	resp, err := d.client.Do(req)
	a.Latency = time.Since(start)
	if err != nil {
		var refused *refusedError
		switch {
		case errors.As(err, &refused):
			outcome, a.Error = outcomeRefused, "refused: "+refused.Error()
		case isTimeout(err):
			a.Error = fmt.Sprintf("no answer within %s", d.cfg.Timeout)
		default:
			a.Error = truncate(unwrapURLError(err).Error())
		}
		return a, false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseRead))
	resp.Body.Close()
	a.StatusCode = resp.StatusCode
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		outcome = outcomeDelivered
		return a, true
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		a.Error = fmt.Sprintf("the receiver answered %d; redirects are not followed", resp.StatusCode)
	default:
		a.Error = fmt.Sprintf("the receiver answered %d", resp.StatusCode)
	}
	outcome = outcomeRejected
	return a, false
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// unwrapURLError drops net/http's "Post <url>:" prefix; the URL is the endpoint's own.
func unwrapURLError(err error) error {
	var u *url.Error
	if errors.As(err, &u) {
		return u.Err
	}
	return err
}

func truncate(s string) string {
	if len(s) <= maxErrorText {
		return s
	}
	return strings.ToValidUTF8(s[:maxErrorText], "") + "…"
}
