package emulator

import (
	"crypto/rand"
	"encoding/base64"
	"maps"
	"regexp"
	"slices"
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
	tokens     []string
}

// admits tells whether the grant lets p perform op with encryption context encCtx.
func (g *grant) admits(p principal, op string, encCtx map[string]string) bool {
	if !principalMatches(g.grantee, p) || !slices.Contains(g.operations, op) {
		return false
	}
	if g.equals != nil && !maps.Equal(g.equals, encCtx) {
		return false
	}
	for k, v := range g.subset {
		if got, ok := encCtx[k]; !ok || got != v {
			return false
		}
	}
	return true
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

func (c *call) createGrant(body []byte) (any, error) {
	var in struct {
		KeyId             string
		GranteePrincipal  string
		RetiringPrincipal string
		Operations        []string
		Constraints       *grantConstraints
		GrantTokens       []string
		Name              string
		DryRun            bool
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.required("keyId", in.KeyId != "")
	v.strLen("keyId", in.KeyId, 1, 2048)
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
	if err := v.err(); err != nil {
		return nil, err
	}
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
				if !slices.Contains(contextOperations, op) {
					return nil, newError(errValidation, "Grant constraints are not supported for the %s operation.", op)
				}
			}
		}
	}
	ops := slices.Clone(in.Operations)
	slices.Sort(ops)
	ops = slices.Compact(ops)

	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	r := c.e.regionLocked(c.region, c.now)
	k, err := c.resolveLocked(r, in.KeyId, keyOnly)
	if err != nil {
		return nil, err
	}
	cond := grantConditions()
	cond["kms:GrantOperations"] = ops
	cond["kms:GranteePrincipal"] = []string{in.GranteePrincipal}
	if in.RetiringPrincipal != "" {
		cond["kms:RetiringPrincipal"] = []string{in.RetiringPrincipal}
	}
	if err := c.authorizeLocked(k, "CreateGrant", nil, cond); err != nil {
		return nil, err
	}
	if err := checkUsable(k); err != nil {
		return nil, err
	}
	if in.DryRun {
		return nil, newError(errDryRun, msgDryRun)
	}
	token := newGrantToken()
	// A named grant is idempotent: the same request again returns the same
	// grant (with a new token), as KMS does.
	for _, g := range k.grants {
		if in.Name != "" && g.name == in.Name && g.grantee == in.GranteePrincipal && g.retiring == in.RetiringPrincipal &&
			slices.Equal(g.operations, ops) && maps.Equal(g.subset, subset) && maps.Equal(g.equals, equals) {
			g.tokens = append(g.tokens, token)
			c.e.tokens[token] = g
			return map[string]string{"GrantToken": token, "GrantId": g.id}, nil
		}
	}
	c.e.seq++
	g := &grant{
		id: randomHex(32), key: k, seq: c.e.seq, name: in.Name, grantee: in.GranteePrincipal,
		retiring: in.RetiringPrincipal, operations: ops, subset: subset, equals: equals, created: c.now,
		tokens: []string{token},
	}
	k.grants = append(k.grants, g)
	c.e.tokens[token] = g
	return map[string]string{"GrantToken": token, "GrantId": g.id}, nil
}

// newGrantToken returns an opaque token. Like KMS's, it is a long base64 string starting "AQ", so a
// command line never takes it for an option (a token starting with "-" would be).
func newGrantToken() string {
	b := make([]byte, 96)
	_, _ = rand.Read(b)
	return "AQ" + base64.RawURLEncoding.EncodeToString(b)
}

func (c *call) listGrants(body []byte) (any, error) {
	var in struct {
		KeyId            string
		Limit            *int32
		Marker           string
		GrantId          string
		GranteePrincipal string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.required("keyId", in.KeyId != "")
	v.strLen("keyId", in.KeyId, 1, 2048)
	v.intRange("limit", in.Limit, 1, 100)
	v.strLen("marker", in.Marker, 1, 1024)
	v.strLen("grantId", in.GrantId, 1, 128)
	v.strLen("granteePrincipal", in.GranteePrincipal, 1, 256)
	if err := v.err(); err != nil {
		return nil, err
	}
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	r := c.e.regionLocked(c.region, c.now)
	k, err := c.resolveLocked(r, in.KeyId, keyOnly)
	if err != nil {
		return nil, err
	}
	if err := c.authorizeLocked(k, "ListGrants", nil, grantConditions()); err != nil {
		return nil, err
	}
	var matching []*grant
	for _, g := range k.grants {
		if (in.GrantId == "" || g.id == in.GrantId) && (in.GranteePrincipal == "" || g.grantee == in.GranteePrincipal) {
			matching = append(matching, g)
		}
	}
	page, next, err := paginate(matching, func(g *grant) string { return seqKey(g.seq) }, in.Limit, 50, in.Marker)
	if err != nil {
		return nil, err
	}
	entries := make([]grantListEntry, 0, len(page))
	for _, g := range page {
		e := grantListEntry{
			KeyId: k.arn, GrantId: g.id, Name: g.name, CreationDate: epoch(g.created),
			GranteePrincipal: g.grantee, RetiringPrincipal: g.retiring,
			IssuingAccount: rootARN(partition(k.region), c.e.account), Operations: g.operations,
		}
		if g.subset != nil || g.equals != nil {
			e.Constraints = &grantConstraints{EncryptionContextSubset: g.subset, EncryptionContextEquals: g.equals}
		}
		entries = append(entries, e)
	}
	return listOutput("Grants", entries, next), nil
}

func (c *call) retireGrant(body []byte) (any, error) {
	var in struct {
		GrantToken string
		KeyId      string
		GrantId    string
		DryRun     bool
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.strLen("grantToken", in.GrantToken, 1, 8192)
	v.strLen("keyId", in.KeyId, 1, 2048)
	v.strLen("grantId", in.GrantId, 1, 128)
	if err := v.err(); err != nil {
		return nil, err
	}
	if in.GrantToken == "" && (in.KeyId == "" || in.GrantId == "") {
		return nil, newError(errValidation, "Either GrantToken, or KeyId and GrantId, must be specified.")
	}
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	r := c.e.regionLocked(c.region, c.now)
	var g *grant
	if in.GrantToken != "" {
		g = c.e.tokens[in.GrantToken]
		if g == nil || g.key.region != r.name {
			return nil, newError(errInvalidGrantToken, "The grant token is not valid.")
		}
		c.key = g.key.arn
	} else {
		k, err := c.resolveLocked(r, in.KeyId, keyOnly)
		if err != nil {
			return nil, err
		}
		if g, err = findGrant(k, in.GrantId); err != nil {
			return nil, err
		}
	}
	// The grant, not the key policy, says who may retire it.
	p := c.principal
	mayRetire := (g.retiring != "" && principalMatches(g.retiring, p)) ||
		(slices.Contains(g.operations, "RetireGrant") && principalMatches(g.grantee, p)) ||
		p.arn == rootARN(partition(r.name), c.e.account)
	if !mayRetire {
		return nil, c.accessDenied("RetireGrant", g.key.arn)
	}
	if in.DryRun {
		return nil, newError(errDryRun, msgDryRun)
	}
	c.e.removeGrantLocked(g)
	return nil, nil
}

func (c *call) revokeGrant(body []byte) (any, error) {
	var in struct {
		KeyId   string
		GrantId string
		DryRun  bool
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.required("keyId", in.KeyId != "")
	v.strLen("keyId", in.KeyId, 1, 2048)
	v.required("grantId", in.GrantId != "")
	v.strLen("grantId", in.GrantId, 1, 128)
	if err := v.err(); err != nil {
		return nil, err
	}
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	r := c.e.regionLocked(c.region, c.now)
	k, err := c.resolveLocked(r, in.KeyId, keyOnly)
	if err != nil {
		return nil, err
	}
	if err := c.authorizeLocked(k, "RevokeGrant", nil, grantConditions()); err != nil {
		return nil, err
	}
	g, err := findGrant(k, in.GrantId)
	if err != nil {
		return nil, err
	}
	if in.DryRun {
		return nil, newError(errDryRun, msgDryRun)
	}
	c.e.removeGrantLocked(g)
	return nil, nil
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

func (e *Emulator) removeGrantLocked(g *grant) {
	g.key.grants = slices.DeleteFunc(g.key.grants, func(x *grant) bool { return x == g })
	for _, t := range g.tokens {
		delete(e.tokens, t)
	}
}
