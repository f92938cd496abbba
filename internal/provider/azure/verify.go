package azure

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"math/big"
	"slices"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/kms"
	"github.com/cmekd/cmekd/internal/verify"
)

// Check names of an Azure key's verification, in the order they run.
const (
	CheckKeyID     = "key_id"
	CheckGetKey    = "get_key"
	CheckKeyState  = "key_state"
	CheckKeyType   = "key_type"
	CheckKeyOps    = "key_ops"
	CheckWrapKey   = "wrap_key"
	CheckUnwrapKey = "unwrap_key"
)

// minRSABits is the smallest RSA key the platform wraps data keys with.
const minRSABits = 2048

// run is one verification: each step fills what the next needs.
type run struct {
	p   *Provider
	ctx context.Context
	req verify.Request
	k   keyRef
	key azkeys.KeyBundle
	dk  []byte
	env envelope
}

type step struct {
	name string
	run  func() domain.Check
	// skips is why the checks after a failure of this one were not run.
	skips string
}

// Verify runs the checks of a key in order; after a failure the later ones are reported skipped.
// The health probe (verify.Health) makes the same calls (get key, wrapKey, unwrapKey) but does not
// judge the region again: a linked key was judged when it was linked.
func (p *Provider) Verify(ctx context.Context, req verify.Request) verify.Report {
	r := &run{p: p, ctx: ctx, req: req}
	defer func() { clear(r.dk) }()
	unusable := "not run: the key is not usable as described above"
	steps := []step{
		{CheckKeyID, r.keyID, "not run: the key id is not valid"},
		{CheckGetKey, r.getKey, unusable},
		{CheckKeyState, r.keyState, unusable},
		{CheckKeyType, r.keyType, unusable},
		{CheckKeyOps, r.keyOps, unusable},
		{CheckWrapKey, r.wrapKey, "not run: there is no wrapped data key to unwrap"},
		{CheckUnwrapKey, r.unwrapKey, ""},
	}
	report := verify.Report{KeyARN: req.Key}
	for i, s := range steps {
		c := s.run()
		c.Name = s.name
		report.Checks = append(report.Checks, c)
		if c.OK {
			continue
		}
		for _, rest := range steps[i+1:] {
			report.Checks = append(report.Checks, domain.Check{Name: rest.name, Code: domain.CodeSkipped, Message: s.skips})
		}
		break
	}
	if r.k.host != "" {
		report.KeyARN = r.k.String()
	}
	return report
}

var passed = domain.Check{OK: true}

func (r *run) keyID() domain.Check {
	k, derr := parseKeyID(r.req.Key)
	if derr == nil && r.req.Steps == verify.Full {
		derr = r.p.checkRegion(r.req.Region)
	}
	if derr != nil {
		return domain.Check{Code: derr.Code, Message: derr.Message}
	}
	r.k = k
	return passed
}

func (r *run) getKey() domain.Check {
	b, err := retry(r, func() (azkeys.KeyBundle, error) { return r.p.getKey(r.ctx, r.k) })
	if err == nil {
		r.key = b
		r.p.remember(r.k, b)
		return passed
	}
	if ke := asKMS(err); ke.Code == domain.CodeKeyNotFound {
		return r.p.missing(r.ctx, r.k, ke)
	}
	return r.fail(err)
}

func (r *run) keyState() domain.Check {
	a, now := r.key.Attributes, r.p.now()
	if a == nil {
		return passed
	}
	var e *kms.Error
	switch {
	case a.Enabled != nil && !*a.Enabled:
		e = &kms.Error{Code: domain.CodeKeyDisabled, Message: "the key's current version is disabled"}
	case a.NotBefore != nil && now.Before(*a.NotBefore):
		e = &kms.Error{Code: domain.CodeKeyNotYetValid, Message: "the key is not valid before " + a.NotBefore.UTC().Format(time.RFC3339)}
	case a.Expires != nil && !now.Before(*a.Expires):
		e = &kms.Error{Code: domain.CodeKeyExpired, Message: "the key expired at " + a.Expires.UTC().Format(time.RFC3339)}
	default:
		return passed
	}
	return r.fail(e)
}

func (r *run) keyType() domain.Check {
	jwk := r.key.Key
	if jwk == nil || jwk.Kty == nil {
		return r.fail(&kms.Error{Code: domain.CodeWrongKeyType, Message: "Key Vault answered no key type"})
	}
	kty, bits := *jwk.Kty, new(big.Int).SetBytes(jwk.N).BitLen()
	size := r.key.Attributes != nil && r.key.Attributes.KeySize != nil
	switch {
	case (kty == azkeys.KeyTypeRSA || kty == azkeys.KeyTypeRSAHSM) && bits >= minRSABits:
		return passed
	case kty == azkeys.KeyTypeOctHSM && r.k.hsm && (!size || *r.key.Attributes.KeySize == 256):
		return passed
	}
	what := "the key is " + string(kty)
	if bits > 0 {
		what += " of " + big.NewInt(int64(bits)).String() + " bits"
	}
	return r.fail(&kms.Error{Code: domain.CodeWrongKeyType, Message: what})
}

func (r *run) keyOps() domain.Check {
	ops := r.key.Key.KeyOps
	has := func(op azkeys.KeyOperation) bool {
		return slices.ContainsFunc(ops, func(o *azkeys.KeyOperation) bool { return o != nil && *o == op })
	}
	if len(ops) == 0 || has(azkeys.KeyOperationWrapKey) && has(azkeys.KeyOperationUnwrapKey) {
		return passed
	}
	return r.fail(&kms.Error{Code: domain.CodeKeyOpsNotAllowed, Message: opsList(ops)})
}

func (r *run) wrapKey() domain.Check {
	r.dk = make([]byte, dataKeySize)
	_, _ = rand.Read(r.dk)
	env, err := retry(r, func() (envelope, error) { return r.p.wrap(r.ctx, r.k, r.dk) })
	if err != nil {
		return r.fail(err)
	}
	r.env = env
	return passed
}

func (r *run) unwrapKey() domain.Check {
	plain, err := retry(r, func() ([]byte, error) { return r.p.unwrap(r.ctx, r.k, r.env) })
	defer clear(plain)
	switch {
	case err != nil:
		return r.fail(err)
	case !bytes.Equal(plain, r.dk):
		return domain.Check{Code: domain.CodeDecryptMismatch, Action: opUnwrap.action(r.k),
			Message: "unwrapKey returned other bytes than were wrapped; the key cannot be trusted."}
	}
	return passed
}

// fail is the failed check of err, with the fix as the customer's az command.
func (r *run) fail(err error) domain.Check {
	e := asKMS(err)
	return domain.Check{Code: e.Code, Action: e.Action, Message: advice(r.k, r.p.principal, e)}
}

func asKMS(err error) *kms.Error {
	var ke *kms.Error
	if errors.As(err, &ke) {
		return ke
	}
	return &kms.Error{Code: domain.CodeKMSUnavailable, Message: err.Error(), Err: err}
}

// retry calls f again after each backoff while it fails transiently.
func retry[T any](r *run, f func() (T, error)) (T, error) {
	v, err := f()
	for _, d := range r.p.backoff {
		if err == nil || !asKMS(err).Transient() {
			break
		}
		select {
		case <-r.ctx.Done():
			return v, err
		case <-time.After(d):
		}
		v, err = f()
	}
	return v, err
}

// missing tells why a key Key Vault does not find is missing: soft-deleted (recoverable), or
// neither in the vault nor among its deleted keys. Reading deleted keys needs a permission the
// platform's role does not hold; when it is refused, the advice covers both.
func (p *Provider) missing(ctx context.Context, k keyRef, notFound *kms.Error) domain.Check {
	c, err := p.client(k)
	var res azkeys.GetDeletedKeyResponse
	if err == nil {
		cctx, cancel := p.call(ctx)
		res, err = c.GetDeletedKey(cctx, k.name, nil)
		cancel()
	}
	check := domain.Check{Code: domain.CodeKeyNotFound, Action: notFound.Action}
	switch e := classify(k, opDeleted, err); {
	case err == nil:
		check.Code, check.Message = domain.CodeKeyPendingDeletion, deletedAdvice(k, res.DeletedKey)
	case e.Code == domain.CodeKeyNotFound:
		check.Message = "There is no key " + k.name + " in " + k.host + " nor among its deleted keys: it was purged or never created. " +
			"Check the key id (" + showCommand(k) + "); a purged key cannot be recovered."
	default:
		check.Message = advice(k, p.principal, notFound)
	}
	return check
}
