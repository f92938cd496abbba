package orgs

import (
	"strings"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/provider"
)

// KeyRef is a key as a request names it: its provider ("" is AWS), and its id as key_id or, for
// AWS only, key_arn.
type KeyRef struct {
	Provider string
	KeyARN   string
	KeyID    string
}

// given reports whether the request names a key at all.
func (k KeyRef) given() bool {
	return strings.TrimSpace(k.KeyARN) != "" || strings.TrimSpace(k.KeyID) != ""
}

// resolve is the provider and the key id a request names, field being where the key is named
// ("encryption.key_id", "backup_key_id", …). For AWS key_id is the key ARN and key_arn its synonym:
// both given, they must agree. For the other providers key_arn does not apply.
func (s *Service) resolve(k KeyRef, field string) (provider.Provider, string, error) {
	name := k.Provider
	if name == "" {
		name = provider.AWS
	}
	p, ok := s.cfg.Providers.Named(name)
	if !ok {
		return nil, "", s.cfg.Providers.Unsupported(name)
	}
	arnField := strings.Replace(field, "key_id", "key_arn", 1)
	switch {
	case name != provider.AWS && k.KeyARN != "":
		e := domain.Errorf(domain.KindInvalid, domain.CodeKeyARNNotApplicable,
			"%s applies to AWS keys only; name a %s key with %s", arnField, name, field)
		e.Details = map[string]any{"field": arnField}
		return nil, "", e
	case k.KeyARN != "" && k.KeyID != "" && k.KeyARN != k.KeyID:
		e := domain.Errorf(domain.KindInvalid, domain.CodeInvalidKeyID,
			"%s and %s name different keys; give one (for AWS they are synonyms)", field, arnField)
		e.Details = map[string]any{"field": field}
		return nil, "", e
	}
	if k.KeyID != "" {
		return p, k.KeyID, nil
	}
	return p, k.KeyARN, nil
}

// identify is the canonical id of a key a request names for region, by its provider's rules, and
// never one of the platform's own keys.
func (s *Service) identify(p provider.Provider, keyID, region, field string, prefix bool) (string, error) {
	id, err := p.Identify(keyID, region)
	if err != nil {
		if de, ok := err.(*domain.Error); ok && prefix {
			de.Message = field + ": " + de.Message
			de.Details = map[string]any{"field": field}
		}
		return "", err
	}
	if err := s.notProviderKey(id, field); err != nil {
		return "", err
	}
	return id, nil
}

// sameProvider refuses a key of another provider than the organisation's: all of an organisation's
// keys (regions, backup keys) belong to one provider.
func sameProvider(org domain.Org, keyID, field string) error {
	want := domain.ProviderOf(org.KeyARN)
	if org.Mode != domain.ModeCustomerManaged || want == "" || domain.ProviderOf(keyID) == want {
		return nil
	}
	e := domain.Errorf(domain.KindInvalid, domain.CodeProviderMismatch,
		"%s is a %s key, but the organisation's keys are %s keys: all of an organisation's keys belong to one provider",
		field, domain.ProviderOf(keyID), want)
	e.Details = map[string]any{"field": field}
	return e
}

// regionsOf are the regions served for a provider's keys ("" is AWS).
func (s *Service) regionsOf(name string) []string {
	if p, ok := s.cfg.Providers.Named(name); ok && name != provider.AWS {
		return p.Regions()
	}
	return s.cfg.Rules.Regions
}

// backupKey checks an optional backup key, named in field, against region and the organisation's
// provider p; none named is no backup key.
func (s *Service) backupKey(p provider.Provider, ref KeyRef, region, field string) (string, error) {
	if !ref.given() {
		return "", nil
	}
	ref.Provider = p.Name()
	bp, key, err := s.resolve(ref, field)
	if err != nil {
		return "", err
	}
	if ref.KeyID == "" {
		field = strings.Replace(field, "key_id", "key_arn", 1)
	}
	return s.identify(bp, key, region, field, true)
}

// keyField is where a request named its key: key_arn when it used the AWS synonym.
func keyField(ref KeyRef, idField string) string {
	if ref.KeyID == "" && ref.KeyARN != "" {
		return strings.Replace(idField, "key_id", "key_arn", 1)
	}
	return idField
}
