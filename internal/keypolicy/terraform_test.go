package keypolicy_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/keyarn"
	"github.com/cmekd/cmekd/internal/keypolicy"
)

// evalTerraform parses src as Terraform would, checks it is the one aws_kms_key_policy resource,
// and returns its key_id and the JSON its policy attribute evaluates to under jsonencode.
func evalTerraform(t testing.TB, src string) (keyID, policyJSON string) {
	t.Helper()
	file, diags := hclsyntax.ParseConfig([]byte(src), "cmekd.tf", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("HCL does not parse: %v\n%s", diags, src)
	}
	body := file.Body.(*hclsyntax.Body)
	if len(body.Blocks) != 1 || len(body.Attributes) != 0 {
		t.Fatalf("want one block and nothing else, got %d blocks, %d attributes", len(body.Blocks), len(body.Attributes))
	}
	block := body.Blocks[0]
	if block.Type != "resource" || !reflect.DeepEqual(block.Labels, []string{"aws_kms_key_policy", "cmekd"}) {
		t.Fatalf("block %s %v, want resource aws_kms_key_policy cmekd", block.Type, block.Labels)
	}
	attrs := block.Body.Attributes
	if len(attrs) != 2 || len(block.Body.Blocks) != 0 {
		t.Fatalf("resource holds %d attributes and %d blocks, want key_id and policy", len(attrs), len(block.Body.Blocks))
	}
	ctx := &hcl.EvalContext{Functions: map[string]function.Function{"jsonencode": stdlib.JSONEncodeFunc}}
	var out [2]string
	for i, name := range []string{"key_id", "policy"} {
		attr, ok := attrs[name]
		if !ok {
			t.Fatalf("resource lacks %s", name)
		}
		// No variable references: every ${ in a principal stayed literal text.
		if vars := attr.Expr.Variables(); len(vars) != 0 {
			t.Fatalf("%s refers to variables %v", name, vars)
		}
		v, diags := attr.Expr.Value(ctx)
		if diags.HasErrors() {
			t.Fatalf("%s does not evaluate: %v", name, diags)
		}
		out[i] = v.AsString()
	}
	return out[0], out[1]
}

// sameJSON reports whether a and b hold the same JSON value.
func sameJSON(t testing.TB, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("%v: %s", err, a)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return reflect.DeepEqual(va, vb)
}

// fullDocument is the policy document of req's full template.
func fullDocument(t testing.TB, req keypolicy.Request) *keypolicy.Document {
	t.Helper()
	req.Template = keypolicy.TemplateFull
	v, err := keypolicy.Generate(req)
	if err != nil {
		t.Fatal(err)
	}
	return v.(*keypolicy.Document)
}

// wantTerraformPolicy is the policy Terraform must hold: the full template as is, and for the
// statement template the full template without its grants statement.
func wantTerraformPolicy(t testing.TB, req keypolicy.Request) []byte {
	t.Helper()
	doc := fullDocument(t, req)
	if req.Template != keypolicy.TemplateFull {
		doc.Statement = doc.Statement[:2]
	}
	b, err := keypolicy.JSON(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTerraform_SamePolicyAsJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		key        string
		template   keypolicy.Template
		additional []string
	}{
		{"statement", keyARN, keypolicy.TemplateStatement, nil},
		{"default template", keyARN, "", nil},
		{"full", keyARN, keypolicy.TemplateFull, nil},
		{"full with principals", keyARN, keypolicy.TemplateFull, []string{"arn:aws:iam::444455556666:role/spark", "777766665555"}},
		{"china", "arn:aws-cn:kms:cn-north-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab", keypolicy.TemplateFull, []string{"arn:aws-cn:iam::444455556666:user/alice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key := mustParse(t, tt.key)
			platform := "arn:" + key.Partition + ":iam::999988887777:root"
			req := keypolicy.Request{KeyARN: key, PlatformPrincipal: platform, AdditionalPrincipals: tt.additional, Template: tt.template}
			src, err := keypolicy.Terraform(req)
			if err != nil {
				t.Fatal(err)
			}
			// The provider reads key_id back as the bare id; anything else would show in every plan.
			keyID, policy := evalTerraform(t, src)
			if want := key.KeyID; keyID != want {
				t.Errorf("key_id = %q, want the bare key id %q", keyID, want)
			}
			if want := wantTerraformPolicy(t, req); !sameJSON(t, []byte(policy), want) {
				t.Errorf("jsonencode(policy) =\n%s\nwant\n%s", policy, want)
			}
		})
	}
}

func TestTerraform_EscapesTemplateSequences(t *testing.T) {
	t.Parallel()
	paths := []string{
		"${var.x}",
		"%{if}x%{endif}",
		"$${",
		"%%{",
		"$$${x}",
		"$",
		"%",
		"a$",
		`"quoted"`,
		`back\slash\`,
		`\${`,
		`\"`,
		"#comment",
		"//",
		"<<EOF",
		"${}",
		"}${",
	}
	for _, p := range paths {
		principal := "arn:aws:iam::444455556666:role/" + p + "/r"
		if !keypolicy.ValidPrincipal(principal) {
			t.Fatalf("test principal %q is not valid", principal)
		}
		req := keypolicy.Request{KeyARN: mustParse(t, keyARN), PlatformPrincipal: platform, AdditionalPrincipals: []string{principal}, Template: keypolicy.TemplateFull}
		src, err := keypolicy.Terraform(req)
		if err != nil {
			t.Fatal(err)
		}
		_, policy := evalTerraform(t, src)
		if want := wantTerraformPolicy(t, req); !sameJSON(t, []byte(policy), want) {
			t.Errorf("path %q: jsonencode(policy) =\n%s\nwant\n%s", p, policy, want)
		}
	}
}

func TestTerraform_Layout(t *testing.T) {
	t.Parallel()
	src, err := keypolicy.Terraform(keypolicy.Request{KeyARN: mustParse(t, keyARN), PlatformPrincipal: platform, Template: keypolicy.TemplateFull})
	if err != nil {
		t.Fatal(err)
	}
	// Laid out as terraform fmt leaves it (checked against hclwrite.Format when written).
	want := `# Generated by cmekd. aws_kms_key_policy replaces the key's whole policy:
# add the statements of your own key policy before you apply it.
# For arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab: apply with the AWS provider in us-west-2.
resource "aws_kms_key_policy" "cmekd" {
  key_id = "1234abcd-12ab-34cd-56ef-1234567890ab"
  policy = jsonencode({
    Version = "2012-10-17"
    Id      = "cmekd-key-policy"
    Statement = [
      {
        Sid    = "cmekdKeyOwnerAdministers"
        Effect = "Allow"
        Principal = {
          AWS = "arn:aws:iam::111122223333:root"
        }
        Action   = ["kms:*"]
        Resource = "*"
      },
      {
        Sid    = "cmekdAllowUseOfTheKey"
        Effect = "Allow"
        Principal = {
          AWS = "arn:aws:iam::999988887777:root"
        }
        Action   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
        Resource = "*"
      },
      {
        Sid    = "cmekdAllowGrantsForAWSResources"
        Effect = "Allow"
        Principal = {
          AWS = "arn:aws:iam::999988887777:root"
        }
        Action   = ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"]
        Resource = "*"
        Condition = {
          Bool = {
            "kms:GrantIsForAWSResource" = "true"
          }
        }
      },
    ]
  })
}
`
	if src != want {
		t.Errorf("Terraform =\n%s\nwant\n%s", src, want)
	}
}

// FuzzTerraform checks, for any role path and any principal string, that Terraform either refuses
// the principal as invalid_principal or writes HCL that parses and whose policy evaluates to the
// same JSON as the JSON format.
func FuzzTerraform(f *testing.F) {
	f.Add("cmekd", "777766665555", false)
	f.Add("service-role/cmekd", "arn:aws:iam::444455556666:user/ops/alice", true)
	f.Add("${var.x}/r", "arn:aws:iam::444455556666:role/%{if}x%{endif}/r", true)
	f.Add("$${/r", `arn:aws:iam::444455556666:role/"\/r`, false)
	f.Add("*", "arn:aws-cn:iam::444455556666:root", true)
	f.Add("p/", "", false)
	key := mustParse(f, "arn:aws:kms:us-west-2:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab")
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
