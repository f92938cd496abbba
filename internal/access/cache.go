package access

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/cmekd/cmekd/internal/domain"
)

// Organisation tokens resolved recently are kept by the hash of their secret for tokenCacheTTL, at
// most tokenCacheMax of them (past that the cache starts again empty). A kept token is only a
// provisional answer: the caller must have it confirmed live in the database before it answers (a
// document read checks it in its own statement), so a revocation ends it at once on every replica;
// the bound is on how long a secret's hash and its principal stay in memory, not on revocation.
const (
	tokenCacheTTL = time.Minute
	tokenCacheMax = 10_000
)

type tokenCache struct {
	mu      sync.RWMutex
	entries map[[32]byte]cachedToken
}

type cachedToken struct {
	p     domain.Principal
	until time.Time
}

func (c *tokenCache) get(h [32]byte, now time.Time) (domain.Principal, bool) {
	c.mu.RLock()
	e, ok := c.entries[h]
	c.mu.RUnlock()
	return e.p, ok && now.Before(e.until)
}

func (c *tokenCache) put(h [32]byte, p domain.Principal, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= tokenCacheMax {
		c.entries = make(map[[32]byte]cachedToken)
	}
	c.entries[h] = cachedToken{p: p, until: now.Add(tokenCacheTTL)}
}

func (c *tokenCache) drop(h [32]byte) {
	c.mu.Lock()
	delete(c.entries, h)
	c.mu.Unlock()
}

// AuthenticateProvisionally is Authenticate that may answer an organisation token from the cache of
// recently resolved ones without asking the database: then checked is false, and the caller must
// have the token (Principal.TokenID) confirmed live before it answers anything (in the statement of
// its work, or by Authenticate). The admin token, and a token the cache does not hold, are
// authenticated as Authenticate does (checked true).
func (s *Service) AuthenticateProvisionally(ctx context.Context, secret string) (p domain.Principal, checked bool, err error) {
	if !strings.HasPrefix(secret, tokenPrefix) {
		p, err = s.Authenticate(ctx, secret)
		return p, true, err
	}
	h := hashOf(secret)
	now := time.Now()
	if p, ok := s.tokens.get(h, now); ok {
		return p, false, nil
	}
	// Only organisation tokens are kept (never the admin's, whatever it looks like).
	if p, err = s.Authenticate(ctx, secret); err == nil && p.TokenID != "" {
		s.tokens.put(h, p, now)
	}
	return p, true, err
}
