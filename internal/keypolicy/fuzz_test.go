package keypolicy_test

import (
	"errors"
	"testing"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/keyarn"
	"github.com/cmekd/cmekd/internal/keypolicy"
)

// FuzzTerraform checks, for any role path and any principal string, that Terraform either refuses
// the principal as invalid_principal or writes HCL that parses and whose policy evaluates to the
// same JSON as the JSON format.
func FuzzTerraform(f *testing.F) {
	for _, seed := range []struct {
		rolePath, raw string
		full          bool
	}{
		{"cmekd", "777766665555", false},
		{"service-role/cmekd", "arn:aws:iam::444455556666:user/ops/alice", true},
		{"${var.x}/r", "arn:aws:iam::444455556666:role/%{if}x%{endif}/r", true},
		{"$${/r", `arn:aws:iam::444455556666:role/"\/r`, false},
		{"*", "arn:aws-cn:iam::444455556666:root", true},
		{"p/", "", false},
	} {
		f.Add(seed.rolePath, seed.raw, seed.full)
	}
	key, err := keyarn.Parse("arn:aws:kms:us-west-2:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, rolePath, raw string, full bool) {
		req := keypolicy.Request{KeyARN: key, PlatformPrincipal: "arn:aws:iam::999988887777:role/cmekd"}
		if full {
			req.Template = keypolicy.TemplateFull
		}
		for _, p := range []string{"arn:aws:iam::444455556666:role/" + rolePath, raw} {
			one := req
			one.AdditionalPrincipals = []string{p}
			if _, err := keypolicy.Terraform(one); err != nil {
				var e *keyarn.Error
				if !errors.As(err, &e) || e.Code != domain.CodeInvalidPrincipal {
					t.Fatalf("Terraform with %q: %v, want nil or invalid_principal", p, err)
				}
				continue
			}
			req.AdditionalPrincipals = append(req.AdditionalPrincipals, p)
		}
		src, err := keypolicy.Terraform(req)
		if err != nil {
			t.Fatalf("Terraform with valid principals %q: %v", req.AdditionalPrincipals, err)
		}
		_, policy := evalTerraform(t, src)
		if want := wantTerraformPolicy(t, req); !sameJSON(t, []byte(policy), want) {
			t.Fatalf("principals %q: jsonencode(policy) =\n%s\nwant\n%s", req.AdditionalPrincipals, policy, want)
		}
	})
}
