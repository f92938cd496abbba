package keyarn_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/keyarn"
)

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
