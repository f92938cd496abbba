// Package verify proves that the platform can use a customer's key. One Verifier serves
// key checks, organisation creation, the health monitor and resume, so they all judge a key alike.
package verify

import (
	"github.com/cmekd/cmekd/internal/domain"

	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/cmekd/cmekd/internal/keyarn"
	"github.com/cmekd/cmekd/internal/kms"
)

// Check names, in the order they run.
const (
	CheckARN             = "arn"
	CheckDescribeKey     = "describe_key"
	CheckKeyState        = "key_state"
	CheckKeyUsage        = "key_usage"
	CheckKeySpec         = "key_spec"
	CheckKeyManager      = "key_manager"
	CheckMultiRegion     = "multi_region"
	CheckReplicaOf       = "replica_of"
	CheckCreateGrant     = "create_grant"
	CheckGenerateDataKey = "generate_data_key"
	CheckDecrypt         = "decrypt"
	CheckReEncrypt       = "re_encrypt"
	CheckEncrypt         = "encrypt"
)

// OnboardingContext is the encryption-context value used before an organisation exists.
const OnboardingContext = "onboarding"

// Report is the outcome of a verification.
type Report struct {
	// KeyARN is the normalised ARN, or the input as given when it is not a valid ARN.
	KeyARN string
	Checks []domain.Check
	// Grant is the grant the verification attached in grant mode and kept (the checks passed and the
	// request was not Ephemeral); nil otherwise.
	Grant *Grant
}

// Grant is a grant a verification attached.
type Grant struct {
	// ID is the grant's id; Name the name it was made with.
	ID, Name string
	// New is false when KMS answered with the grant Request.KnownGrant names: it was still there.
	New bool
	// Token is the grant token KMS answered.
	Token string
}

// OK reports whether every check passed.
func (r Report) OK() bool {
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return len(r.Checks) > 0
}

// FirstFailure is the first failed check that ran (not skipped), if any.
func (r Report) FirstFailure() (domain.Check, bool) {
	for _, c := range r.Checks {
		if !c.OK && c.Code != domain.CodeSkipped {
			return c, true
		}
	}
	return domain.Check{}, false
}

// Transient reports whether the report failed only because KMS could not be reached: every failed
// check that ran failed with kms_unavailable (or a KMS-side error), so the key itself was not judged.
func (r Report) Transient() bool {
	failed := false
	for _, c := range r.Checks {
		if c.OK || c.Code == domain.CodeSkipped {
			continue
		}
		if c.Code != domain.CodeKMSUnavailable && c.Code != domain.CodeKMSError {
			return false
		}
		failed = true
	}
	return failed
}

// KMS is what verification asks of KMS; *kms.Client is one.
type KMS interface {
	DescribeKey(ctx context.Context, keyARN string) (kms.KeyMetadata, error)
	GenerateDataKey(ctx context.Context, keyARN string, encCtx map[string]string) (plaintext, wrapped []byte, err error)
	Decrypt(ctx context.Context, keyARN string, wrapped []byte, encCtx map[string]string) ([]byte, error)
	Encrypt(ctx context.Context, keyARN string, plaintext []byte, encCtx map[string]string) ([]byte, error)
	ReEncrypt(ctx context.Context, fromARN string, wrapped []byte, fromCtx map[string]string, toARN string, toCtx map[string]string) ([]byte, error)
}

var _ KMS = (*kms.Client)(nil)

// Granter attaches the data identity's grants to keys and retires them; *grants.Granter
// is one.
type Granter interface {
	// Attach makes (or, named the same, finds) the grant name on keyARN for orgID's encryption
	// context, and makes the data identity's client carry its token.
	Attach(ctx context.Context, keyARN, name, orgID string) (kms.Grant, error)
	// Release retires a grant the caller made and keeps no more; when KMS cannot be reached now, it
	// is left to the retirement worker.
	Release(ctx context.Context, keyARN, grantID string)
}

// Verifier runs the checks.
type Verifier struct {
	kms     KMS
	data    KMS
	granter Granter
	rules   keyarn.Rules
	backoff []time.Duration
}

// Options configure a Verifier.
type Options struct {
	// Backoff are the waits before each retry of a transient failure; nil means 200ms, 1s.
	Backoff []time.Duration
	// Data, in grant mode, is the data identity's client: the crypto checks run as it.
	// Nil means they run as the platform's one identity.
	Data KMS
	// Granter, in grant mode, attaches the grant of requests that name one (Request.Grant).
	Granter Granter
}

// New returns a Verifier calling KMS through client and judging ARNs by rules.
func New(client KMS, rules keyarn.Rules, opts Options) *Verifier {
	b := opts.Backoff
	if b == nil {
		b = []time.Duration{200 * time.Millisecond, time.Second}
	}
	data := opts.Data
	if data == nil {
		data = client
	}
	return &Verifier{kms: client, data: data, granter: opts.Granter, rules: rules, backoff: b}
}

// GrantMode reports whether the verifier runs as two identities with grants.
func (v *Verifier) GrantMode() bool { return v.granter != nil }

// Steps selects which checks run.
type Steps int

const (
	// Full is every check of the verification probe: onboarding and key checks.
	Full Steps = iota
	// Health is what the monitor and resume run: DescribeKey, GenerateDataKey, Decrypt and
	// the key's metadata, without the Encrypt canary.
	Health
)

// Verify runs the checks for input as a key linked in region ("" for any), with encryption context
// {"cmekd:org": orgID}.
func (v *Verifier) Verify(ctx context.Context, input, region, orgID string, steps Steps) Report {
	return v.Run(ctx, Request{Key: input, Region: region, OrgID: orgID, Steps: steps})
}

// Request is one verification.
type Request struct {
	// Key is the key ARN as given; Region the region it is linked for ("" for any).
	Key, Region string
	// OrgID names the organisation in the encryption context {"cmekd:org": OrgID}.
	OrgID string
	Steps Steps
	// ReplicaOf, when set, is the home region's multi-region key that Key was derived from:
	// a missing key is explained with the command that replicates the home key, and the check
	// replica_of proves Key is a replica of the home key's primary.
	ReplicaOf string
	// Grant, in grant mode, names the grant to attach before the crypto checks (check create_grant);
	// they then run as the data identity through it. "" attaches none: the probe's crypto steps use
	// the key's existing grant, and the platform's own keys need none.
	Grant string
	// KnownGrant is the id of the grant named Grant on record for the key, if any: KMS answering with
	// it means the grant was still there, and a failure then does not retire it.
	KnownGrant string
	// Ephemeral retires the grant when the verification ends, whatever its outcome (key checks).
	Ephemeral bool
	// Purpose is the purpose of the key link being verified (data or backup); callers report it.
	Purpose string
}

// Run runs the checks of a request.
func (v *Verifier) Run(ctx context.Context, req Request) Report {
	input, region, steps := req.Key, req.Region, req.Steps
	r := &run{v: v, ctx: ctx, encCtx: map[string]string{"cmekd:org": req.OrgID}, steps: steps, replicaOf: req.ReplicaOf}
	if v.granter != nil && steps == Full {
		r.grantName, r.knownGrant = req.Grant, req.KnownGrant
	}
	var arn keyarn.ARN
	var err error
	if steps == Health {
		// A linked key was judged by the rules when it was linked; a later change of the deployment's
		// regions or multi-region policy must not make it unavailable.
		arn, err = keyarn.Parse(input)
	} else {
		arn, err = v.rules.Check(input, region)
	}
	if err != nil {
		var ae *keyarn.Error
		if !errors.As(err, &ae) {
			ae = &keyarn.Error{Code: domain.CodeInvalidKeyARN, Message: err.Error()}
		}
		r.add(domain.Check{Name: CheckARN, Code: ae.Code, Message: ae.Message})
		r.skipRest(CheckARN)
		return Report{KeyARN: input, Checks: r.checks}
	}
	r.arn = arn
	r.add(domain.Check{Name: CheckARN, OK: true})
	r.describe()
	r.attachGrant(req.OrgID)
	r.crypto(steps)
	report := Report{KeyARN: arn.String(), Checks: r.checks}
	if g := r.grant; g != nil {
		if report.OK() && !req.Ephemeral {
			report.Grant = g
		} else if g.New {
			// What a failed verification or a key check made, it retires: nothing is left behind.
			v.granter.Release(context.WithoutCancel(ctx), report.KeyARN, g.ID)
		}
	}
	return report
}

// attachGrant runs create_grant in grant mode: the data identity's grant on the key, made by the
// control identity.
func (r *run) attachGrant(orgID string) {
	if r.grantName == "" {
		return
	}
	if !r.keyFit {
		r.skip(CheckCreateGrant, "not run: the key is not usable as described above")
		return
	}
	g, err := retry(r, func() (kms.Grant, error) { return r.v.granter.Attach(r.ctx, r.arn.String(), r.grantName, orgID) })
	if err != nil {
		r.add(kmsCheck(CheckCreateGrant, err))
		r.keyFit = false // the crypto checks have no grant to run through
		r.noGrant = true
		return
	}
	r.grant = &Grant{ID: g.ID, Name: r.grantName, New: g.ID != r.knownGrant, Token: g.Token}
	r.add(domain.Check{Name: CheckCreateGrant, OK: true})
}

// order lists the checks a run makes, in order: Health leaves out re_encrypt and encrypt (the
// monitor's probe is DescribeKey, GenerateDataKey, Decrypt), and replica_of runs for a derived replica
// only.
func (r *run) order() []string {
	names := []string{CheckARN, CheckDescribeKey, CheckKeyState, CheckKeyUsage, CheckKeySpec, CheckKeyManager, CheckMultiRegion}
	if r.replicaOf != "" {
		names = append(names, CheckReplicaOf)
	}
	if r.grantName != "" {
		names = append(names, CheckCreateGrant)
	}
	names = append(names, CheckGenerateDataKey, CheckDecrypt)
	if r.steps == Full {
		names = append(names, CheckReEncrypt, CheckEncrypt)
	}
	return names
}

type run struct {
	v      *Verifier
	ctx    context.Context
	arn    keyarn.ARN
	encCtx map[string]string
	steps  Steps
	checks []domain.Check
	keyFit bool // describe and metadata checks passed
	// replicaOf is the home key a derived replica must be a replica of; "" otherwise.
	replicaOf string
	// grantName is the grant create_grant attaches, "" when the run attaches none; knownGrant the
	// id on record under that name; grant what create_grant made.
	grantName, knownGrant string
	grant                 *Grant
	noGrant               bool // create_grant failed: the crypto checks were not run
}

func (r *run) add(c domain.Check) { r.checks = append(r.checks, c) }

func (r *run) skip(name, why string) {
	r.add(domain.Check{Name: name, Code: domain.CodeSkipped, Message: why})
}

func (r *run) skipRest(after string) {
	seen := false
	for _, n := range r.order() {
		if seen {
			r.skip(n, "not run: the key ARN is not valid")
		}
		seen = seen || n == after
	}
}

// kmsCheck turns a classified KMS failure into a failed check with advice.
func kmsCheck(name string, err error) domain.Check {
	var ke *kms.Error
	if !errors.As(err, &ke) {
		ke = &kms.Error{Code: domain.CodeKMSUnavailable, Message: err.Error()}
	}
	return domain.Check{Name: name, Code: ke.Code, Action: ke.Action, Message: advice(ke)}
}

// retry calls fn, retrying transient failures with backoff.
func retry[T any](r *run, fn func() (T, error)) (T, error) {
	out, err := fn()
	for _, wait := range r.v.backoff {
		var ke *kms.Error
		if err == nil || !errors.As(err, &ke) || !ke.Transient() {
			break
		}
		select {
		case <-r.ctx.Done():
			return out, err
		case <-time.After(wait):
		}
		out, err = fn()
	}
	return out, err
}

// describe runs DescribeKey and the checks on its metadata.
func (r *run) describe() {
	md, err := retry(r, func() (kms.KeyMetadata, error) { return r.v.kms.DescribeKey(r.ctx, r.arn.String()) })
	if err != nil {
		c := kmsCheck(CheckDescribeKey, err)
		if c.Code == domain.CodeKeyNotFound && r.replicaOf != "" {
			c.Message = fmt.Sprintf("The home key has no replica in %s yet. Create it with: aws kms replicate-key --key-id %s --replica-region %s "+
				"and give the replica the same key-policy statement as the home key (GET /v1/key-policy?key_arn=%s).",
				r.arn.Region, r.replicaOf, r.arn.Region, r.arn)
		}
		r.add(c)
		names := []string{CheckKeyState, CheckKeyUsage, CheckKeySpec, CheckKeyManager, CheckMultiRegion}
		if r.replicaOf != "" {
			names = append(names, CheckReplicaOf)
		}
		for _, n := range names {
			r.skip(n, "not run: DescribeKey failed")
		}
		return
	}
	r.add(domain.Check{Name: CheckDescribeKey, OK: true})
	fit := true
	check := func(name string, ok bool, code, format string, args ...any) {
		c := domain.Check{Name: name, OK: ok}
		if !ok {
			c.Code, c.Message = code, fmt.Sprintf(format, args...)
			fit = false
		}
		r.add(c)
	}
	switch md.State {
	case "Enabled":
		check(CheckKeyState, true, "", "")
	case "Disabled":
		check(CheckKeyState, false, domain.CodeKeyDisabled, "The key is disabled. Enable it: aws kms enable-key --key-id %s", r.arn)
	case "PendingDeletion", "PendingReplicaDeletion":
		check(CheckKeyState, false, domain.CodeKeyPendingDeletion, "The key is scheduled for deletion. Cancel the deletion and enable the key: aws kms cancel-key-deletion --key-id %s && aws kms enable-key --key-id %s", r.arn, r.arn)
	default:
		check(CheckKeyState, false, domain.CodeKeyStateInvalid, "The key is in state %s; it must be Enabled.", md.State)
	}
	check(CheckKeyUsage, md.Usage == "ENCRYPT_DECRYPT", domain.CodeWrongKeyUsage,
		"The key's usage is %s; create a key with usage ENCRYPT_DECRYPT (symmetric encryption).", md.Usage)
	check(CheckKeySpec, md.Spec == "SYMMETRIC_DEFAULT", domain.CodeWrongKeySpec,
		"The key's spec is %s; create a symmetric key (SYMMETRIC_DEFAULT).", md.Spec)
	check(CheckKeyManager, md.Manager == "CUSTOMER", domain.CodeAWSManagedKey,
		"The key is managed by AWS; AWS-managed keys cannot be shared. Create a customer-managed key.")
	mrOK, mrMsg := r.multiRegion(md)
	check(CheckMultiRegion, mrOK, domain.CodeMultiRegionMismatch, "%s", mrMsg)
	if r.replicaOf != "" {
		c := r.replicaCheck(md)
		fit = fit && c.OK
		r.add(c)
	}
	r.keyFit = fit
}

// replicaCheck proves a derived replica is a replica of the home key's primary: both name the same
// primary key in their MultiRegionConfiguration.
func (r *run) replicaCheck(md kms.KeyMetadata) domain.Check {
	home, err := retry(r, func() (kms.KeyMetadata, error) { return r.v.kms.DescribeKey(r.ctx, r.replicaOf) })
	if err != nil {
		c := kmsCheck(CheckReplicaOf, err)
		c.Message = "The home key could not be described to compare primaries: " + c.Message
		return c
	}
	switch {
	case md.PrimaryARN == "" || home.PrimaryARN == "":
		return domain.Check{Name: CheckReplicaOf, Code: domain.CodeNotAReplica,
			Message: fmt.Sprintf("%s is not a multi-region replica of %s.", r.arn, r.replicaOf)}
	case md.PrimaryARN != home.PrimaryARN:
		return domain.Check{Name: CheckReplicaOf, Code: domain.CodeNotAReplica,
			Message: fmt.Sprintf("%s is a replica of %s, not of the home key's primary %s.", r.arn, md.PrimaryARN, home.PrimaryARN)}
	}
	return domain.Check{Name: CheckReplicaOf, OK: true}
}

// multiRegion checks the key's MultiRegion flag against its ARN and the deployment's policy.
func (r *run) multiRegion(md kms.KeyMetadata) (bool, string) {
	switch {
	case md.MultiRegion != r.arn.MultiRegion():
		return false, fmt.Sprintf("KMS reports MultiRegion=%t but the key id %q says otherwise.", md.MultiRegion, r.arn.KeyID)
	case r.steps == Health:
		return true, ""
	case md.MultiRegion && r.v.rules.MultiRegion == keyarn.MultiRegionRejected:
		return false, "This deployment does not accept multi-region keys; create a single-region key."
	case !md.MultiRegion && r.v.rules.MultiRegion == keyarn.MultiRegionRequired:
		return false, "This deployment requires a multi-region key; create one with --multi-region."
	}
	return true, ""
}

// crypto runs GenerateDataKey, Decrypt of its ciphertext and (for Full) ReEncrypt of that ciphertext
// to the same key and Encrypt of a canary.
func (r *run) crypto(steps Steps) {
	names := []string{CheckGenerateDataKey, CheckDecrypt}
	if steps == Full {
		names = append(names, CheckReEncrypt, CheckEncrypt)
	}
	if !r.keyFit {
		why := "not run: the key is not usable as described above"
		if r.noGrant {
			why = "not run: there is no grant for the data identity to use the key through"
		}
		for _, n := range names {
			r.skip(n, why)
		}
		return
	}
	key := r.arn.String()
	r.dataKeyRoundTrip(key, steps)
	if steps != Full {
		return
	}
	canary := make([]byte, 16)
	_, _ = rand.Read(canary)
	_, err := retry(r, func() ([]byte, error) { return r.v.data.Encrypt(r.ctx, key, canary, r.encCtx) })
	r.cryptoOutcome(CheckEncrypt, err)
}

// dataKeyRoundTrip runs GenerateDataKey, Decrypt of its ciphertext and (for Full) ReEncrypt of that
// ciphertext to the same key.
func (r *run) dataKeyRoundTrip(key string, steps Steps) {
	type dataKey struct{ plain, wrapped []byte }
	dk, err := retry(r, func() (dataKey, error) {
		p, w, err := r.v.data.GenerateDataKey(r.ctx, key, r.encCtx)
		return dataKey{p, w}, err
	})
	if err != nil {
		r.add(r.cryptoCheck(CheckGenerateDataKey, err))
		r.skip(CheckDecrypt, "not run: there is no data key to decrypt")
		if steps == Full {
			r.skip(CheckReEncrypt, "not run: there is no data key to re-encrypt")
		}
		return
	}
	r.add(domain.Check{Name: CheckGenerateDataKey, OK: true})
	plain, err := retry(r, func() ([]byte, error) { return r.v.data.Decrypt(r.ctx, key, dk.wrapped, r.encCtx) })
	switch {
	case err != nil:
		r.add(r.cryptoCheck(CheckDecrypt, err))
	case !bytes.Equal(plain, dk.plain):
		r.add(domain.Check{Name: CheckDecrypt, Code: domain.CodeDecryptMismatch, Message: "Decrypt returned other bytes than GenerateDataKey made; the key cannot be trusted."})
	default:
		r.add(domain.Check{Name: CheckDecrypt, OK: true})
	}
	wipe(dk.plain)
	wipe(plain)
	if steps == Full {
		// Backups re-wrap data keys with ReEncrypt; to the same key is enough to prove
		// both halves of kms:ReEncrypt* are allowed.
		_, err := retry(r, func() ([]byte, error) {
			return r.v.data.ReEncrypt(r.ctx, key, dk.wrapped, r.encCtx, key, r.encCtx)
		})
		r.cryptoOutcome(CheckReEncrypt, err)
	}
}

// cryptoOutcome records crypto check name as passed, or as failed with err.
func (r *run) cryptoOutcome(name string, err error) {
	if err != nil {
		r.add(r.cryptoCheck(name, err))
		return
	}
	r.add(domain.Check{Name: name, OK: true})
}

// cryptoCheck is kmsCheck for a crypto check. In grant mode those run as the data identity, which
// only a grant admits: a refusal means the grant is gone (the customer revoked it) or never covered
// the operation, and the advice says how to get one again.
func (r *run) cryptoCheck(name string, err error) domain.Check {
	c := kmsCheck(name, err)
	if r.v.granter != nil && c.Code == domain.CodeAccessDenied {
		c.Message = fmt.Sprintf("The platform's data identity may not call %s on this key with the organisation's encryption context: "+
			"its grant was revoked or retired. To let the platform use the key again, renew the grants (POST /v1/orgs/{org}/grants/renew).", c.Action)
	}
	return c
}

func wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}

// advice is a sentence a customer can act on for a KMS failure.
func advice(e *kms.Error) string {
	switch e.Code {
	case domain.CodeAccessDenied:
		return fmt.Sprintf("The key policy does not allow the platform to call %s. Add the policy statement from GET /v1/key-policy to the key's policy.", e.Action)
	case domain.CodeKeyDisabled:
		return "The key is disabled. Enable it with aws kms enable-key."
	case domain.CodeKeyPendingDeletion:
		return "The key is scheduled for deletion. Cancel the deletion (aws kms cancel-key-deletion) and enable the key."
	case domain.CodeKeyNotFound:
		return "No such key in this account and region. Check the key ARN (aws kms describe-key --key-id <arn>)."
	case domain.CodeKeyStateInvalid:
		return "The key's state does not allow this operation: " + e.Message
	case domain.CodeWrongKeyUsage:
		return "The key cannot encrypt: it must be a symmetric ENCRYPT_DECRYPT key."
	case domain.CodeKMSUnavailable:
		return "KMS could not be reached or throttled the request; try again shortly. (" + e.Message + ")"
	}
	return e.Message
}
