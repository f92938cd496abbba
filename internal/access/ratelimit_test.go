package access_test

import (
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/access"
)

func TestPerKey_BurstThenOneEveryInterval(t *testing.T) {
	t.Parallel()
	l := access.NewPerKey(time.Second, 3)
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		if ok, _ := l.Allow("tok_a", now); !ok {
			t.Fatalf("event %d of the burst refused", i)
		}
	}
	ok, wait := l.Allow("tok_a", now)
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("fourth event: ok %t, wait %s; want refused with a wait of at most 1s", ok, wait)
	}
	if ok, _ := l.Allow("tok_b", now); !ok {
		t.Fatal("another key shares the first one's bucket")
	}
	if ok, _ := l.Allow("tok_a", now.Add(time.Second)); !ok {
		t.Fatal("refused after the interval passed")
	}
	if ok, _ := l.Allow("tok_a", now.Add(time.Second)); ok {
		t.Fatal("a refused event still took from the bucket's refill")
	}
}
