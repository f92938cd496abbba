package keypolicy

import (
	"testing"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// evalString parses src as an HCL expression and returns its string value.
func evalString(t *testing.T, src string) string {
	t.Helper()
	expr, diags := hclsyntax.ParseExpression([]byte(src), "x.tf", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("%s does not parse: %v", src, diags)
	}
	v, diags := expr.Value(nil)
	if diags.HasErrors() || v.Type() != cty.String {
		t.Fatalf("%s does not evaluate to a string: %v %v", src, v, diags)
	}
	return v.AsString()
}

var hclStringCases = []string{
	"", "plain", `a"b`, `a\b`, `\`, `"`,
	"${x}", "%{x}", "$${x}", "%%{x}", "$$${x}", "%%%{x}", "${", "%{", "$", "%", "$$", "x$", "x%", "{", "}",
	"line\nbreak\r\ttab", "\x00\x1f\x7f", "é✓", "e\u0301", "\u2028", "\U0001F600", "\U000E0001",
}

func TestHCLString(t *testing.T) {
	t.Parallel()
	for _, s := range hclStringCases {
		// HCL strings are NFC-normalised, as cty.StringVal does.
		if got, want := evalString(t, hclString(s)), cty.StringVal(s).AsString(); got != want {
			t.Errorf("hclString(%q) = %s reads back as %q", s, hclString(s), got)
		}
	}
}

func TestHCLKey(t *testing.T) {
	t.Parallel()
	for want, keys := range map[bool][]string{
		true:  {"Version", "AWS", "a-b_c1"},
		false: {"kms:GrantIsForAWSResource", "null", "true", "false", "for", "", "_x", "1a", "é", "a b"},
	} {
		for _, key := range keys {
			k := hclKey(key)
			if bare := k == key; bare != want {
				t.Errorf("hclKey(%q) = %s, want bare %v", key, k, want)
			}
			src := "{\n" + k + " = \"v\"\n}"
			expr, diags := hclsyntax.ParseExpression([]byte(src), "x.tf", hcl.InitialPos)
			if diags.HasErrors() {
				t.Fatalf("%s does not parse: %v", src, diags)
			}
			v, diags := expr.Value(nil)
			if diags.HasErrors() {
				t.Fatalf("%s does not evaluate: %v", src, diags)
			}
			if attrs := v.Type().AttributeTypes(); len(attrs) != 1 || !v.Type().HasAttribute(key) {
				t.Errorf("%s has attributes %v, want only %q", src, attrs, key)
			}
		}
	}
}

// FuzzHCLString checks that any valid UTF-8 string reads back from HCL as itself.
func FuzzHCLString(f *testing.F) {
	for _, s := range hclStringCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			t.Skip("JSON, and so a key policy, holds only valid UTF-8")
		}
		if got, want := evalString(t, hclString(s)), cty.StringVal(s).AsString(); got != want {
			t.Fatalf("hclString(%q) = %s reads back as %q", s, hclString(s), got)
		}
	})
}
