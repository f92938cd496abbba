package health

import (
	"testing"
	"time"
)

// TestNextProbe_LongerWhileEventsAreFresh: an organisation whose key events arrived within the
// freshness window is probed on the interval with events; one without, or with stale events, on the
// probe interval.
func TestNextProbe_LongerWhileEventsAreFresh(t *testing.T) {
	s := &Service{interval: time.Minute, withEvents: 15 * time.Minute, eventsFresh: 24 * time.Hour}
	now := time.Date(2025, 1, 31, 12, 0, 0, 0, time.UTC)
	fresh, stale := now.Add(-23*time.Hour), now.Add(-25*time.Hour)
	for _, tc := range []struct {
		name     string
		eventsAt *time.Time
		want     time.Duration
	}{{"no events", nil, time.Minute}, {"fresh events", &fresh, 15 * time.Minute}, {"stale events", &stale, time.Minute}} {
		got := s.nextProbe(now, tc.eventsAt).Sub(now)
		if got < tc.want*9/10 || got > tc.want*11/10 {
			t.Errorf("%s: next probe in %s, want %s ±10%%", tc.name, got, tc.want)
		}
	}
	s.withEvents = 0
	if got := s.nextProbe(now, &fresh).Sub(now); got > time.Minute*11/10 {
		t.Errorf("without an interval with events: next probe in %s", got)
	}
}
