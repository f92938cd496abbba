package keyarn_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/keyarn"
)

const (
	uuid = "1234abcd-12ab-34cd-56ef-1234567890ab"
	mrk  = "mrk-1234abcd12ab34cd56ef1234567890ab"
	// keyARN is the documentation's example key in its example account.
	keyARN = "arn:aws:kms:us-west-2:111122223333:key/" + uuid
)

func arn(partition, region, account, keyID string) keyarn.ARN {
	return keyarn.ARN{Partition: partition, Region: region, Account: account, KeyID: keyID}
}

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		input string
		want  keyarn.ARN // checked when code is empty
		code  string
	}{
		// Accepted.
		{"uuid key", keyARN, arn("aws", "us-west-2", "111122223333", uuid), ""},
		{"multi-region key", "arn:aws:kms:us-east-1:111122223333:key/" + mrk, arn("aws", "us-east-1", "111122223333", mrk), ""},
		{"china partition", "arn:aws-cn:kms:cn-north-1:111122223333:key/" + uuid, arn("aws-cn", "cn-north-1", "111122223333", uuid), ""},
		{"china northwest", "arn:aws-cn:kms:cn-northwest-1:111122223333:key/" + mrk, arn("aws-cn", "cn-northwest-1", "111122223333", mrk), ""},
		{"govcloud partition", "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/" + uuid, arn("aws-us-gov", "us-gov-west-1", "111122223333", uuid), ""},
		{"surrounding whitespace trimmed", " \t\r\n" + keyARN + "\n\t ", arn("aws", "us-west-2", "111122223333", uuid), ""},
		{"unicode spaces trimmed", "\u00a0\u2003" + keyARN + "\u00a0", arn("aws", "us-west-2", "111122223333", uuid), ""},
		{"just under 2 KiB with padding", strings.Repeat(" ", 2047-len(keyARN)) + keyARN, arn("aws", "us-west-2", "111122223333", uuid), ""},
		{"account of zeros", "arn:aws:kms:us-west-2:000000000000:key/" + uuid, arn("aws", "us-west-2", "000000000000", uuid), ""},

		// Alias ARNs, in every partition.
		{"alias arn", "arn:aws:kms:us-west-2:111122223333:alias/name", keyarn.ARN{}, domain.CodeAliasNotSupported},
		{"alias arn china", "arn:aws-cn:kms:cn-north-1:111122223333:alias/name", keyarn.ARN{}, domain.CodeAliasNotSupported},
		{"alias arn govcloud", "arn:aws-us-gov:kms:us-gov-east-1:111122223333:alias/name", keyarn.ARN{}, domain.CodeAliasNotSupported},
		{"alias arn with path", "arn:aws:kms:us-west-2:111122223333:alias/team/app", keyarn.ARN{}, domain.CodeAliasNotSupported},
		{"alias arn aws managed", "arn:aws:kms:us-west-2:111122223333:alias/aws/s3", keyarn.ARN{}, domain.CodeAliasNotSupported},
		{"alias arn padded", "  arn:aws:kms:us-west-2:111122223333:alias/name\n", keyarn.ARN{}, domain.CodeAliasNotSupported},

		// Not an ARN at all, but a reference to a key.
		{"empty", "", keyarn.ARN{}, domain.CodeKeyARNRequired},
		{"only whitespace", " \t\n ", keyarn.ARN{}, domain.CodeKeyARNRequired},
		{"alias name", "alias/name", keyarn.ARN{}, domain.CodeKeyARNRequired},
		{"aws managed alias name", "alias/aws/kms", keyarn.ARN{}, domain.CodeKeyARNRequired},
		{"bare key id", uuid, keyarn.ARN{}, domain.CodeKeyARNRequired},
		{"bare key id padded", " " + uuid + " ", keyarn.ARN{}, domain.CodeKeyARNRequired},
		{"bare mrk id", mrk, keyarn.ARN{}, domain.CodeKeyARNRequired},
		{"bare uppercase key id", strings.ToUpper(uuid), keyarn.ARN{}, domain.CodeKeyARNRequired},
		{"key resource without arn", "key/" + uuid, keyarn.ARN{}, domain.CodeKeyARNRequired},

		// Anything else.
		{"other service", "arn:aws:s3:us-west-2:111122223333:key/" + uuid, keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"iam role arn", "arn:aws:iam::111122223333:role/cmekd", keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"uppercase arn", strings.ToUpper(keyARN), keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"uppercase service", "arn:aws:KMS:us-west-2:111122223333:key/" + uuid, keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"uppercase region", "arn:aws:kms:US-WEST-2:111122223333:key/" + uuid, keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"uppercase key id", "arn:aws:kms:us-west-2:111122223333:key/" + strings.ToUpper(uuid), keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"uppercase mrk hex", "arn:aws:kms:us-west-2:111122223333:key/mrk-" + strings.ToUpper(mrk[4:]), keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"uppercase key prefix", "arn:aws:kms:us-west-2:111122223333:KEY/" + uuid, keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"account 11 digits", "arn:aws:kms:us-west-2:11112222333:key/" + uuid, keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"account 13 digits", "arn:aws:kms:us-west-2:1111222233334:key/" + uuid, keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"account with letters", "arn:aws:kms:us-west-2:11112222333a:key/" + uuid, keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"account empty", "arn:aws:kms:us-west-2::key/" + uuid, keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"account fullwidth digits", "arn:aws:kms:us-west-2:１１１１２２２２３３３３:key/" + uuid, keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"empty key id", "arn:aws:kms:us-west-2:111122223333:key/", keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"key id too short", "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890a", keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"key id hyphens misplaced", "arn:aws:kms:us-west-2:111122223333:key/1234abcd1-2ab-34cd-56ef-1234567890ab", keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"key id not hex", "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ag", keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"mrk too short", "arn:aws:kms:us-west-2:111122223333:key/mrk-1234", keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"mrk with uuid hyphens", "arn:aws:kms:us-west-2:111122223333:key/mrk-" + uuid, keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"key id with suffix", keyARN + "/x", keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"key id with colon", keyARN + ":1", keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"resource not key", "arn:aws:kms:us-west-2:111122223333:grant/" + uuid, keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"aws-cn with us-east-1", "arn:aws-cn:kms:us-east-1:111122223333:key/" + uuid, keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"aws with cn-north-1", "arn:aws:kms:cn-north-1:111122223333:key/" + uuid, keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"aws with us-gov-west-1", "arn:aws:kms:us-gov-west-1:111122223333:key/" + uuid, keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"aws-us-gov with us-east-1", "arn:aws-us-gov:kms:us-east-1:111122223333:key/" + uuid, keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"aws-us-gov with cn-north-1", "arn:aws-us-gov:kms:cn-north-1:111122223333:key/" + uuid, keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"other partition", "arn:aws-iso:kms:us-iso-east-1:111122223333:key/" + uuid, keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"empty partition", "arn::kms:us-west-2:111122223333:key/" + uuid, keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"empty region", "arn:aws:kms::111122223333:key/" + uuid, keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"region without number", "arn:aws:kms:us-west:111122223333:key/" + uuid, keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"too few fields", "arn:aws:kms:us-west-2:111122223333", keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"only arn prefix", "arn:", keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"newline inside", "arn:aws:kms:us-west-2:111122223333:key/\n" + uuid, keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"space inside", "arn:aws:kms:us-west-2: 111122223333:key/" + uuid, keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"nul inside", "arn:aws:kms:us-west-2:111122223333:key/" + uuid[:8] + "\x00" + uuid[9:], keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"zero width space", "\u200b" + keyARN, keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"unicode in key id", "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890aé", keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"invalid utf-8", "arn:aws:kms:us-west-2:111122223333:key/\xff\xfe", keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"url", "https://kms.us-west-2.amazonaws.com/", keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"2 KiB of padding", strings.Repeat(" ", 2048-len(keyARN)) + keyARN, keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"huge", keyARN + strings.Repeat("a", 1<<20), keyarn.ARN{}, domain.CodeInvalidKeyARN},
		{"huge alias arn", "arn:aws:kms:us-west-2:111122223333:alias/" + strings.Repeat("a", 4096), keyarn.ARN{}, domain.CodeInvalidKeyARN},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := keyarn.Parse(tt.input)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("Parse(%q) = %v, want %+v", tt.input, err, tt.want)
				}
				if got != tt.want {
					t.Fatalf("Parse(%q) = %+v, want %+v", tt.input, got, tt.want)
				}
				return
			}
			assertCode(t, err, tt.code)
			if got != (keyarn.ARN{}) {
				t.Errorf("Parse(%q) returned %+v alongside an error", tt.input, got)
			}
		})
	}
}

// assertCode checks that err is an *Error with code, and that its message is a bounded sentence.
func assertCode(t *testing.T, err error, code string) {
	t.Helper()
	var e *keyarn.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *keyarn.Error", err, err)
	}
	if e.Code != code {
		t.Fatalf("code = %q (%s), want %q", e.Code, e.Message, code)
	}
	if e.Message == "" || len(e.Message) > 400 {
		t.Errorf("message is %d bytes, want a bounded sentence: %q", len(e.Message), e.Message)
	}
	if !utf8.ValidString(e.Message) {
		t.Errorf("message is not valid UTF-8: %q", e.Message)
	}
	if err.Error() != e.Code+": "+e.Message {
		t.Errorf("Error() = %q, want code and message", err.Error())
	}
}

func TestParse_MessagesTellWhatIsExpected(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		input string
		want  []string
	}{
		{"alias arn", "arn:aws:kms:us-west-2:111122223333:alias/orders",
			[]string{"alias ARNs are not supported", "arn:aws:kms:<region>:<account>:key/<key-id>", `describe-key --key-id "alias/orders" --region us-west-2 shows`}},
		{"alias name", "alias/orders",
			[]string{"arn:aws:kms:<region>:<account>:key/<key-id>", `describe-key --key-id "alias/orders"`}},
		{"bare key id", uuid, []string{"full key ARN", uuid}},
		{"partition mismatch", "arn:aws-cn:kms:us-east-1:111122223333:key/" + uuid, []string{"arn:aws:kms:us-east-1:"}},
		{"bad account", "arn:aws:kms:us-west-2:1234:key/" + uuid, []string{"12 digits", `"1234"`}},
		{"bad key id", "arn:aws:kms:us-west-2:111122223333:key/ABC", []string{"lowercase UUID", "mrk-", `"ABC"`}},
		{"other service", "arn:aws:s3:::bucket", []string{`"s3"`, "not kms", "KMS key"}},
		{"control characters escaped", "arn:aws:kms:us-west-2:111122223333:key/a\nb", []string{`"a\nb"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := keyarn.Parse(tt.input)
			var e *keyarn.Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse(%q) = %v, want *keyarn.Error", tt.input, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(e.Message, w) {
					t.Errorf("message %q lacks %q", e.Message, w)
				}
			}
		})
	}
}

func TestParse_MessagesEchoAtMostAHundredBytesOfInput(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 900) // 1800 bytes: under the 2 KiB bound, so the message has to cut it
	for _, input := range []string{
		"arn:aws:kms:us-west-2:111122223333:key/" + long,
		"arn:aws:kms:us-west-2:" + long + ":key/" + uuid,
		"arn:aws:kms:us-west-2:111122223333:alias/" + long,
		"arn:aws:" + long + ":us-west-2:111122223333:key/" + uuid,
		"alias/" + long,
		long,
	} {
		_, err := keyarn.Parse(input)
		var e *keyarn.Error
		if !errors.As(err, &e) {
			t.Fatalf("Parse(%.40q…) = %v, want *keyarn.Error", input, err)
		}
		if n := strings.Count(e.Message, "é"); n > 50 {
			t.Errorf("message echoes %d runes of input: %.200q", n, e.Message)
		}
		if !utf8.ValidString(e.Message) {
			t.Errorf("message cut inside a rune: %q", e.Message)
		}
	}
}

func TestARN(t *testing.T) {
	t.Parallel()
	single := keyarn.ARN{Partition: "aws", Region: "us-west-2", Account: "111122223333", KeyID: uuid}
	multi := keyarn.ARN{Partition: "aws", Region: "us-west-2", Account: "111122223333", KeyID: mrk}
	tests := []struct {
		name        string
		arn         keyarn.ARN
		wantString  string
		wantMulti   bool
		replicaIn   string
		wantReplica string
	}{
		{"single-region", single, keyARN, false, "us-east-1", "arn:aws:kms:us-east-1:111122223333:key/" + uuid},
		{"multi-region", multi, "arn:aws:kms:us-west-2:111122223333:key/" + mrk, true, "eu-west-1", "arn:aws:kms:eu-west-1:111122223333:key/" + mrk},
		{"china", arn("aws-cn", "cn-north-1", "111122223333", mrk), "arn:aws-cn:kms:cn-north-1:111122223333:key/" + mrk, true, "cn-northwest-1", "arn:aws-cn:kms:cn-northwest-1:111122223333:key/" + mrk},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.arn.String(); got != tt.wantString {
				t.Errorf("String() = %q, want %q", got, tt.wantString)
			}
			if got := tt.arn.MultiRegion(); got != tt.wantMulti {
				t.Errorf("MultiRegion() = %v, want %v", got, tt.wantMulti)
			}
			replica := tt.arn.InRegion(tt.replicaIn)
			if got := replica.String(); got != tt.wantReplica {
				t.Errorf("InRegion(%q) = %q, want %q", tt.replicaIn, got, tt.wantReplica)
			}
			if tt.arn.Region == tt.replicaIn {
				t.Errorf("InRegion changed the receiver")
			}
			if parsed, err := keyarn.Parse(replica.String()); err != nil || parsed != replica {
				t.Errorf("replica ARN does not parse back: %+v, %v", parsed, err)
			}
		})
	}
}

func TestARN_InRegionAcrossPartitionsIsRefused(t *testing.T) {
	t.Parallel()
	replica := arn("aws", "us-west-2", "111122223333", mrk).InRegion("cn-north-1")
	_, err := keyarn.Parse(replica.String())
	assertCode(t, err, domain.CodeInvalidKeyARN)
}

func TestValidRegion(t *testing.T) {
	t.Parallel()
	for want, regions := range map[bool][]string{
		true: {
			"us-east-1", "us-west-2", "eu-central-1", "ap-southeast-2", "ap-northeast-3", "cn-north-1",
			"cn-northwest-1", "us-gov-west-1", "us-gov-east-1", "il-central-1", "eusc-de-east-1",
			"ap-southeast-10",
		},
		false: {
			"", "us", "us-east", "us-east-", "us-east-0", "us-east-01", "us-east-100", "US-EAST-1",
			"us_east_1", "us--east-1", "-us-east-1", "u-east-1", "useast-east-1", "us-east-1a",
			"us-east-1 ", "us-ëast-1", "us-" + strings.Repeat("a", 40) + "-1",
		},
	} {
		for _, region := range regions {
			if got := keyarn.ValidRegion(region); got != want {
				t.Errorf("ValidRegion(%q) = %v, want %v", region, got, want)
			}
		}
	}
}

func TestDefaultRegions(t *testing.T) {
	t.Parallel()
	regions := keyarn.DefaultRegions()
	for _, r := range []string{"us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2", "eu-central-1", "ap-southeast-1", "ap-southeast-2", "ap-northeast-1"} {
		if !slices.Contains(regions, r) {
			t.Errorf("DefaultRegions() lacks %s", r)
		}
	}
	seen := map[string]bool{}
	for _, r := range regions {
		if !keyarn.ValidRegion(r) || seen[r] {
			t.Errorf("DefaultRegions() has invalid or repeated region %q", r)
		}
		seen[r] = true
		if strings.HasPrefix(r, "cn-") || strings.HasPrefix(r, "us-gov-") {
			t.Errorf("DefaultRegions() has non-commercial region %q", r)
		}
	}
	regions[0] = "changed"
	if keyarn.DefaultRegions()[0] == "changed" {
		t.Error("DefaultRegions() shares its slice with callers")
	}
}

func TestParseMultiRegionPolicy(t *testing.T) {
	t.Parallel()
	// A refused value has no policy ("").
	for input, want := range map[string]keyarn.MultiRegionPolicy{
		"required": keyarn.MultiRegionRequired, "allowed": keyarn.MultiRegionAllowed, "rejected": keyarn.MultiRegionRejected,
		"": keyarn.MultiRegionAllowed, "Required": "", "yes": "", " allowed": "",
	} {
		got, err := keyarn.ParseMultiRegionPolicy(input)
		if refused := want == ""; (err != nil) != refused || got != want {
			t.Errorf("ParseMultiRegionPolicy(%q) = %q, %v; want %q, error %v", input, got, err, want, refused)
		}
		if err != nil && !strings.Contains(err.Error(), "CMEKD_MULTI_REGION_KEYS") {
			t.Errorf("error %q does not name the variable", err)
		}
	}
}

func TestRulesCheck(t *testing.T) {
	t.Parallel()
	served := []string{"us-west-2", "us-east-1", "cn-north-1", "us-gov-west-1"}
	usWest := keyARN
	usWestMRK := "arn:aws:kms:us-west-2:111122223333:key/" + mrk
	euWest := "arn:aws:kms:eu-west-1:111122223333:key/" + uuid
	tests := []struct {
		name       string
		rules      keyarn.Rules
		input      string
		linkRegion string
		code       string
	}{
		{"accepted", keyarn.Rules{Regions: served, MultiRegion: keyarn.MultiRegionAllowed}, usWest, "us-west-2", ""},
		{"accepted without link region", keyarn.Rules{Regions: served}, usWest, "", ""},
		{"accepted china", keyarn.Rules{Regions: served}, "arn:aws-cn:kms:cn-north-1:111122223333:key/" + uuid, "cn-north-1", ""},
		{"parse error first", keyarn.Rules{Regions: served}, "alias/x", "us-west-2", domain.CodeKeyARNRequired},
		{"alias arn", keyarn.Rules{Regions: served}, "arn:aws:kms:us-west-2:111122223333:alias/x", "us-west-2", domain.CodeAliasNotSupported},
		{"region mismatch", keyarn.Rules{Regions: served}, usWest, "us-east-1", domain.CodeKeyRegionMismatch},
		{"mismatch before unsupported", keyarn.Rules{Regions: served}, euWest, "us-west-2", domain.CodeKeyRegionMismatch},
		{"unsupported region", keyarn.Rules{Regions: served}, euWest, "eu-west-1", domain.CodeUnsupportedRegion},
		{"unsupported region without link region", keyarn.Rules{Regions: served}, euWest, "", domain.CodeUnsupportedRegion},
		{"unsupported before multi-region", keyarn.Rules{Regions: served, MultiRegion: keyarn.MultiRegionRequired}, euWest, "", domain.CodeUnsupportedRegion},
		{"no regions served", keyarn.Rules{Regions: []string{}}, usWest, "", domain.CodeUnsupportedRegion},
		{"zero rules serve default regions", keyarn.Rules{}, euWest, "", ""},
		{"zero rules refuse other regions", keyarn.Rules{}, "arn:aws:kms:me-south-1:111122223333:key/" + uuid, "", domain.CodeUnsupportedRegion},
		{"zero rules allow multi-region", keyarn.Rules{}, usWestMRK, "", ""},
		{"required, mrk", keyarn.Rules{Regions: served, MultiRegion: keyarn.MultiRegionRequired}, usWestMRK, "us-west-2", ""},
		{"required, single-region", keyarn.Rules{Regions: served, MultiRegion: keyarn.MultiRegionRequired}, usWest, "us-west-2", domain.CodeMultiRegionKeyRequired},
		{"allowed, mrk", keyarn.Rules{Regions: served, MultiRegion: keyarn.MultiRegionAllowed}, usWestMRK, "us-west-2", ""},
		{"rejected, single-region", keyarn.Rules{Regions: served, MultiRegion: keyarn.MultiRegionRejected}, usWest, "us-west-2", ""},
		{"rejected, mrk", keyarn.Rules{Regions: served, MultiRegion: keyarn.MultiRegionRejected}, usWestMRK, "us-west-2", domain.CodeMultiRegionKeyNotSupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.rules.Check(tt.input, tt.linkRegion)
			if tt.code != "" {
				assertCode(t, err, tt.code)
				return
			}
			if err != nil {
				t.Fatalf("Check(%q, %q) = %v", tt.input, tt.linkRegion, err)
			}
			if got.String() != strings.TrimSpace(tt.input) {
				t.Errorf("Check(%q) = %v", tt.input, got)
			}
		})
	}
}

func TestRulesCheck_MessagesGuideTheCustomer(t *testing.T) {
	t.Parallel()
	rules := keyarn.Rules{Regions: []string{"us-west-2", "us-east-1"}}
	tests := []struct {
		name, input, linkRegion string
		want, notWant           []string
	}{
		{"mismatch names both regions", keyARN, "us-east-1", []string{"us-west-2", "us-east-1"}, []string{"replica"}},
		{"mismatch of an mrk names its replica", "arn:aws:kms:us-west-2:111122223333:key/" + mrk, "us-east-1",
			[]string{"arn:aws:kms:us-east-1:111122223333:key/" + mrk}, nil},
		{"unsupported lists served regions", "arn:aws:kms:eu-west-1:111122223333:key/" + uuid, "", []string{"eu-west-1", "us-west-2, us-east-1"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := rules.Check(tt.input, tt.linkRegion)
			var e *keyarn.Error
			if !errors.As(err, &e) {
				t.Fatalf("Check = %v, want *keyarn.Error", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(e.Message, w) {
					t.Errorf("message %q lacks %q", e.Message, w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(e.Message, w) {
					t.Errorf("message %q mentions %q", e.Message, w)
				}
			}
		})
	}
}

func TestValidAccount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		account string
		want    bool
	}{
		{"111122223333", true},
		{"000000000000", true},
		{"", false},
		{"11112222333", false},
		{"1111222233334", false},
		{"11112222333a", false},
		{"-11122223333", false},
		{"１１１１２２２２３３３３", false},
	}
	for _, tt := range tests {
		if got := keyarn.ValidAccount(tt.account); got != tt.want {
			t.Errorf("ValidAccount(%q) = %v, want %v", tt.account, got, tt.want)
		}
	}
}

// FuzzParse checks Parse's contract on any input: it never panics; what it accepts renders back to
// the trimmed input and re-parses to the same ARN; what it refuses is an *Error with a Parse code
// and a bounded message.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		keyARN,
		" " + keyARN + "\n",
		"arn:aws:kms:us-east-1:111122223333:key/" + mrk,
		"arn:aws-cn:kms:cn-north-1:111122223333:key/" + uuid,
		"arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/" + uuid,
		"arn:aws:kms:us-west-2:111122223333:alias/name",
		"arn:aws-cn:kms:us-east-1:111122223333:key/" + uuid,
		"arn:aws:kms:us-west-2:111122223333:key/",
		"alias/name",
		uuid,
		mrk,
		"",
	} {
		f.Add(s)
	}
	known := map[string]bool{
		domain.CodeInvalidKeyARN:     true,
		domain.CodeAliasNotSupported: true,
		domain.CodeKeyARNRequired:    true,
	}
	f.Fuzz(func(t *testing.T, input string) {
		got, err := keyarn.Parse(input)
		if err != nil {
			var e *keyarn.Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse(%q) error %v is %T, want *keyarn.Error", input, err, err)
			}
			if !known[e.Code] {
				t.Fatalf("Parse(%q) code %q is not a Parse code", input, e.Code)
			}
			// Each message quotes at most ~100 bytes of input, escaped up to 10 bytes a rune.
			if len(e.Message) > 1500 {
				t.Fatalf("Parse(%q) message is %d bytes", input, len(e.Message))
			}
			return
		}
		s := got.String()
		if s != strings.TrimSpace(input) {
			t.Fatalf("Parse(%q).String() = %q, want the trimmed input", input, s)
		}
		again, err := keyarn.Parse(s)
		if err != nil || again != got {
			t.Fatalf("Parse(%q) = %+v, %v; want %+v", s, again, err, got)
		}
	})
}
