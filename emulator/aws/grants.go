package awsemu

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
)

// grant lets its grantee perform some operations on one key.
type grant struct {
	id         string
	key        *key
	seq        uint64
	name       string
	grantee    string
	retiring   string
	operations []string
	subset     map[string]string // EncryptionContextSubset constraint
	equals     map[string]string // EncryptionContextEquals constraint
	created    time.Time
}

// admits tells whether the grant lets p perform op with encryption context
// encCtx. Its constraints govern only the operations that take a context.
func (g *grant) admits(p principal, op string, encCtx map[string]string) bool {
	if !principalMatches(g.grantee, p) || !slices.Contains(g.operations, op) {
		return false
	}
	return !slices.Contains(contextOperations, op) || contextAdmitted(g.subset, g.equals, encCtx)
}

// mayCreate tells whether the grant lets p create child: a grant made
// through a grant gives at most its operations, under constraints at least
// as strict as its own.
func (g *grant) mayCreate(p principal, child *grant) bool {
	if !principalMatches(g.grantee, p) || !slices.Contains(g.operations, "CreateGrant") {
		return false
	}
	for _, op := range child.operations {
		if !slices.Contains(g.operations, op) {
			return false
		}
	}
	switch {
	case g.equals != nil:
		// Only the very same context is as strict as an exact one.
		return child.equals != nil && sameContext(child.equals, g.equals)
	case g.subset != nil && child.equals != nil:
		return contextAdmitted(g.subset, nil, child.equals) && contextAdmitted(child.subset, nil, child.equals)
	case g.subset != nil:
		return contextAdmitted(g.subset, nil, child.subset)
	}
	return true
}

// contextAdmitted applies grant constraints to a request's encryption
// context. As AWS documents for grant constraints, a context key matches
// without regard to case and its value with it. A request may hold keys that
// differ only by case; then every one of them must satisfy the constraint, so
// that the answer never depends on which of them is looked at.
func contextAdmitted(subset, equals, encCtx map[string]string) bool {
	for ck, cv := range subset {
		found := false
		for k, v := range encCtx {
			if strings.EqualFold(k, ck) {
				if v != cv {
					return false
				}
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return equals == nil || sameContext(equals, encCtx)
}

// sameContext tells whether two contexts hold the same pairs, keys compared
// without regard to case: each pair of one has its match in the other.
func sameContext(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	covers := func(x, y map[string]string) bool {
	pairs:
		for xk, xv := range x {
			for yk, yv := range y {
				if strings.EqualFold(xk, yk) && xv == yv {
					continue pairs
				}
			}
			return false
		}
		return true
	}
	return covers(a, b) && covers(b, a)
}

type grantConstraints struct {
	EncryptionContextSubset map[string]string `json:"EncryptionContextSubset,omitempty"`
	EncryptionContextEquals map[string]string `json:"EncryptionContextEquals,omitempty"`
}

type grantListEntry struct {
	KeyId             string            `json:"KeyId"`
	GrantId           string            `json:"GrantId"`
	Name              string            `json:"Name,omitempty"`
	CreationDate      epoch             `json:"CreationDate"`
	GranteePrincipal  string            `json:"GranteePrincipal"`
	RetiringPrincipal string            `json:"RetiringPrincipal,omitempty"`
	IssuingAccount    string            `json:"IssuingAccount"`
	Operations        []string          `json:"Operations"`
	Constraints       *grantConstraints `json:"Constraints,omitempty"`
}

var (
	grantNamePattern = regexp.MustCompile(`^[a-zA-Z0-9:/_-]+$`)
	grantIDPattern   = regexp.MustCompile(`^[0-9a-f]{64}$`)
	// A grantee or retiring principal is an IAM principal ARN, an account, or an AWS service.
	granteePattern = regexp.MustCompile(`^(\d{12}|arn:aws[a-z-]*:(iam|sts)::\d{12}:.+|[a-z0-9.-]+\.amazonaws\.com(\.cn)?)$`)
)

// grantInput is the input of CreateGrant.
type grantInput struct {
	KeyId             string
	GranteePrincipal  string
	RetiringPrincipal string
	Operations        []string
	Constraints       *grantConstraints
	GrantTokens       []string
	Name              string
	DryRun            bool
}

func (in *grantInput) check(v *validator) {
	v.keyID(in.KeyId)
	v.required("granteePrincipal", in.GranteePrincipal != "")
	v.strLen("granteePrincipal", in.GranteePrincipal, 1, 256)
	v.strLen("retiringPrincipal", in.RetiringPrincipal, 1, 256)
	v.required("operations", len(in.Operations) > 0)
	for _, op := range in.Operations {
		v.enum("operations", op, grantOperations)
	}
	v.grantTokens(in.GrantTokens)
	v.strLen("name", in.Name, 1, 256)
	if in.Name != "" && !grantNamePattern.MatchString(in.Name) {
		v.add("Value '%s' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$", in.Name)
	}
}

// grant returns the grant the request asks for, not yet on its key, or why
// KMS refuses it.
func (in *grantInput) grant(now time.Time) (*grant, error) {
	for _, p := range []string{in.GranteePrincipal, in.RetiringPrincipal} {
		if p != "" && !granteePattern.MatchString(p) {
			return nil, newError(errValidation, "Invalid principal: %s", p)
		}
	}
	var subset, equals map[string]string
	if cs := in.Constraints; cs != nil {
		subset, equals = cs.EncryptionContextSubset, cs.EncryptionContextEquals
		if subset != nil || equals != nil {
			for _, op := range in.Operations {
				if !slices.Contains(constrainableOperations, op) {
					return nil, newError(errValidation, "Grant constraints are not supported for the %s operation.", op)
				}
			}
		}
	}
	ops := slices.Clone(in.Operations)
	slices.Sort(ops)
	return &grant{name: in.Name, grantee: in.GranteePrincipal, retiring: in.RetiringPrincipal,
		operations: slices.Compact(ops), subset: subset, equals: equals, created: now}, nil
}

// conditions are the condition keys of the key policy's judgement on a
// CreateGrant of child.
func (child *grant) conditions() map[string][]string {
	cond := grantConditions()
	cond["kms:GrantOperations"] = child.operations
	cond["kms:GranteePrincipal"] = []string{child.grantee}
	if child.retiring != "" {
		cond["kms:RetiringPrincipal"] = []string{child.retiring}
	}
	return cond
}

// sameAs tells whether g is the grant a named request asks for again.
func (g *grant) sameAs(child *grant) bool {
	return child.name != "" && g.name == child.name && g.grantee == child.grantee && g.retiring == child.retiring &&
		slices.Equal(g.operations, child.operations) && maps.Equal(g.subset, child.subset) && maps.Equal(g.equals, child.equals)
}

func (c *call) createGrant(body []byte) (any, error) {
	var in grantInput
	if err := decodeValid(body, &in, in.check); err != nil {
		return nil, err
	}
	if err := c.checkGrantTokens(in.GrantTokens); err != nil {
		return nil, err
	}
	child, err := in.grant(c.now)
	if err != nil {
		return nil, err
	}
	a := access{action: "CreateGrant", extra: child.conditions(),
		byGrant: func(g *grant) bool { return g.mayCreate(c.principal, child) }}
	return c.withKey(in.KeyId, a, func(_ *region, k *key) (any, error) {
		if err := checkUsable(k); err != nil {
			return nil, err
		}
		if in.DryRun {
			return nil, newError(errDryRun, msgDryRun)
		}
		// A named grant is idempotent: the same request again returns the same
		// grant (with a new token), as KMS does.
		if i := slices.IndexFunc(k.grants, func(g *grant) bool { return g.sameAs(child) }); i >= 0 {
			child = k.grants[i]
		} else {
			c.e.seq++
			child.id, child.seq, child.key = randomHex(32), c.e.seq, k
			k.grants = append(k.grants, child)
			c.e.grants[child.id] = child
		}
		return map[string]string{"GrantToken": c.e.grantToken(child.id), "GrantId": child.id}, nil
	})
}

// Grant tokens are "AQ" (like KMS's, so that a command line never takes one
// for an option), then base64 of the grant id, a nonce (each CreateGrant
// answers a new token) and a MAC under the emulator's secret over both: a
// token is recognised without being stored, also after a restart with -state.
const (
	grantIDSize = 32
	tokenNonce  = 16
	tokenPrefix = "AQ"
)

func (e *Emulator) grantToken(grantID string) string {
	id, _ := hex.DecodeString(grantID) // grant ids are made as hex
	b := append(id, make([]byte, tokenNonce)...)
	_, _ = rand.Read(b[grantIDSize:])
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(e.tokenMAC(b))
}

// tokenMAC appends the MAC of b to it.
func (e *Emulator) tokenMAC(b []byte) []byte {
	mac := hmac.New(sha256.New, e.tokenSecret)
	mac.Write(b)
	return mac.Sum(b)
}

// tokenGrantID returns the id of the grant a token was made for, or false if
// the emulator did not make it.
func (e *Emulator) tokenGrantID(token string) (string, bool) {
	rest, ok := strings.CutPrefix(token, tokenPrefix)
	if !ok {
		return "", false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(rest)
	if err != nil || len(b) != grantIDSize+tokenNonce+sha256.Size {
		return "", false
	}
	body := b[:grantIDSize+tokenNonce]
	if !hmac.Equal(e.tokenMAC(slices.Clone(body)), b) {
		return "", false
	}
	return hex.EncodeToString(b[:grantIDSize]), true
}

// checkGrantTokens refuses a request whose GrantTokens hold one the emulator
// did not issue. A genuine token of a grant since retired is accepted, as
// AWS accepts it; the grant just no longer admits anything.
func (c *call) checkGrantTokens(tokens []string) error {
	for _, t := range tokens {
		if _, ok := c.e.tokenGrantID(t); !ok {
			return newError(errInvalidGrantToken, "Invalid grant token.")
		}
	}
	return nil
}

func (c *call) listGrants(body []byte) (any, error) {
	var in struct {
		KeyId string
		pageInput
		GrantId          string
		GranteePrincipal string
	}
	if err := decodeValid(body, &in, func(v *validator) {
		v.keyID(in.KeyId)
		v.page(in.pageInput, grantsPaging)
		v.strLen("grantId", in.GrantId, 1, 128)
		v.strLen("granteePrincipal", in.GranteePrincipal, 1, 256)
	}); err != nil {
		return nil, err
	}
	return c.withKey(in.KeyId, access{action: "ListGrants", extra: grantConditions()}, func(_ *region, k *key) (any, error) {
		matching := slices.DeleteFunc(slices.Clone(k.grants), func(g *grant) bool {
			return (in.GrantId != "" && g.id != in.GrantId) || (in.GranteePrincipal != "" && g.grantee != in.GranteePrincipal)
		})
		return listPage(in.pageInput, grantsPaging, matching, func(g *grant) string { return seqKey(g.seq) }, c.grantEntry)
	})
}

// grantEntry is g as ListGrants shows it.
func (c *call) grantEntry(g *grant) grantListEntry {
	e := grantListEntry{
		KeyId: g.key.arn, GrantId: g.id, Name: g.name, CreationDate: epoch(g.created),
		GranteePrincipal: g.grantee, RetiringPrincipal: g.retiring,
		IssuingAccount: rootARN(partition(g.key.region), c.e.account), Operations: g.operations,
	}
	if g.subset != nil || g.equals != nil {
		e.Constraints = &grantConstraints{EncryptionContextSubset: g.subset, EncryptionContextEquals: g.equals}
	}
	return e
}

func (c *call) retireGrant(body []byte) (any, error) {
	var in struct {
		GrantToken string
		KeyId      string
		GrantId    string
		DryRun     bool
	}
	if err := decodeValid(body, &in, func(v *validator) {
		v.strLen("grantToken", in.GrantToken, 1, 8192)
		v.strLen("keyId", in.KeyId, 1, 2048)
		v.strLen("grantId", in.GrantId, 1, 128)
	}); err != nil {
		return nil, err
	}
	if in.GrantToken == "" && (in.KeyId == "" || in.GrantId == "") {
		return nil, newError(errValidation, "Either GrantToken, or KeyId and GrantId, must be specified.")
	}
	return c.inRegion(func(r *region) (any, error) {
		g, err := c.retiredGrantLocked(r, in.GrantToken, in.KeyId, in.GrantId)
		if err != nil {
			return nil, err
		}
		// The grant, not the key policy, says who may retire it.
		p := c.principal
		mayRetire := (g.retiring != "" && principalMatches(g.retiring, p)) ||
			(slices.Contains(g.operations, "RetireGrant") && principalMatches(g.grantee, p)) ||
			p.arn == rootARN(partition(r.name), c.e.account)
		if !mayRetire {
			return nil, c.accessDenied("RetireGrant", g.key.arn)
		}
		return nil, c.e.endGrantLocked(g, in.DryRun)
	})
}

// retiredGrantLocked finds the grant a RetireGrant names, by its token or by
// its key and id. e.mu must be held.
func (c *call) retiredGrantLocked(r *region, token, keyID, grantID string) (*grant, error) {
	if token == "" {
		k, err := c.resolveLocked(r, keyID, keyOnly)
		if err != nil {
			return nil, err
		}
		return findGrant(k, grantID)
	}
	id, _ := c.e.tokenGrantID(token)
	g := c.e.grants[id]
	if g == nil || g.key.region != r.name {
		return nil, newError(errInvalidGrantToken, "The grant token is not valid.")
	}
	c.key = g.key.arn
	return g, nil
}

func (c *call) revokeGrant(body []byte) (any, error) {
	var in struct {
		KeyId   string
		GrantId string
		DryRun  bool
	}
	if err := decodeValid(body, &in, func(v *validator) {
		v.keyID(in.KeyId)
		v.required("grantId", in.GrantId != "")
		v.strLen("grantId", in.GrantId, 1, 128)
	}); err != nil {
		return nil, err
	}
	return c.withKey(in.KeyId, access{action: "RevokeGrant", extra: grantConditions()}, func(_ *region, k *key) (any, error) {
		g, err := findGrant(k, in.GrantId)
		if err != nil {
			return nil, err
		}
		return nil, c.e.endGrantLocked(g, in.DryRun)
	})
}

func findGrant(k *key, id string) (*grant, error) {
	if !grantIDPattern.MatchString(id) {
		return nil, newError(errInvalidGrantID, "Invalid grant ID %s", id)
	}
	for _, g := range k.grants {
		if g.id == id {
			return g, nil
		}
	}
	return nil, newError(errNotFound, "Grant ID %s not found", id)
}

// endGrantLocked retires or revokes g, unless the request is a dry run.
// e.mu must be held.
func (e *Emulator) endGrantLocked(g *grant, dryRun bool) error {
	if dryRun {
		return newError(errDryRun, msgDryRun)
	}
	g.key.grants = slices.DeleteFunc(g.key.grants, func(x *grant) bool { return x == g })
	delete(e.grants, g.id)
	return nil
}
