package awsemu

// access is what an operation asks of the key its request names: the forms
// of KeyId that may name it, the action to authorize and what the key policy
// and the grants judge that action by.
type access struct {
	mode    resolveMode
	action  string              // "Encrypt"
	encCtx  map[string]string   // the request's encryption context; nil for operations without one
	extra   map[string][]string // condition keys beyond the caller's and the context's
	byGrant func(*grant) bool   // whether a grant admits the request; nil: one that admits action with encCtx
}

// inRegion runs fn with e.mu held on the call's region, its timed state
// changes settled.
func (c *call) inRegion(fn func(r *region) (any, error)) (any, error) {
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	return fn(c.e.regionLocked(c.region, c.now))
}

// keyLocked resolves keyID in r and authorizes a on the key it names. e.mu
// must be held.
func (c *call) keyLocked(r *region, keyID string, a access) (*key, error) {
	k, err := c.resolveLocked(r, keyID, a.mode)
	if err != nil {
		return nil, err
	}
	if err := c.authorizeLocked(k, a); err != nil {
		return nil, err
	}
	return k, nil
}

// withKey is the prelude of every operation on one key: lock the state,
// resolve keyID in the call's region, authorize a on the key; then it runs fn
// with e.mu held.
func (c *call) withKey(keyID string, a access, fn func(r *region, k *key) (any, error)) (any, error) {
	return c.inRegion(func(r *region) (any, error) {
		k, err := c.keyLocked(r, keyID, a)
		if err != nil {
			return nil, err
		}
		return fn(r, k)
	})
}

// keyIDInput is the input of the operations that take only a key.
type keyIDInput struct {
	KeyId       string
	GrantTokens []string
}

// keyOp is the shape of the operations whose input is just a KeyId.
func (c *call) keyOp(body []byte, a access, fn func(r *region, k *key) (any, error)) (any, error) {
	var in keyIDInput
	if err := decodeValid(body, &in, func(v *validator) {
		v.keyID(in.KeyId)
		v.grantTokens(in.GrantTokens)
	}); err != nil {
		return nil, err
	}
	if err := c.checkGrantTokens(in.GrantTokens); err != nil {
		return nil, err
	}
	return c.withKey(in.KeyId, a, fn)
}

// decodeValid reads body into in, then checks its members with check and
// reports every constraint they break at once.
func decodeValid(body []byte, in any, check func(v *validator)) error {
	if err := decode(body, in); err != nil {
		return err
	}
	var v validator
	check(&v)
	return v.err()
}
