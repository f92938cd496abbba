package provider

import (
	"encoding/json"
	"errors"
	"regexp"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/kms"
)

// Classified is the start of an adapter's classification of err, a failure of action: err itself
// when it is a *kms.Error already (done is true), else kms_unavailable until the adapter finds what
// the cloud said.
func Classified(action string, err error) (e *kms.Error, done bool) {
	if errors.As(err, &e) {
		return e, true
	}
	return &kms.Error{Code: domain.CodeKMSUnavailable, Action: action, Message: err.Error(), Err: err}, false
}

// Denied makes e an access denial; where the cloud's message names the permission denied (the
// first group of named), that is its Action.
func Denied(e *kms.Error, named *regexp.Regexp) {
	e.Code = domain.CodeAccessDenied
	if m := named.FindStringSubmatch(e.Message); m != nil {
		e.Action = m[1]
	}
}

// AccessText is Provider.Access in format: statement as indented JSON ("json", or ""), the
// adapter's Terraform, or its CLI commands; any other format is refused.
func AccessText(format string, statement any, terraform func() ([]byte, error), cli func() string) ([]byte, error) {
	switch format {
	case "", "json":
		return json.MarshalIndent(statement, "", "  ")
	case "terraform":
		return terraform()
	case "cli":
		return []byte(cli()), nil
	}
	return nil, domain.Errorf(domain.KindInvalid, domain.CodeInvalidRequest,
		"format %q is not one of json, terraform, cli", domain.Clip(format, 20))
}
