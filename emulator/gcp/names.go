package gcp

import (
	"regexp"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// kind is the level of a Cloud KMS resource name, from a project down to a key version.
type kind int

const (
	kindProject kind = iota
	kindLocation
	kindKeyRing
	kindCryptoKey
	kindVersion
)

// name is a parsed resource name: projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/V,
// filled down to its kind.
type name struct {
	kind     kind
	project  string
	location string
	ring     string
	key      string
	version  int64
}

var (
	projectID  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	locationID = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	// Cloud KMS's rule for key ring and key ids.
	resourceID = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,63}$`)
)

// collections are the fixed words before each level's id.
var collections = [...]string{"projects", "locations", "keyRings", "cryptoKeys", "cryptoKeyVersions"}

var kindNames = [...]string{"project", "location", "key ring", "crypto key", "crypto key version"}

// parseName parses a resource name of one of the kinds allowed (its number of segments tells
// which); the error is the INVALID_ARGUMENT Cloud KMS answers for a malformed name.
func parseName(s string, allowed ...kind) (name, error) {
	parts := strings.Split(s, "/")
	want := kind(len(parts)/2 - 1)
	if len(parts)%2 != 0 || !slices.Contains(allowed, want) {
		return name{}, malformed(s, allowed[0])
	}
	var n name
	for i := 0; i <= int(want); i++ {
		if parts[2*i] != collections[i] || !n.set(kind(i), parts[2*i+1]) {
			return name{}, malformed(s, want)
		}
	}
	n.kind = want
	return n, nil
}

// idRules are the rules of the ids of the levels above a version, whose id is a number.
var idRules = [...]*regexp.Regexp{kindProject: projectID, kindLocation: locationID, kindKeyRing: resourceID, kindCryptoKey: resourceID}

// id is where the name keeps the id of level k, above a version.
func (n *name) id(k kind) *string {
	return [...]*string{kindProject: &n.project, kindLocation: &n.location, kindKeyRing: &n.ring, kindCryptoKey: &n.key}[k]
}

// set fills one level's id, reporting whether it is valid for that level.
func (n *name) set(k kind, id string) bool {
	if k == kindVersion {
		v, err := strconv.ParseInt(id, 10, 64)
		n.version = v
		return err == nil && v > 0 && strconv.FormatInt(v, 10) == id
	}
	*n.id(k) = id
	return idRules[k].MatchString(id)
}

func malformed(s string, want kind) error {
	return status.Errorf(codes.InvalidArgument, "Resource name [%s] does not match any known %s name pattern.", s, kindNames[want])
}

// at is the name's ancestor (or itself) at level k.
func (n name) at(k kind) name {
	a := name{kind: k}
	for i := kindProject; i <= min(k, kindCryptoKey); i++ {
		*a.id(i) = *n.id(i)
	}
	if k == kindVersion {
		a.version = n.version
	}
	return a
}

// child is the name one level down with id, and whether id is valid there.
func (n name) child(id string) (name, bool) {
	c := n
	c.kind++
	return c, c.set(c.kind, id)
}

func (n name) String() string {
	ids := [...]string{n.project, n.location, n.ring, n.key, strconv.FormatInt(n.version, 10)}
	var b strings.Builder
	for i := 0; i <= int(n.kind); i++ {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(collections[i] + "/" + ids[i])
	}
	return b.String()
}
