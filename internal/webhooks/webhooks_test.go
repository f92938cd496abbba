package webhooks

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/store"
)

func TestPublic_RefusesInternalRanges(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"8.8.8.8": true, "1.1.1.1": true, "2606:4700:4700::1111": true, "93.184.216.34": true,
		"127.0.0.1": false, "127.8.9.10": false, "10.0.0.1": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "169.254.1.1": false, "100.64.0.1": false, "100.127.255.254": false,
		"0.0.0.0": false, "0.1.2.3": false, "255.255.255.255": false, "224.0.0.1": false, "192.0.2.1": false,
		"::1": false, "::": false, "fe80::1": false, "fc00::1": false, "fd00:ec2::254": false, "ff02::1": false,
		"::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false, "::ffff:169.254.169.254": false, "::ffff:8.8.8.8": true,
		"::127.0.0.1": false, "64:ff9b::a00:1": false, "2002:a00:1::1": false, "2001:db8::1": false,
		// Every form that embeds an IPv4 address: IPv4-translated, mapped, compatible, NAT64 (well-known
		// and local-use), 6to4, Teredo and ISATAP.
		"::ffff:0:127.0.0.1": false, "::ffff:0:10.0.0.1": false, "::ffff:0:169.254.169.254": false, "::ffff:0:8.8.8.8": false,
		"::ffff:7f00:1": false, "::a9fe:a9fe": false, "64:ff9b::127.0.0.1": false, "64:ff9b::169.254.169.254": false,
		"64:ff9b:1::a9fe:a9fe": false, "2002:7f00:1::": false, "2002:a9fe:a9fe::1": false,
		"2001:0:4136:e378:8000:63bf:80ff:fffe": false, "2001::ffff:ffff": false,
		"2a00:1450::5efe:127.0.0.1": false, "2a00:1450::200:5efe:10.0.0.1": false, "2a00:1450::5efe:8.8.8.8": true,
		"2a00:1450:4001:81c::200e": true,
	} {
		if got := Public(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Public(%s) = %v, want %v", addr, got, want)
		}
	}
}

// resolverFunc answers lookups from a function: the DNS a test controls.
type resolverFunc func(host string) []netip.Addr

func (f resolverFunc) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a := f(host); a != nil {
		return a, nil
	}
	return nil, errors.New("no such host")
}

// TestGuard_RebindingReachesNothing: a name that was public at creation and resolves to loopback at
// delivery is refused by the dialer before any connection is made.
func TestGuard_RebindingReachesNothing(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- struct{}{}
			c.Close()
		}
	}()
	answer := netip.MustParseAddr("93.184.216.34")
	g := NewGuard(nil, resolverFunc(func(string) []netip.Addr { return []netip.Addr{answer} }))
	if err := g.Check(context.Background(), "https://hooks.example.com/cmekd"); err != nil {
		t.Fatalf("a public name is refused: %v", err)
	}
	answer = netip.MustParseAddr("127.0.0.1") // the name now points inside
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	var refused *refusedError
	if _, err := g.DialContext(context.Background(), "tcp", net.JoinHostPort("hooks.example.com", port)); !errors.As(err, &refused) {
		t.Fatalf("dial after rebinding: %v, want refused", err)
	}
	select {
	case <-accepted:
		t.Fatal("the dialer connected to loopback")
	case <-time.After(100 * time.Millisecond):
	}
	exempt := NewGuard([]string{"127.0.0.1"}, nil)
	c, err := exempt.DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("an exempt host: %v", err)
	}
	c.Close()
}

func TestGuard_Check(t *testing.T) {
	t.Parallel()
	g := NewGuard([]string{"127.0.0.1", "[::1]", "Receiver.Internal"}, resolverFunc(func(h string) []netip.Addr {
		switch h {
		case "public.example":
			return []netip.Addr{netip.MustParseAddr("93.184.216.34")}
		case "mixed.example":
			return []netip.Addr{netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("10.1.2.3")}
		}
		return nil
	}))
	for url, ok := range map[string]bool{
		"https://public.example/hook": true, "http://127.0.0.1:8080/hook": true, "http://[::1]:9/x": true,
		"http://receiver.internal/x": true, "https://public.example:8443/a?b=c": true,
		"http://public.example/hook": false, "https://mixed.example/hook": false, "https://nowhere.example/": false,
		"https://10.0.0.1/": false, "https://public.example/#frag": false, "https://u:p@public.example/": false,
		"public.example/hook": false, "": false,
		"https://public.example:0/": false, "https://public.example:99999/": false, "https://public.example:65536/": false,
		"http://127.0.0.1:0/hook": false, "https://public.example:00443/": true, "https://public.example:65535/": true,
		"https://[::ffff:0:127.0.0.1]/": false, "https://[64:ff9b::10.0.0.1]/": false, "https://[2002:a00:1::1]:443/": false,
	} {
		if err := g.Check(context.Background(), url); (err == nil) != ok {
			t.Errorf("Check(%q) = %v, want ok=%v", url, err, ok)
		}
	}
}

func TestBackoff_DoublesToAnHourWithJitter(t *testing.T) {
	t.Parallel()
	base := 10 * time.Second
	for n, want := range map[int]time.Duration{1: 10 * time.Second, 2: 20 * time.Second, 3: 40 * time.Second,
		10: time.Hour, 50: time.Hour} {
		for range 20 {
			if got := Backoff(base, n); got < want || got > want+want/10 {
				t.Errorf("Backoff(%s, %d) = %s, want %s plus at most a tenth", base, n, got, want)
			}
		}
	}
}

func TestHorizon_OnlyFinalSeqs(t *testing.T) {
	t.Parallel()
	h := horizon{safe: 10}
	// 11 and 12 are visible; 13 is not (a running transaction holds it); 14 is.
	h.advance(store.Horizon{XMin: 100, XMax: 105, MaxSeq: 14, Seqs: []int64{11, 12, 14}})
	if h.safe != 12 {
		t.Fatalf("safe %d after a gap at 13, want 12", h.safe)
	}
	// Transaction 100 still runs: the gap may still fill.
	h.advance(store.Horizon{XMin: 100, XMax: 106, MaxSeq: 15, Seqs: []int64{14, 15}})
	if h.safe != 12 {
		t.Fatalf("safe %d while the gap's transaction may run, want 12", h.safe)
	}
	// Every transaction below 105 has ended: 13 is final (rolled back), and so is everything up to 14.
	h.advance(store.Horizon{XMin: 105, XMax: 107, MaxSeq: 15, Seqs: []int64{14, 15}})
	if h.safe != 14 {
		t.Fatalf("safe %d, want 14 once the checkpoint's transactions ended", h.safe)
	}
	h.advance(store.Horizon{XMin: 107, XMax: 107, MaxSeq: 15, Seqs: []int64{15}})
	if h.safe != 15 {
		t.Fatalf("safe %d, want 15", h.safe)
	}
}

func TestValidEvents(t *testing.T) {
	t.Parallel()
	if got, err := validEvents([]string{"key.restored", "*"}); err != nil || !slices.Equal(got, []string{"*"}) {
		t.Errorf("with *: %v %v", got, err)
	}
	if _, err := validEvents([]string{"nope"}); err == nil {
		t.Error("an unknown type is accepted")
	}
}
