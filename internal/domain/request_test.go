package domain_test

import (
	"errors"
	"testing"

	"github.com/cmekd/cmekd/internal/domain"
)

// TestValidName_RefusesWhatIsNotPlainText: control and format characters, line and paragraph
// separators and every noncharacter are refused as invalid_request; ordinary text of any script is
// taken.
func TestValidName_RefusesWhatIsNotPlainText(t *testing.T) {
	t.Parallel()
	for _, name := range []string{
		"a\u0000b", "a\u202eb", "a\u200bb", "a\u2028b", "a\u2029b", "a\ufdd0b", "a\ufdefb", "a\ufffeb", "a\uffffb",
		"a\U0001fffeb", "a\U0001ffffb", "a\U0002fffeb", "a\U000efffeb", "a\U0010fffeb", "a\U0010ffffb",
	} {
		_, err := domain.ValidName("name", name)
		var de *domain.Error
		if !errors.As(err, &de) || de.Kind != domain.KindInvalid || de.Code != domain.CodeInvalidRequest {
			t.Errorf("ValidName(%+q) = %v, want invalid_request", name, err)
		}
	}
	for _, name := range []string{"Acme", "naïve café", "注文番号", "🙂 team", "a\ufdcfb", "a\ufdf0b", "a\ufffdb", "a\U0001fffdb", "a\U00020000b"} {
		if _, err := domain.ValidName("name", name); err != nil {
			t.Errorf("ValidName(%+q) = %v", name, err)
		}
	}
}
