// Package keyarn parses KMS key ARNs and applies a deployment's key ARN rules.
//
// It is pure logic: it never calls KMS. Whether the key exists and is usable is the job of the
// verification probe.
package keyarn

import (
	"github.com/cmekd/cmekd/internal/domain"

	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ARN is a parsed KMS key ARN.
type ARN struct {
	Partition, Region, Account, KeyID string
}

// String renders the ARN as arn:<partition>:kms:<region>:<account>:key/<key-id>.
func (a ARN) String() string {
	return "arn:" + a.Partition + ":kms:" + a.Region + ":" + a.Account + ":key/" + a.KeyID
}

// MultiRegion reports whether the key id has the mrk- prefix of a multi-region key.
func (a ARN) MultiRegion() bool { return strings.HasPrefix(a.KeyID, mrkPrefix) }

// InRegion returns the ARN of the same key id in another region, which is how a multi-region key's
// replica is named. The partition is kept: replicas never cross partitions, so a region of another
// partition yields an ARN that Parse and Rules.Check refuse.
func (a ARN) InRegion(region string) ARN {
	a.Region = region
	return a
}

// Error is a violated rule; Code is the rule's 422 code and Message a sentence the customer can act on.
type Error struct {
	Code, Message string
}

// Error reports the code and the message.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

const (
	// maxInputLen bounds what Parse looks at, so a huge input costs nothing (2 KiB+ is invalid).
	maxInputLen = 2048
	// maxEcho bounds how much of the input a message repeats.
	maxEcho   = 100
	mrkPrefix = "mrk-"
	// expectedForm is what every message about a malformed ARN shows the customer.
	expectedForm = "arn:aws:kms:<region>:<account>:key/<key-id>"
)

// Parse parses a full KMS key ARN, trimming surrounding whitespace. Alias ARNs fail with
// alias_not_supported; alias names, bare key ids and bare mrk- ids with key_arn_required; anything
// else that is not a well-formed key ARN with invalid_key_arn. Every error is an *Error.
func Parse(s string) (ARN, error) {
	if len(s) >= maxInputLen {
		return ARN{}, errorf(domain.CodeInvalidKeyARN,
			"the key ARN is %d bytes long; a KMS key ARN is well under %d bytes: give the full key ARN, %s",
			len(s), maxInputLen, expectedForm)
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return ARN{}, errorf(domain.CodeKeyARNRequired,
			"a key ARN is required: give the full key ARN, %s", expectedForm)
	}
	if !strings.HasPrefix(s, "arn:") {
		return ARN{}, parseNonARN(s)
	}
	// SplitN keeps any further colons in the resource, where the key id check refuses them.
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 {
		return ARN{}, errorf(domain.CodeInvalidKeyARN,
			"%s is not a KMS key ARN: expected %s", echo(s), expectedForm)
	}
	partition, service, region, account, resource := parts[1], parts[2], parts[3], parts[4], parts[5]
	if service != "kms" {
		return ARN{}, errorf(domain.CodeInvalidKeyARN,
			"the ARN is for service %s, not kms: give the ARN of a KMS key, %s", echo(service), expectedForm)
	}
	if strings.HasPrefix(resource, "alias/") {
		// An alias names a key only in its own region: the command asks that region, not the CLI's default.
		where := ""
		if ValidRegion(region) {
			where = " --region " + region
		}
		return ARN{}, errorf(domain.CodeAliasNotSupported,
			"alias ARNs are not supported: give the full key ARN, %s; aws kms describe-key --key-id %s%s shows it",
			expectedForm, echo(resource), where)
	}
	if err := checkPartition(partition, region); err != nil {
		return ARN{}, err
	}
	if !ValidAccount(account) {
		return ARN{}, errorf(domain.CodeInvalidKeyARN,
			"the account in the key ARN is %s; an AWS account id is exactly 12 digits", echo(account))
	}
	keyID, ok := strings.CutPrefix(resource, "key/")
	if !ok {
		return ARN{}, errorf(domain.CodeInvalidKeyARN,
			"the resource in the key ARN is %s; a KMS key ARN ends in key/<key-id>", echo(resource))
	}
	if !isKeyID(keyID) {
		return ARN{}, errorf(domain.CodeInvalidKeyARN,
			"the key id in the key ARN is %s; a key id is a lowercase UUID (1234abcd-12ab-34cd-56ef-1234567890ab) or mrk- and 32 lowercase hex digits",
			echo(keyID))
	}
	return ARN{Partition: partition, Region: region, Account: account, KeyID: keyID}, nil
}

// parseNonARN classifies input that does not start with "arn:": references to a key that are not
// its ARN deserve the specific key_arn_required answer.
func parseNonARN(s string) error {
	lower := strings.ToLower(s)
	switch {
	case strings.HasPrefix(lower, "alias/"):
		return errorf(domain.CodeKeyARNRequired,
			"an alias name is not enough: give the full key ARN, %s; aws kms describe-key --key-id %s shows it",
			expectedForm, echo(s))
	case isKeyID(lower), isKeyID(strings.TrimPrefix(lower, "key/")):
		return errorf(domain.CodeKeyARNRequired,
			"a key id is not enough: give the full key ARN, %s; aws kms describe-key --key-id %s shows it",
			expectedForm, echo(s))
	default:
		return errorf(domain.CodeInvalidKeyARN, "%s is not a KMS key ARN: expected %s", echo(s), expectedForm)
	}
}

// checkPartition accepts the three partitions (aws, aws-us-gov, aws-cn), each only with the regions of its family.
func checkPartition(partition, region string) error {
	if !ValidRegion(region) {
		return errorf(domain.CodeInvalidKeyARN,
			"the region in the key ARN is %s; expected an AWS region name such as us-west-2", echo(region))
	}
	want := PartitionOf(region)
	switch partition {
	case "aws", "aws-cn", "aws-us-gov":
	default:
		return errorf(domain.CodeInvalidKeyARN,
			"the partition in the key ARN is %s; expected aws, aws-cn or aws-us-gov (for %s: %s)",
			echo(partition), region, want)
	}
	if partition != want {
		return errorf(domain.CodeInvalidKeyARN,
			"region %s belongs to partition %s, not %s: the key ARN should start with arn:%s:kms:%s:",
			region, want, partition, want, region)
	}
	return nil
}

// PartitionOf names the ARN partition of a region's family: cn-* is China, us-gov-* is GovCloud.
func PartitionOf(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	default:
		return "aws"
	}
}

// ValidRegion reports whether s is syntactically an AWS region name: a lowercase area code,
// one or more lowercase words and a number, joined by hyphens (us-east-1, us-gov-west-1, cn-northwest-1).
func ValidRegion(s string) bool {
	if len(s) > 32 {
		return false
	}
	words := strings.Split(s, "-")
	if len(words) < 3 {
		return false
	}
	if n := len(words[0]); n < 2 || n > 4 {
		return false
	}
	for _, w := range words[:len(words)-1] {
		if w == "" || strings.Trim(w, "abcdefghijklmnopqrstuvwxyz") != "" {
			return false
		}
	}
	num := words[len(words)-1]
	return len(num) >= 1 && len(num) <= 2 && num[0] != '0' && allIn(num, "0123456789")
}

// DefaultRegions returns the common AWS commercial regions a deployment serves unless told otherwise.
func DefaultRegions() []string {
	return []string{
		"us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1",
		"eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1",
		"ap-south-1", "ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "ap-northeast-2",
		"sa-east-1",
	}
}

// MultiRegionPolicy is CMEKD_MULTI_REGION_KEYS: whether linked keys must, may or must not be multi-region keys.
type MultiRegionPolicy string

// The values of CMEKD_MULTI_REGION_KEYS.
const (
	MultiRegionRequired MultiRegionPolicy = "required"
	MultiRegionAllowed  MultiRegionPolicy = "allowed"
	MultiRegionRejected MultiRegionPolicy = "rejected"
)

// ParseMultiRegionPolicy parses a CMEKD_MULTI_REGION_KEYS value; empty means the default, allowed.
func ParseMultiRegionPolicy(s string) (MultiRegionPolicy, error) {
	switch p := MultiRegionPolicy(s); p {
	case "":
		return MultiRegionAllowed, nil
	case MultiRegionRequired, MultiRegionAllowed, MultiRegionRejected:
		return p, nil
	default:
		return "", fmt.Errorf("CMEKD_MULTI_REGION_KEYS is %s; expected required, allowed or rejected", echo(s))
	}
}

// Rules are a deployment's key ARN settings. The zero value serves DefaultRegions and allows
// multi-region keys, the deployment defaults.
type Rules struct {
	Regions     []string
	MultiRegion MultiRegionPolicy
}

// Check parses input and applies the deployment's rules in their documented order: the ARN's region must be
// linkRegion (when linkRegion is not empty), a region this deployment serves, and the key id must
// agree with the multi-region policy. Every error is an *Error.
func (r Rules) Check(input, linkRegion string) (ARN, error) {
	a, err := Parse(input)
	if err != nil {
		return ARN{}, err
	}
	if linkRegion != "" && a.Region != linkRegion {
		msg := fmt.Sprintf("the key is in %s but is linked for region %s: give the ARN of a key in that region",
			a.Region, echo(linkRegion))
		if a.MultiRegion() && ValidRegion(linkRegion) {
			msg += ", such as this multi-region key's replica " + a.InRegion(linkRegion).String()
		}
		return ARN{}, &Error{Code: domain.CodeKeyRegionMismatch, Message: msg}
	}
	regions := r.Regions
	if regions == nil {
		regions = DefaultRegions()
	}
	if !slices.Contains(regions, a.Region) {
		return ARN{}, errorf(domain.CodeUnsupportedRegion,
			"region %s is not served by this deployment; use a key in one of: %s",
			a.Region, strings.Join(regions, ", "))
	}
	switch r.MultiRegion {
	case MultiRegionRequired:
		if !a.MultiRegion() {
			return ARN{}, errorf(domain.CodeMultiRegionKeyRequired,
				"this deployment requires a multi-region key (its key id starts with mrk-); create one with aws kms create-key --multi-region and give its ARN")
		}
	case MultiRegionRejected:
		if a.MultiRegion() {
			return ARN{}, errorf(domain.CodeMultiRegionKeyNotSupported,
				"this deployment does not accept multi-region keys (key ids starting with mrk-); give the ARN of a single-region key")
		}
	}
	return a, nil
}

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// echo quotes at most maxEcho bytes of untrusted input for a message, cut on a rune boundary, so
// that a message never grows with the input and control characters show as escapes.
func echo(s string) string {
	if len(s) <= maxEcho {
		return strconv.Quote(s)
	}
	cut := maxEcho
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "…"
}

// ValidAccount reports whether s is an AWS account id: exactly 12 digits.
func ValidAccount(s string) bool { return len(s) == 12 && allIn(s, "0123456789") }

// isKeyID reports whether s is a lowercase UUID key id or mrk- and 32 lowercase hex digits.
func isKeyID(s string) bool {
	if rest, ok := strings.CutPrefix(s, mrkPrefix); ok {
		return len(rest) == 32 && allIn(rest, hexDigits)
	}
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if !strings.ContainsRune(hexDigits, rune(s[i])) {
				return false
			}
		}
	}
	return true
}

const hexDigits = "0123456789abcdef"

func allIn(s, set string) bool {
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune(set, rune(s[i])) {
			return false
		}
	}
	return true
}
