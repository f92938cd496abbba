package domain

// Limits bound what one organisation may hold, so that no tenant can grow a table (and every list
// and sweep over it) without end. Zero means no limit.
type Limits struct {
	Tokens          int // live (unrevoked) tokens
	Webhooks        int
	Collections     int
	SecretScopes    int
	SecretsPerScope int // keys of one scope
	Workspaces      int
}

// WithinLimit refuses the creation of one more of what (a plural noun, "tokens") when count of them
// already reach limit: 422 limit_exceeded with the limit and the count.
func WithinLimit(what string, limit, count int) error {
	if limit <= 0 || count < limit {
		return nil
	}
	e := Errorf(KindInvalid, CodeLimitExceeded,
		"the limit of %d %s is reached; delete some before creating more, or ask the operator to raise it", limit, what)
	e.Details = map[string]any{"limit": limit, "count": count, "resource": what}
	return e
}
