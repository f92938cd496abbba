package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/cmekd/cmekd/internal/domain"
)

// Resolver looks names up; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Guard decides which URLs cmekd may deliver to: https to public addresses only, except
// the hosts CMEKD_WEBHOOK_HTTP_HOSTS names. It checks a URL when an endpoint is created and again at
// every connection, which dials only an address it has just vetted, so a name that resolves to a
// public address at creation and to an internal one later (DNS rebinding) reaches nothing.
type Guard struct {
	exempt   map[string]bool
	resolver Resolver
	dialer   net.Dialer
}

// NewGuard returns a Guard exempting hosts (as written in URLs; IPv6 literals with or without
// brackets), resolving names with r (nil means the system resolver).
func NewGuard(hosts []string, r Resolver) *Guard {
	if r == nil {
		r = net.DefaultResolver
	}
	g := &Guard{exempt: map[string]bool{}, resolver: r}
	for _, h := range hosts {
		g.exempt[normalHost(h)] = true
	}
	return g
}

func normalHost(h string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(h), "["), "]"))
}

// maxURL bounds an endpoint URL's length.
const maxURL = 2048

func invalidURL(format string, args ...any) error {
	e := domain.Errorf(domain.KindInvalid, domain.CodeInvalidWebhookURL, format, args...)
	e.Details = map[string]any{"field": "url"}
	return e
}

// parse applies the rules that need no lookup: an absolute https URL (http for an exempt host),
// with a host and no credentials or fragment. It reports whether the host is exempt.
func (g *Guard) parse(raw string) (*url.URL, bool, error) {
	if len(raw) > maxURL {
		return nil, false, invalidURL("the URL is longer than %d bytes", maxURL)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Hostname() == "" || u.Opaque != "" {
		return nil, false, invalidURL("the URL must be absolute, like https://hooks.example.com/cmekd")
	}
	if u.User != nil {
		return nil, false, invalidURL("the URL must not hold credentials; verify deliveries by their signature")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, false, invalidURL("the URL must not have a fragment")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, false, invalidURL("the URL's port must be 1 to 65535, not %s", domain.Clip(p, 10))
		}
	}
	exempt := g.exempt[normalHost(u.Hostname())]
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && exempt:
	default:
		return nil, false, invalidURL("the URL must use https")
	}
	return u, exempt, nil
}

// Check vets an endpoint URL: parse's rules, then every address its host resolves to must be public.
// Nothing is sent to it.
func (g *Guard) Check(ctx context.Context, raw string) error {
	u, exempt, err := g.parse(raw)
	if err != nil || exempt {
		return err
	}
	if _, err := g.vet(ctx, u.Hostname()); err != nil {
		var refused *refusedError
		if errors.As(err, &refused) {
			return invalidURL("%s", refused.Error())
		}
		return invalidURL("the URL's host %q does not resolve", u.Hostname())
	}
	return nil
}

// refusedError is a host that resolves to an address cmekd does not call.
type refusedError struct {
	host string
	addr netip.Addr
}

func (e *refusedError) Error() string {
	return fmt.Sprintf("the URL's host %s resolves to %s, which is not a public address", e.host, e.addr)
}

// vet resolves host (an IP literal stands for itself) and returns its addresses if every one is
// public; a name with any internal address is refused whole.
func (g *Guard) vet(ctx context.Context, host string) ([]netip.Addr, error) {
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else if addrs, err = g.resolver.LookupNetIP(ctx, "ip", host); err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("%s has no address", host)
	}
	for _, a := range addrs {
		if !Public(a) {
			return nil, &refusedError{host: host, addr: a}
		}
	}
	return addrs, nil
}

// DialContext is the delivery transport's dialer: it resolves the host again, refuses it unless every
// address is public (or the host is exempt), and connects to the vetted address itself.
func (g *Guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if g.exempt[normalHost(host)] {
		return g.dialer.DialContext(ctx, network, addr)
	}
	addrs, err := g.vet(ctx, host)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, a := range addrs {
		c, err := g.dialer.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// refusedPrefixes are ranges that are neither loopback, private, link-local, multicast nor
// unspecified (netip's own tests catch those) and still are no place to deliver to: CGNAT, "this
// network", IETF and documentation ranges, and IPv6 forms that embed an IPv4 address
// (IPv4-compatible, IPv4-translated, NAT64, 6to4, Teredo), which could carry an internal one and are
// refused whole: a translator or relay on the way would deliver to the IPv4 address inside.
var refusedPrefixes = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15", "198.51.100.0/24",
		"203.0.113.0/24", "240.0.0.0/4",
		"::/96", "::ffff:0:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/32", "2001:db8::/32", "2002::/16", "fec0::/10",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// Public reports whether a is an address cmekd may deliver to: a global unicast address outside
// every private, shared, reserved and special range. An IPv4-mapped IPv6 address is judged as the
// IPv4 address it maps, so ::ffff:127.0.0.1 is loopback; the metadata addresses 169.254.169.254 and
// fd00:ec2::254 are link-local and unique-local.
func Public(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || !a.IsGlobalUnicast() || a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() {
		return false
	}
	for _, p := range refusedPrefixes {
		if p.Contains(a) {
			return false
		}
	}
	if v4, ok := isatap(a); ok && !Public(v4) {
		return false
	}
	return true
}

// isatap returns the IPv4 address an ISATAP interface identifier (::0:5efe:a.b.c.d, the u and g bits
// of its first byte either way) embeds in a.
func isatap(a netip.Addr) (netip.Addr, bool) {
	if !a.Is6() {
		return netip.Addr{}, false
	}
	b := a.As16()
	if b[8]&^0x03 != 0 || b[9] != 0 || b[10] != 0x5e || b[11] != 0xfe {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(b[12:16])), true
}
