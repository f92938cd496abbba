package health

import (
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/domain"
)

var t0 = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

func cols(states ...string) []domain.Collection {
	var out []domain.Collection
	for i, s := range states {
		out = append(out, domain.Collection{ID: string(rune('a' + i)), State: s})
	}
	return out
}

var denied = &domain.ProbeError{Code: "access_denied", Action: "kms:Decrypt", Message: "no"}
var timeout = &domain.ProbeError{Code: "kms_unavailable", Message: "timeout"}

// TestDecide_AcrossHours drives one key through the whole diagram with a fake clock: hours pass
// without sleeping.
func TestDecide_AcrossHours(t *testing.T) {
	const pauseAfter = 6 * time.Hour
	h := domain.KeyHealth{Status: domain.KeyHealthy}
	c := cols(domain.StateActive, domain.StateActive)
	step := func(at time.Duration, o Outcome) Decision {
		d := Decide(h, c, o, t0.Add(at), pauseAfter)
		h = d.Key
		for _, ch := range d.Changes {
			for i := range c {
				if c[i].ID == ch.CollectionID {
					c[i].State = ch.To
				}
			}
		}
		return d
	}
	states := func() string { return c[0].State + "," + c[1].State }

	if d := step(0, Outcome{Kind: CustomerCaused, Error: denied}); d.KeyEvent != domain.EventKeyUnavailable || states() != "ingest_halted,ingest_halted" || !h.UnavailableSince.Equal(t0) {
		t.Fatalf("first failure: %+v %s", d, states())
	}
	if d := step(time.Hour, Outcome{Kind: CustomerCaused, Error: denied}); d.KeyEvent != "" || len(d.Changes) != 0 || !h.UnavailableSince.Equal(t0) {
		t.Fatalf("repeat failure changed things: %+v", d)
	}
	// Transient failures past the threshold: nothing moves, unavailable_since stays.
	if d := step(7*time.Hour, Outcome{Kind: Transient, Error: timeout}); d.KeyEvent != domain.EventKeyProbeError || len(d.Changes) != 0 || !h.UnavailableSince.Equal(t0) || h.Status != domain.KeyUnavailable {
		t.Fatalf("transient: %+v", d)
	}
	if d := step(7*time.Hour+30*time.Second, Outcome{Kind: Transient, Error: timeout}); d.KeyEvent != "" || h.LastProbeAt == nil || !h.LastProbeAt.Equal(t0.Add(7*time.Hour+30*time.Second)) {
		t.Fatalf("a repeated transient failure is one more event: %+v", d)
	}
	if d := step(7*time.Hour+time.Minute, Outcome{Kind: CustomerCaused, Error: denied}); len(d.Changes) != 2 || states() != "paused,paused" || d.Changes[0].Event != domain.EventCollectionPaused {
		t.Fatalf("pause: %+v %s", d, states())
	}
	if d := step(8*time.Hour, Outcome{Kind: Healthy}); d.KeyEvent != domain.EventKeyRestored || len(d.Changes) != 0 || states() != "paused,paused" || h.UnavailableSince != nil || h.LastError != nil {
		t.Fatalf("healthy after pause: %+v %s", d, states())
	}
}

func TestDecide_Table(t *testing.T) {
	since := t0.Add(-time.Hour)
	unavailable := domain.KeyHealth{Status: domain.KeyUnavailable, UnavailableSince: &since, LastError: denied}
	healthy := domain.KeyHealth{Status: domain.KeyHealthy}
	cases := []struct {
		name      string
		h         domain.KeyHealth
		cols      []domain.Collection
		o         Outcome
		pause     time.Duration
		keyEvent  string
		wantTo    []string // target state of each change, in order
		keyStatus string
	}{
		{"healthy stays healthy", healthy, cols("active"), Outcome{Kind: Healthy}, time.Hour, "", nil, "healthy"},
		{"first failure halts active only", healthy, cols("active", "paused", "ingest_halted"), Outcome{CustomerCaused, denied}, time.Hour, "key.unavailable", []string{"ingest_halted"}, "unavailable"},
		{"unknown key fails", domain.KeyHealth{Status: domain.KeyUnknown}, cols("active"), Outcome{CustomerCaused, denied}, time.Hour, "key.unavailable", []string{"ingest_halted"}, "unavailable"},
		{"threshold reached pauses halted and active", unavailable, cols("ingest_halted", "active", "paused"), Outcome{CustomerCaused, denied}, time.Hour, "", []string{"paused", "paused"}, "unavailable"},
		{"just under the threshold", unavailable, cols("ingest_halted"), Outcome{CustomerCaused, denied}, time.Hour + time.Nanosecond, "", nil, "unavailable"},
		{"restore reactivates halted, not paused", unavailable, cols("ingest_halted", "paused"), Outcome{Kind: Healthy}, time.Hour, "key.restored", []string{"active"}, "healthy"},
		{"transient on healthy", healthy, cols("active"), Outcome{Transient, timeout}, time.Nanosecond, "key.probe_error", nil, "healthy"},
		{"transient on unavailable past threshold", unavailable, cols("ingest_halted"), Outcome{Transient, timeout}, time.Nanosecond, "key.probe_error", nil, "unavailable"},
		{"the same transient error again", domain.KeyHealth{Status: domain.KeyHealthy, LastError: timeout}, cols("active"), Outcome{Transient, timeout}, time.Hour, "", nil, "healthy"},
		{"another transient error", domain.KeyHealth{Status: domain.KeyHealthy, LastError: timeout}, cols("active"), Outcome{Transient, &domain.ProbeError{Code: "kms_error"}}, time.Hour, "key.probe_error", nil, "healthy"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.h, tc.cols, tc.o, t0, tc.pause)
			if d.KeyEvent != tc.keyEvent || d.Key.Status != tc.keyStatus {
				t.Fatalf("key event %q status %q, want %q %q", d.KeyEvent, d.Key.Status, tc.keyEvent, tc.keyStatus)
			}
			if len(d.Changes) != len(tc.wantTo) {
				t.Fatalf("changes %+v, want targets %v", d.Changes, tc.wantTo)
			}
			for i, ch := range d.Changes {
				if ch.To != tc.wantTo[i] || ch.From == ch.To {
					t.Fatalf("change %d %+v, want to %s", i, ch, tc.wantTo[i])
				}
			}
			if !d.Key.LastProbeAt.Equal(t0) {
				t.Fatal("last_probe_at not stamped")
			}
		})
	}
}

func TestInitialState(t *testing.T) {
	if s, _ := InitialState(nil); s != domain.StateActive {
		t.Fatal("no key link: want active")
	}
	if s, r := InitialState(&domain.KeyHealth{Status: domain.KeyUnavailable, LastError: denied}); s != domain.StateIngestHalted || r != "access_denied" {
		t.Fatalf("unavailable key: %s %s", s, r)
	}
	if s, _ := InitialState(&domain.KeyHealth{Status: domain.KeyHealthy}); s != domain.StateActive {
		t.Fatal("healthy key: want active")
	}
}
