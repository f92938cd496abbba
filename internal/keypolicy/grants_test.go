package keypolicy_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/keyarn"
	"github.com/cmekd/cmekd/internal/keypolicy"
	"github.com/cmekd/cmekd/internal/testing/kmstest"
)

const (
	controlRole = "arn:aws:iam::999988887777:role/cmekd-control"
	dataRole    = "arn:aws:iam::999988887777:role/cmekd-data"
)

var grantOps = []string{"Encrypt", "Decrypt", "GenerateDataKey", "ReEncryptFrom", "ReEncryptTo", "DescribeKey"}

func grantRequest(t testing.TB, tmpl keypolicy.Template, additional ...string) keypolicy.Request {
	return keypolicy.Request{KeyARN: mustParse(t, keyARN), PlatformPrincipal: controlRole, DataPrincipal: dataRole,
		AdditionalPrincipals: additional, Template: tmpl}
}

// wantGrantStatements checks grant mode's two statements: the control identity may only describe the
// key, and create grants for the data identity with the data operations at most.
func wantGrantStatements(t *testing.T, got []keypolicy.Statement, principals []string) {
	t.Helper()
	want := []keypolicy.Statement{
		{Sid: keypolicy.SidUse, Effect: "Allow", Principal: keypolicy.Principal{AWS: principals}, Action: []string{"kms:DescribeKey"}, Resource: "*"},
		{Sid: keypolicy.SidDataGrants, Effect: "Allow", Principal: keypolicy.Principal{AWS: principals}, Action: []string{"kms:CreateGrant"}, Resource: "*",
			Condition:     map[string]map[string]string{"StringEquals": {"kms:GranteePrincipal": dataRole}},
			ConditionSets: map[string]map[string][]string{"ForAllValues:StringEquals": {"kms:GrantOperations": grantOps}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("statements =\n%+v\nwant\n%+v", got, want)
	}
}

func TestGenerate_GrantModeStatements(t *testing.T) {
	t.Parallel()
	for _, tmpl := range []keypolicy.Template{"", keypolicy.TemplateStatement} {
		v, err := keypolicy.Generate(grantRequest(t, tmpl))
		if err != nil {
			t.Fatal(err)
		}
		list, ok := v.([]keypolicy.Statement)
		if !ok {
			t.Fatalf("template %q: Generate returned %T, want []Statement", tmpl, v)
		}
		wantGrantStatements(t, list, []string{controlRole})
		for _, st := range list {
			for _, a := range st.Action {
				if a != "kms:DescribeKey" && a != "kms:CreateGrant" {
					t.Errorf("the control identity gets %s", a)
				}
			}
			if slices.Contains(st.Principal.AWS, dataRole) {
				t.Errorf("the data identity is named in statement %s: it must reach the key through grants only", st.Sid)
			}
		}
	}
	wantGrantStatements(t, keypolicy.GrantModeStatements(controlRole, dataRole), []string{controlRole})
}

// TestGenerate_GrantModeFullTemplate: the whole policy is the owner, use and data grants statements;
// the AWS-resource grants statement stays for additional principals only.
func TestGenerate_GrantModeFullTemplate(t *testing.T) {
	t.Parallel()
	v, err := keypolicy.Generate(grantRequest(t, keypolicy.TemplateFull))
	if err != nil {
		t.Fatal(err)
	}
	doc := v.(*keypolicy.Document)
	if len(doc.Statement) != 3 || doc.Statement[0].Sid != keypolicy.SidOwner {
		t.Fatalf("document %+v", doc)
	}
	wantGrantStatements(t, doc.Statement[1:], []string{controlRole})

	spark := "arn:aws:iam::444455556666:role/spark"
	v, err = keypolicy.Generate(grantRequest(t, keypolicy.TemplateFull, spark, "777766665555"))
	if err != nil {
		t.Fatal(err)
	}
	doc = v.(*keypolicy.Document)
	principals := []string{controlRole, spark, "arn:aws:iam::777766665555:root"}
	if len(doc.Statement) != 4 {
		t.Fatalf("document %+v", doc)
	}
	wantGrantStatements(t, doc.Statement[1:3], principals)
	aws := doc.Statement[3]
	if aws.Sid != keypolicy.SidGrants || !reflect.DeepEqual(aws.Principal.AWS, principals[1:]) ||
		aws.Condition["Bool"]["kms:GrantIsForAWSResource"] != "true" {
		t.Errorf("AWS-resource grants statement %+v, want the additional principals only", aws)
	}
}

func TestGenerate_GrantModeRefusesABadDataPrincipal(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"cmekd-data", "arn:aws-cn:iam::999988887777:role/cmekd-data"} {
		req := grantRequest(t, "")
		req.DataPrincipal = p
		_, err := keypolicy.Generate(req)
		var e *keyarn.Error
		if !errors.As(err, &e) || e.Code != domain.CodeInvalidPrincipal {
			t.Errorf("data principal %q: %v, want invalid_principal", p, err)
		}
	}
}

// TestJSON_GrantModeRoundTrips: a list-valued condition is written as AWS writes it, in the one
// Condition element, and reads back.
func TestJSON_GrantModeRoundTrips(t *testing.T) {
	t.Parallel()
	v, b := generateJSON(t, grantRequest(t, keypolicy.TemplateFull, "arn:aws:iam::444455556666:role/spark"))
	wantRoundTrip(t, b, v)
	var generic map[string]any
	if err := json.Unmarshal(b, &generic); err != nil {
		t.Fatal(err)
	}
	cond := generic["Statement"].([]any)[2].(map[string]any)["Condition"].(map[string]any)
	if cond["StringEquals"].(map[string]any)["kms:GranteePrincipal"] != dataRole ||
		len(cond["ForAllValues:StringEquals"].(map[string]any)["kms:GrantOperations"].([]any)) != len(grantOps) {
		t.Errorf("Condition = %v", cond)
	}
}

// TestTerraform_GrantMode: the Terraform form parses and holds the same whole policy as the JSON
// form, for both templates.
func TestTerraform_GrantMode(t *testing.T) {
	t.Parallel()
	for _, tmpl := range []keypolicy.Template{keypolicy.TemplateStatement, keypolicy.TemplateFull} {
		req := grantRequest(t, tmpl, "arn:aws:iam::444455556666:role/spark")
		src, err := keypolicy.Terraform(req)
		if err != nil {
			t.Fatal(err)
		}
		_, policy := evalTerraform(t, src)
		doc := fullDocument(t, req)
		if tmpl == keypolicy.TemplateStatement {
			doc.Statement = doc.Statement[:3] // owner, use, data grants
		}
		want, err := keypolicy.JSON(doc)
		if err != nil {
			t.Fatal(err)
		}
		if !sameJSON(t, []byte(policy), want) {
			t.Errorf("template %s: jsonencode(policy) =\n%s\nwant\n%s", tmpl, policy, want)
		}
		if !strings.Contains(src, `"ForAllValues:StringEquals"`) {
			t.Errorf("template %s: no ForAllValues condition:\n%s", tmpl, src)
		}
	}
}

// TestGrantModePolicy_EnforcedByTheEmulator: put into a key, grant mode's policy lets the control
// identity describe the key and grant the data identity the data operations (or fewer), and nothing
// else: no crypto of its own, no grant to anyone else, no operation beyond the data path's.
func TestGrantModePolicy_EnforcedByTheEmulator(t *testing.T) {
	t.Parallel()
	env := kmstest.StartEmulator(t)
	key := env.CreateCustomerKey(t, env.Region, kmstest.KeyOptions{DefaultPolicy: true})
	env.PutPolicy(t, key, kmstest.GrantPolicy(t, key))
	ctx := context.Background()
	control := env.SDK(t, env.Region, kmstest.ControlAccessKey)
	ops := func(names ...string) []types.GrantOperation {
		out := make([]types.GrantOperation, len(names))
		for i, n := range names {
			out[i] = types.GrantOperation(n)
		}
		return out
	}
	grant := func(grantee string, operations []types.GrantOperation) error {
		_, err := control.CreateGrant(ctx, &awskms.CreateGrantInput{KeyId: aws.String(key), GranteePrincipal: aws.String(grantee),
			RetiringPrincipal: aws.String(kmstest.ControlPrincipal), Operations: operations,
			Constraints: &types.GrantConstraints{EncryptionContextSubset: map[string]string{"cmekd:org": "org_1"}}})
		return err
	}
	denied := func(what string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "AccessDeniedException") {
			t.Errorf("%s: %v, want AccessDeniedException", what, err)
		}
	}
	if _, err := control.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: aws.String(key)}); err != nil {
		t.Errorf("DescribeKey: %v", err)
	}
	if err := grant(kmstest.DataPrincipal, ops(grantOps...)); err != nil {
		t.Errorf("grant of the data operations: %v", err)
	}
	if err := grant(kmstest.DataPrincipal, ops("Decrypt")); err != nil {
		t.Errorf("grant of fewer operations: %v", err)
	}
	denied("grant to the control identity itself", grant(kmstest.ControlPrincipal, ops(grantOps...)))
	denied("grant to another principal", grant("arn:aws:iam::999988887777:role/other", ops("Decrypt")))
	denied("grant of CreateGrant too", grant(kmstest.DataPrincipal, ops("Decrypt", "CreateGrant")))
	denied("grant of RetireGrant too", grant(kmstest.DataPrincipal, ops("Decrypt", "RetireGrant")))
	_, err := control.GenerateDataKey(ctx, &awskms.GenerateDataKeyInput{KeyId: aws.String(key), KeySpec: types.DataKeySpecAes256,
		EncryptionContext: map[string]string{"cmekd:org": "org_1"}})
	denied("the control identity's own GenerateDataKey", err)
	_, err = control.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String(key), Plaintext: []byte("x")})
	denied("the control identity's own Encrypt", err)
	_, err = control.ListGrants(ctx, &awskms.ListGrantsInput{KeyId: aws.String(key)})
	denied("the control identity's ListGrants", err)
	data := env.SDK(t, env.Region, kmstest.DataAccessKey)
	_, err = data.CreateGrant(ctx, &awskms.CreateGrantInput{KeyId: aws.String(key), GranteePrincipal: aws.String(kmstest.DataPrincipal),
		Operations: ops("Decrypt")})
	denied("the data identity's CreateGrant", err)
}
