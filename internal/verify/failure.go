package verify

import "github.com/cmekd/cmekd/internal/domain"

// Failure is what a failed verification of a key to link for purpose answers, nil when report
// passed: 503 kms_unreachable when KMS could not be reached (retry shortly), else 422
// key_verification_failed naming the first failed check, with every check in its details.
func Failure(report Report, purpose string) error {
	if report.OK() {
		return nil
	}
	details := map[string]any{"checks": report.Checks, "purpose": purpose, "key_arn": report.KeyARN}
	if report.Transient() {
		e := domain.Errorf(domain.KindUnavailable, domain.CodeKMSUnreachable,
			"KMS could not be reached to verify the key; nothing was stored, retry shortly")
		e.Details, e.RetryAfter = details, 5
		return e
	}
	what := "the key"
	if purpose == domain.PurposeBackup {
		what = "the backup key"
	}
	msg := what + " could not be verified; nothing was stored. Fix what the failed checks say and retry"
	if c, ok := report.FirstFailure(); ok && c.Message != "" {
		msg = what + " could not be verified (" + c.Name + "): " + c.Message
	}
	e := domain.Errorf(domain.KindInvalid, domain.CodeKeyVerificationFailed, "%s", msg)
	e.Details = details
	return e
}
