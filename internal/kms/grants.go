package kms

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
)

// GrantRequest is a grant to attach to a key.
type GrantRequest struct {
	// Name makes the grant idempotent: the same request again returns the same grant.
	Name string
	// Grantee is the principal the grant lets use the key.
	Grantee string
	// Retiring is the principal that may retire the grant.
	Retiring string
	// Operations are KMS grant operations, like "Encrypt" or "ReEncryptFrom".
	Operations []string
	// ContextSubset is the EncryptionContextSubset constraint: every request through the grant must
	// carry these pairs in its encryption context. Nil means no constraint.
	ContextSubset map[string]string
}

// Grant is a grant KMS made.
type Grant struct {
	// ID is the grant id, which names it to RetireGrant and RevokeGrant.
	ID string
	// Token lets calls use the grant before it is visible throughout KMS (grants are eventually
	// consistent).
	Token string
}

// GrantEntry is a grant as ListGrants reports it.
type GrantEntry struct {
	ID, Name, Grantee, Retiring string
	Operations                  []string
	ContextSubset               map[string]string
	CreatedAt                   time.Time
}

// CreateGrant attaches a grant to keyARN. Its token is remembered for keyARN (see AddGrantToken) by
// this client only: the grantee's own client must be given it.
func (c *Client) CreateGrant(ctx context.Context, keyARN string, req GrantRequest) (Grant, error) {
	ops := make([]types.GrantOperation, len(req.Operations))
	for i, op := range req.Operations {
		ops[i] = types.GrantOperation(op)
	}
	in := &awskms.CreateGrantInput{
		KeyId:            aws.String(keyARN),
		GranteePrincipal: aws.String(req.Grantee),
		Operations:       ops,
		GrantTokens:      c.tokens.of(keyARN, c.now()),
	}
	if req.Name != "" {
		in.Name = aws.String(req.Name)
	}
	if req.Retiring != "" {
		in.RetiringPrincipal = aws.String(req.Retiring)
	}
	if req.ContextSubset != nil {
		in.Constraints = &types.GrantConstraints{EncryptionContextSubset: req.ContextSubset}
	}
	out, err := call(ctx, c, "CreateGrant", keyARN, (*awskms.Client).CreateGrant, in)
	if err != nil {
		return Grant{}, err
	}
	return Grant{ID: aws.ToString(out.GrantId), Token: aws.ToString(out.GrantToken)}, nil
}

// ListGrants lists every grant of keyARN, all pages.
func (c *Client) ListGrants(ctx context.Context, keyARN string) ([]GrantEntry, error) {
	var out []GrantEntry
	var marker *string
	for {
		page, err := call(ctx, c, "ListGrants", keyARN, (*awskms.Client).ListGrants,
			&awskms.ListGrantsInput{KeyId: aws.String(keyARN), Marker: marker})
		if err != nil {
			return nil, err
		}
		for _, g := range page.Grants {
			e := GrantEntry{ID: aws.ToString(g.GrantId), Name: aws.ToString(g.Name), Grantee: aws.ToString(g.GranteePrincipal),
				Retiring: aws.ToString(g.RetiringPrincipal), CreatedAt: aws.ToTime(g.CreationDate)}
			for _, op := range g.Operations {
				e.Operations = append(e.Operations, string(op))
			}
			if g.Constraints != nil {
				e.ContextSubset = g.Constraints.EncryptionContextSubset
			}
			out = append(out, e)
		}
		if !page.Truncated || aws.ToString(page.NextMarker) == "" {
			return out, nil
		}
		marker = page.NextMarker
	}
}

// RetireGrant retires grant grantID of keyARN, as its retiring principal. A grant that no longer
// exists (retired or revoked already, or its key deleted) is not a failure: the grant is gone either
// way, and gone says so.
func (c *Client) RetireGrant(ctx context.Context, keyARN, grantID string) (gone bool, err error) {
	_, err = call(ctx, c, "RetireGrant", keyARN, (*awskms.Client).RetireGrant,
		&awskms.RetireGrantInput{KeyId: aws.String(keyARN), GrantId: aws.String(grantID)})
	return c.ended(keyARN, grantID, err)
}

// RevokeGrant revokes grant grantID of keyARN, as a principal the key policy allows kms:RevokeGrant
// (the key's owner). Like RetireGrant, a grant already gone reports gone and no error.
func (c *Client) RevokeGrant(ctx context.Context, keyARN, grantID string) (gone bool, err error) {
	_, err = call(ctx, c, "RevokeGrant", keyARN, (*awskms.Client).RevokeGrant,
		&awskms.RevokeGrantInput{KeyId: aws.String(keyARN), GrantId: aws.String(grantID)})
	return c.ended(keyARN, grantID, err)
}

// ended is the answer of a retirement or revocation of grant grantID that KMS answered with err: its
// token is forgotten either way, and a grant already gone is gone, not a failure.
func (c *Client) ended(keyARN, grantID string, err error) (gone bool, _ error) {
	c.tokens.forget(keyARN, grantID)
	if grantGone(err) {
		return true, nil
	}
	return false, err
}

// grantGone reports whether KMS answered that the grant (or its whole key) does not exist.
func grantGone(err error) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode() {
	case "NotFoundException", "InvalidGrantIdException", "InvalidGrantTokenException":
		return true
	}
	return false
}

// GrantTokenTTL is how long a grant token is sent along with the calls on its key: longer than KMS
// takes to make a new grant visible everywhere (AWS documents "typically within five minutes").
const GrantTokenTTL = 10 * time.Minute

// maxGrantTokens is KMS's limit on the grant tokens of one request.
const maxGrantTokens = 10

// AddGrantToken makes the client send token (of grant grantID on keyARN) with its calls on keyARN for
// GrantTokenTTL, so that the first calls after a grant is made succeed before the grant is visible
// throughout KMS.
func (c *Client) AddGrantToken(keyARN, grantID, token string) {
	c.tokens.add(keyARN, grantID, token, c.now().Add(GrantTokenTTL))
}

// AddGrantTokenOf is AddGrantToken for a grant made at made (by another replica, say): the token is
// sent until GrantTokenTTL after that, and not at all once that has passed.
func (c *Client) AddGrantTokenOf(keyARN, grantID, token string, made time.Time) {
	if until := made.Add(GrantTokenTTL); c.now().Before(until) {
		c.tokens.add(keyARN, grantID, token, until)
	}
}

// grantTokens holds fresh grant tokens per key. It is safe for concurrent use.
type grantTokens struct {
	mu    sync.Mutex
	byKey map[string][]grantToken
}

type grantToken struct {
	grantID, token string
	expires        time.Time
}

func (g *grantTokens) add(keyARN, grantID, token string, expires time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.byKey == nil {
		g.byKey = map[string][]grantToken{}
	}
	list := slices.DeleteFunc(g.byKey[keyARN], func(t grantToken) bool { return t.grantID == grantID })
	list = append(list, grantToken{grantID: grantID, token: token, expires: expires})
	if len(list) > maxGrantTokens {
		list = list[len(list)-maxGrantTokens:]
	}
	g.byKey[keyARN] = list
}

// of returns the unexpired tokens of keyARN (nil when there are none), dropping expired ones.
func (g *grantTokens) of(keyARN string, now time.Time) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	list := slices.DeleteFunc(g.byKey[keyARN], func(t grantToken) bool { return !now.Before(t.expires) })
	if len(list) == 0 {
		delete(g.byKey, keyARN)
		return nil
	}
	g.byKey[keyARN] = list
	out := make([]string, len(list))
	for i, t := range list {
		out[i] = t.token
	}
	return out
}

// of2 is of for a call on two keys (ReEncrypt), without duplicates and within KMS's limit.
func (g *grantTokens) of2(a, b string, now time.Time) []string {
	out := g.of(a, now)
	if b != a {
		out = append(out, g.of(b, now)...)
	}
	if len(out) > maxGrantTokens {
		out = out[len(out)-maxGrantTokens:]
	}
	return out
}

func (g *grantTokens) forget(keyARN, grantID string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if list, ok := g.byKey[keyARN]; ok {
		g.byKey[keyARN] = slices.DeleteFunc(list, func(t grantToken) bool { return t.grantID == grantID })
	}
}
