package gcp

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/cmekd/cmekd/internal/domain"
)

// keyShape is what a key id looks like, quoted in every refusal of one.
const keyShape = "projects/<project>/locations/<location>/keyRings/<ring>/cryptoKeys/<key>"

var (
	// A project id (optionally domain-scoped, "example.com:proj") or a project number.
	projectID = regexp.MustCompile(`^([a-z][a-z0-9.-]*[a-z0-9]:)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	// A region ("us-central1"), multi-region ("us", "eur4") or "global".
	locationID = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
	// Cloud KMS's rule for key ring and key ids.
	resourceID = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,63}$`)
	versionID  = regexp.MustCompile(`^[1-9][0-9]{0,18}$`)
)

// keyName is a CryptoKey's resource name.
type keyName struct {
	Project, Location, Ring, Key string
}

func (k keyName) String() string {
	return "projects/" + k.Project + "/locations/" + k.Location + "/keyRings/" + k.Ring + "/cryptoKeys/" + k.Key
}

// flags are the gcloud flags that place a key named by its short id: the key ring, location and
// project.
func (k keyName) flags() string {
	return fmt.Sprintf("--keyring %s --location %s --project %s", k.Ring, k.Location, k.Project)
}

// versionCmd is the gcloud command verb acting on version n of the key, like "enable" or "restore".
func (k keyName) versionCmd(verb, n string) string {
	return fmt.Sprintf("gcloud kms keys versions %s %s --key %s %s", verb, n, k.Key, k.flags())
}

// parseKey parses a CryptoKey's resource name; the error is the 422 that says what is wrong.
func parseKey(s string) (keyName, error) {
	parts := strings.Split(s, "/")
	words := []string{"projects", "locations", "keyRings", "cryptoKeys", "cryptoKeyVersions"}
	if len(parts) == 10 && versionID.MatchString(parts[9]) && parts[8] == words[4] {
		if k, err := parseKey(strings.Join(parts[:8], "/")); err == nil {
			return keyName{}, domain.Errorf(domain.KindInvalid, domain.CodeKeyVersionNotAllowed,
				"%s names a key version; give the CryptoKey (%s), so that the key's rotation is followed: %s", domain.Clip(s, 300), keyShape, k)
		}
	}
	ok := len(parts) == 8
	for i := 0; ok && i < 4; i++ {
		ok = parts[2*i] == words[i]
	}
	if !ok || !projectID.MatchString(parts[1]) || !locationID.MatchString(parts[3]) ||
		!resourceID.MatchString(parts[5]) || !resourceID.MatchString(parts[7]) {
		return keyName{}, domain.Errorf(domain.KindInvalid, domain.CodeInvalidKeyID,
			"%q is not a Cloud KMS key id: it must be %s, key ring and key ids of 1 to 63 letters, digits, _ or -",
			domain.Clip(s, 300), keyShape)
	}
	return keyName{Project: parts[1], Location: parts[3], Ring: parts[5], Key: parts[7]}, nil
}

// Identify checks keyID as a key linked in region ("" for any): a CryptoKey's resource name whose
// location is region and one this deployment serves. It returns the name unchanged.
func (p *Provider) Identify(keyID, region string) (string, error) {
	k, err := p.identify(keyID, region)
	if err != nil {
		return "", err
	}
	return k.String(), nil
}

func (p *Provider) identify(keyID, region string) (keyName, error) {
	k, err := parseKey(keyID)
	if err != nil {
		return keyName{}, err
	}
	if region != "" && k.Location != region {
		return keyName{}, domain.Errorf(domain.KindInvalid, domain.CodeKeyRegionMismatch,
			"the key is in location %s but is linked for region %s: give a key of a key ring in %s (projects/%s/locations/%s/keyRings/<ring>/cryptoKeys/<key>)",
			k.Location, domain.Clip(region, 40), domain.Clip(region, 40), k.Project, domain.Clip(region, 40))
	}
	if len(p.regions) > 0 && !slices.Contains(p.regions, k.Location) {
		return keyName{}, domain.Errorf(domain.KindInvalid, domain.CodeUnsupportedRegion,
			"location %s is not served by this deployment; use a key in one of: %s", k.Location, strings.Join(p.regions, ", "))
	}
	return k, nil
}
