package gcp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"cloud.google.com/go/kms/apiv1/kmspb"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/kms"
	"github.com/cmekd/cmekd/internal/verify"
)

// Names of the checks of a Cloud KMS key that only this provider makes; key_state, encrypt and
// decrypt are verify's.
const (
	CheckKeyID      = "key_id"
	CheckGetKey     = "get_key"
	CheckKeyPurpose = "key_purpose"
)

// Checks are the checks of a Cloud KMS key, in the order they run. The monitor's probe runs them
// all too: GetCryptoKey, Encrypt and Decrypt are what it needs anyway.
var Checks = []string{CheckKeyID, CheckGetKey, verify.CheckKeyState, CheckKeyPurpose, verify.CheckEncrypt, verify.CheckDecrypt}

// Verify runs the checks of req.Key, each Cloud KMS call retried with backoff while it fails
// transiently. After a failed check, the later ones are reported skipped.
func (p *Provider) Verify(ctx context.Context, req verify.Request) verify.Report {
	r := &run{p: p, ctx: ctx}
	var err error
	if req.Steps == verify.Health {
		// A linked key was judged by the location rules when it was linked; a later change of the
		// deployment's regions must not make it unavailable.
		r.key, err = parseKey(req.Key)
	} else {
		r.key, err = p.identify(req.Key, req.Region)
	}
	if err != nil {
		c := domain.Check{Name: CheckKeyID, Code: domain.CodeInvalidKeyID, Message: err.Error()}
		var de *domain.Error
		if errors.As(err, &de) {
			c.Code, c.Message = de.Code, de.Message
		}
		r.add(c)
		r.skipRest("not run: the key id is not valid")
		return verify.Report{KeyARN: req.Key, Checks: r.checks}
	}
	r.add(domain.Check{Name: CheckKeyID, OK: true})
	if r.describe() {
		r.roundTrip(map[string]string{"cmekd:org": req.OrgID})
	}
	return verify.Report{KeyARN: r.key.String(), Checks: r.checks}
}

type run struct {
	p      *Provider
	ctx    context.Context
	key    keyName
	checks []domain.Check
}

func (r *run) add(c domain.Check) { r.checks = append(r.checks, c) }

// skipRest reports every check not yet reported as skipped, saying why.
func (r *run) skipRest(why string) {
	for _, n := range Checks[len(r.checks):] {
		r.add(domain.Check{Name: n, Code: domain.CodeSkipped, Message: why})
	}
}

// failed reports check name as failed with a classified failure of a Cloud KMS call, its message
// the fix.
func (r *run) failed(name string, err error) {
	e := classify("", err)
	r.add(domain.Check{Name: name, Code: e.Code, Action: e.Action, Message: r.p.advise(r.key, e)})
}

// describe runs get_key, key_state and key_purpose, reporting whether the key is fit to encrypt.
func (r *run) describe() bool {
	ck, err := call(r.ctx, r.p, permGet, func(ctx context.Context) (*kmspb.CryptoKey, error) {
		return r.p.client.GetCryptoKey(ctx, &kmspb.GetCryptoKeyRequest{Name: r.key.String()}, noRetry)
	})
	if err != nil {
		r.failed(CheckGetKey, err)
		r.skipRest("not run: GetCryptoKey failed")
		return false
	}
	r.add(domain.Check{Name: CheckGetKey, OK: true})
	symmetric := ck.GetPurpose() == kmspb.CryptoKey_ENCRYPT_DECRYPT
	switch {
	case !symmetric:
		r.add(domain.Check{Name: verify.CheckKeyState, Code: domain.CodeSkipped,
			Message: "not run: only ENCRYPT_DECRYPT keys have a primary version"})
		r.add(domain.Check{Name: CheckKeyPurpose, Code: domain.CodeWrongKeyPurpose, Message: purposeAdvice(r.key, ck.GetPurpose().String())})
	case r.keyState(ck.GetPrimary()):
		r.add(domain.Check{Name: CheckKeyPurpose, OK: true})
		return true
	}
	r.skipRest("not run: the key is not usable as described above")
	return false
}

// keyState checks that the key's primary version is enabled.
func (r *run) keyState(primary *kmspb.CryptoKeyVersion) bool {
	c := domain.Check{Name: verify.CheckKeyState, OK: true}
	if primary == nil {
		c = domain.Check{Name: verify.CheckKeyState, Code: domain.CodeKeyStateInvalid,
			Message: fmt.Sprintf("The key has no primary version. Make one: gcloud kms keys versions create --key %s %s --primary", r.key.Key, r.key.flags())}
	} else if code := stateCode(primary.GetState().String()); code != "" {
		n := primary.GetName()[strings.LastIndexByte(primary.GetName(), '/')+1:]
		c = domain.Check{Name: verify.CheckKeyState, Code: code, Message: stateAdvice(r.key, "The key's primary version "+n, n, primary.GetState().String())}
	}
	r.add(c)
	return c.OK
}

// roundTrip runs encrypt (a data key made and wrapped as the data path does) and decrypt (it
// unwrapped to the same bytes), with encCtx.
func (r *run) roundTrip(encCtx map[string]string) {
	k := r.key.String()
	dk, wrapped, err := r.p.GenerateDataKey(r.ctx, k, encCtx)
	if err != nil {
		r.failed(verify.CheckEncrypt, err)
		r.skipRest("not run: there is no ciphertext to decrypt")
		return
	}
	defer clear(dk)
	r.add(domain.Check{Name: verify.CheckEncrypt, OK: true})
	plain, err := r.p.Decrypt(r.ctx, k, wrapped, encCtx)
	defer clear(plain)
	switch {
	case err != nil:
		r.failed(verify.CheckDecrypt, err)
	case !bytes.Equal(plain, dk):
		r.add(domain.Check{Name: verify.CheckDecrypt, Code: domain.CodeDecryptMismatch,
			Message: "Decrypt returned other bytes than were encrypted; the key cannot be trusted."})
	default:
		r.add(domain.Check{Name: verify.CheckDecrypt, OK: true})
	}
}

// advise is the sentence, with the customer's gcloud command where there is one, that fixes a
// failure of a call on key.
func (p *Provider) advise(k keyName, e *kms.Error) string {
	switch e.Code {
	case domain.CodeAccessDenied:
		role := roleFor(e.Action)
		return fmt.Sprintf("The platform's service account (%s) lacks %s on the key. Grant it %s: %s",
			p.principal, e.Action, role, p.grantCmd(k, role))
	case domain.CodeKeyNotFound:
		return fmt.Sprintf("Cloud KMS has no key %s. Check the key id: gcloud kms keys describe %s %s", k, k.Key, k.flags())
	case domain.CodeKeyDisabled, domain.CodeKeyPendingDeletion, domain.CodeKeyDeleted, domain.CodeKeyStateInvalid:
		n, state := versionOf(e.Message)
		if n == "" {
			return e.Message + fmt.Sprintf(" See: gcloud kms keys versions list --key %s %s", k.Key, k.flags())
		}
		return stateAdvice(k, "Version "+n+" of the key", n, state)
	case domain.CodeWrongKeyPurpose:
		return purposeAdvice(k, "not ENCRYPT_DECRYPT")
	case domain.CodeInvalidCiphertext:
		return "Cloud KMS could not decrypt: the data was wrapped under another key or with another encryption context. (" + e.Message + ")"
	case domain.CodeKMSUnavailable:
		return "Cloud KMS could not be reached, timed out or throttled the request; nothing is known to be wrong with the key. Retry shortly. (" + e.Message + ")"
	case domain.CodeKMSError:
		return "Cloud KMS refused the platform's request for a reason that is not the key's: " + e.Message
	}
	return e.Message
}

// stateAdvice is the fix of version n (described as what) being in state.
func stateAdvice(k keyName, what, n, state string) string {
	switch stateCode(state) {
	case domain.CodeKeyDisabled:
		return fmt.Sprintf("%s is disabled. Enable it: %s", what, k.versionCmd("enable", n))
	case domain.CodeKeyPendingDeletion:
		return fmt.Sprintf("%s is scheduled for destruction. Restore and enable it: %s && %s", what, k.versionCmd("restore", n), k.versionCmd("enable", n))
	case domain.CodeKeyDeleted:
		return fmt.Sprintf("%s was destroyed; what it encrypted cannot be decrypted again. For new data, make a new primary version: gcloud kms keys versions create --key %s %s --primary",
			what, k.Key, k.flags())
	}
	return fmt.Sprintf("%s is %s; it must be ENABLED. See: %s", what, state, k.versionCmd("describe", n))
}

// purposeAdvice is the fix of a key whose purpose is not symmetric encryption.
func purposeAdvice(k keyName, purpose string) string {
	return fmt.Sprintf("The key's purpose is %s; the platform needs a symmetric encryption key (ENCRYPT_DECRYPT). Create one: gcloud kms keys create <name> --keyring %s --location %s --project %s --purpose encryption",
		purpose, k.Ring, k.Location, k.Project)
}
