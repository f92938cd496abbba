package keypolicy_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/keyarn"
	"github.com/cmekd/cmekd/internal/keypolicy"
)

const (
	keyARN   = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	platform = "arn:aws:iam::999988887777:root"
)

var useActions = []string{"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"}

func mustParse(t testing.TB, s string) keyarn.ARN {
	t.Helper()
	a, err := keyarn.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// generateJSON generates the policy of req and its JSON, failing the test on an error.
func generateJSON(t testing.TB, req keypolicy.Request) (v any, b []byte) {
	t.Helper()
	v, err := keypolicy.Generate(req)
	if err != nil {
		t.Fatal(err)
	}
	if b, err = keypolicy.JSON(v); err != nil {
		t.Fatal(err)
	}
	return v, b
}

// wantRoundTrip checks that the JSON b of the whole policy v reads back as v.
func wantRoundTrip(t *testing.T, b []byte, v any) {
	t.Helper()
	var doc keypolicy.Document
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&doc, v) {
		t.Errorf("round trip =\n%+v\nwant\n%+v", doc, v)
	}
}

func TestValidPrincipal(t *testing.T) {
	t.Parallel()
	for want, principals := range map[bool][]string{
		true: {
			"arn:aws:iam::999988887777:root", "arn:aws-cn:iam::999988887777:root",
			"arn:aws-us-gov:iam::999988887777:root", "999988887777", "arn:aws:iam::999988887777:role/cmekd",
			"arn:aws:iam::999988887777:role/service-role/cmekd-probe",
			"arn:aws:iam::999988887777:role/a/b/c/Name+=,.@_-1", "arn:aws:iam::999988887777:user/alice",
			"arn:aws:iam::999988887777:user/division/alice",
			"arn:aws:iam::999988887777:role/${aws:username}/x", // a literal path, printable ASCII
			"arn:aws:iam::999988887777:role/" + strings.Repeat("n", 64),
			"arn:aws:iam::999988887777:role/" + strings.Repeat("p", 510) + "/n",
		},
		false: {
			"", "*", "99998888777", "9999888877770", "arn:aws:iam::999988887777",
			"arn:aws:iam::999988887777:", "arn:aws:iam::999988887777:root/x",
			"arn:aws:iam::999988887777:Root", "arn:aws:iam::99998888777:root",
			"arn:aws:iam:us-east-1:999988887777:root",
			"arn:aws:sts::999988887777:assumed-role/cmekd/session",
			"arn:aws:iam::999988887777:group/admins", "arn:aws:iam::999988887777:policy/p",
			"arn:aws-iso:iam::999988887777:root", "arn:AWS:iam::999988887777:root",
			"ARN:aws:iam::999988887777:root", "arn:aws:iam::999988887777:role/",
			"arn:aws:iam::999988887777:role/path/", "arn:aws:iam::999988887777:role/*",
			"arn:aws:iam::999988887777:role/*/cmekd", "arn:aws:iam::999988887777:role/?/cmekd",
			"arn:aws:iam::999988887777:role/cmekd*", "arn:aws:iam::999988887777:role/cm ekd",
			"arn:aws:iam::999988887777:role/pa th/cmekd", "arn:aws:iam::999988887777:role/cmekd\n",
			"arn:aws:iam::999988887777:role/cmékd", "arn:aws:iam::999988887777:role/pé/cmekd",
			"arn:aws:iam::999988887777:role/" + strings.Repeat("n", 65),
			"arn:aws:iam::999988887777:role/" + strings.Repeat("p", 511) + "/n",
			" arn:aws:iam::999988887777:root",
		},
	} {
		for _, principal := range principals {
			if got := keypolicy.ValidPrincipal(principal); got != want {
				t.Errorf("ValidPrincipal(%.80q) = %v, want %v", principal, got, want)
			}
		}
	}
}

func TestUseStatement(t *testing.T) {
	t.Parallel()
	role := "arn:aws:iam::444455556666:role/analytics"
	got := keypolicy.UseStatement(platform, []string{role, platform, role})
	want := keypolicy.Statement{
		Sid:       keypolicy.SidUse,
		Effect:    "Allow",
		Principal: keypolicy.Principal{AWS: []string{platform, role}},
		Action:    useActions,
		Resource:  "*",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("UseStatement = %+v, want %+v", got, want)
	}
}

func TestGenerate_StatementTemplate(t *testing.T) {
	t.Parallel()
	for _, tmpl := range []keypolicy.Template{"", keypolicy.TemplateStatement} {
		v, err := keypolicy.Generate(keypolicy.Request{KeyARN: mustParse(t, keyARN), PlatformPrincipal: platform, Template: tmpl})
		if err != nil {
			t.Fatal(err)
		}
		st, ok := v.(keypolicy.Statement)
		if !ok {
			t.Fatalf("template %q: Generate returned %T, want Statement", tmpl, v)
		}
		if !strings.Contains(st.Sid, "cmekd") || st.Effect != "Allow" || st.Resource != "*" || st.Condition != nil {
			t.Errorf("template %q: statement %+v", tmpl, st)
		}
		if !reflect.DeepEqual(st.Principal.AWS, []string{platform}) {
			t.Errorf("principals = %v, want the platform principal only", st.Principal.AWS)
		}
		if !reflect.DeepEqual(st.Action, useActions) {
			t.Errorf("actions = %v, want %v", st.Action, useActions)
		}
	}
}

func TestGenerate_FullTemplate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, key, wantOwner string
	}{
		{"aws", keyARN, "arn:aws:iam::111122223333:root"},
		{"china", "arn:aws-cn:kms:cn-north-1:222233334444:key/mrk-1234abcd12ab34cd56ef1234567890ab", "arn:aws-cn:iam::222233334444:root"},
		{"govcloud", "arn:aws-us-gov:kms:us-gov-west-1:333344445555:key/1234abcd-12ab-34cd-56ef-1234567890ab", "arn:aws-us-gov:iam::333344445555:root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key := mustParse(t, tt.key)
			platform := "arn:" + key.Partition + ":iam::999988887777:role/cmekd"
			v, err := keypolicy.Generate(keypolicy.Request{KeyARN: key, PlatformPrincipal: platform, Template: keypolicy.TemplateFull})
			if err != nil {
				t.Fatal(err)
			}
			doc, ok := v.(*keypolicy.Document)
			if !ok {
				t.Fatalf("Generate returned %T, want *Document", v)
			}
			if doc.Version != "2012-10-17" || !strings.Contains(doc.ID, "cmekd") || len(doc.Statement) != 3 {
				t.Fatalf("document %+v", doc)
			}
			want := []keypolicy.Statement{
				{Sid: keypolicy.SidOwner, Effect: "Allow", Principal: keypolicy.Principal{AWS: []string{tt.wantOwner}}, Action: []string{"kms:*"}, Resource: "*"},
				{Sid: keypolicy.SidUse, Effect: "Allow", Principal: keypolicy.Principal{AWS: []string{platform}}, Action: useActions, Resource: "*"},
				{Sid: keypolicy.SidGrants, Effect: "Allow", Principal: keypolicy.Principal{AWS: []string{platform}},
					Action: []string{"kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"}, Resource: "*",
					Condition: map[string]map[string]string{"Bool": {"kms:GrantIsForAWSResource": "true"}}},
			}
			if !reflect.DeepEqual(doc.Statement, want) {
				t.Errorf("statements =\n%+v\nwant\n%+v", doc.Statement, want)
			}
			sids := map[string]bool{}
			for _, s := range doc.Statement {
				if !strings.HasPrefix(s.Sid, "cmekd") || sids[s.Sid] {
					t.Errorf("Sid %q does not name cmekd or repeats", s.Sid)
				}
				sids[s.Sid] = true
			}
		})
	}
}

func TestGenerate_AdditionalPrincipals(t *testing.T) {
	t.Parallel()
	roleA := "arn:aws:iam::444455556666:role/spark"
	roleB := "arn:aws:iam::444455556666:role/service-role/emr"
	tests := []struct {
		name       string
		platform   string
		additional []string
		want       []string
	}{
		{"none", platform, nil, []string{platform}},
		{"order kept", platform, []string{roleB, roleA}, []string{platform, roleB, roleA}},
		{"duplicates dropped", platform, []string{roleA, roleA, roleB, roleA}, []string{platform, roleA, roleB}},
		{"platform repeated", platform, []string{platform, roleA}, []string{platform, roleA}},
		{"bare account becomes its root", platform, []string{"777766665555"}, []string{platform, "arn:aws:iam::777766665555:root"}},
		{"bare account and its root collapse", platform, []string{"777766665555", "arn:aws:iam::777766665555:root"}, []string{platform, "arn:aws:iam::777766665555:root"}},
		{"bare platform account", "999988887777", []string{platform}, []string{platform}},
		{"user", platform, []string{"arn:aws:iam::444455556666:user/ops/alice"}, []string{platform, "arn:aws:iam::444455556666:user/ops/alice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := keypolicy.Request{KeyARN: mustParse(t, keyARN), PlatformPrincipal: tt.platform, AdditionalPrincipals: tt.additional}
			v, err := keypolicy.Generate(req)
			if err != nil {
				t.Fatal(err)
			}
			if got := v.(keypolicy.Statement).Principal.AWS; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("statement principals = %v, want %v", got, tt.want)
			}
			req.Template = keypolicy.TemplateFull
			v, err = keypolicy.Generate(req)
			if err != nil {
				t.Fatal(err)
			}
			doc := v.(*keypolicy.Document)
			if got := doc.Statement[0].Principal.AWS; !reflect.DeepEqual(got, []string{"arn:aws:iam::111122223333:root"}) {
				t.Errorf("owner principals = %v: additional principals must not administer the key", got)
			}
			for _, st := range doc.Statement[1:] {
				if !reflect.DeepEqual(st.Principal.AWS, tt.want) {
					t.Errorf("%s principals = %v, want %v", st.Sid, st.Principal.AWS, tt.want)
				}
			}
		})
	}
}

func TestGenerate_Refusals(t *testing.T) {
	t.Parallel()
	key := mustParse(t, keyARN)
	long := "arn:aws:iam::444455556666:role/" + strings.Repeat("p", 500) + "/r"
	var many []string
	for i := range 80 {
		many = append(many, fmt.Sprintf("%s%d", long, i))
	}
	tests := []struct {
		name    string
		req     keypolicy.Request
		code    string
		mention string
	}{
		{"invalid additional principal", keypolicy.Request{KeyARN: key, PlatformPrincipal: platform, AdditionalPrincipals: []string{"arn:aws:iam::444455556666:role/ok", "bob"}},
			domain.CodeInvalidPrincipal, `"bob"`},
		{"wildcard principal", keypolicy.Request{KeyARN: key, PlatformPrincipal: platform, AdditionalPrincipals: []string{"*"}},
			domain.CodeInvalidPrincipal, "12-digit account id"},
		{"empty platform principal", keypolicy.Request{KeyARN: key}, domain.CodeInvalidPrincipal, `""`},
		{"principal of another partition", keypolicy.Request{KeyARN: key, PlatformPrincipal: platform, AdditionalPrincipals: []string{"arn:aws-cn:iam::444455556666:root"}},
			domain.CodeInvalidPrincipal, "aws-cn"},
		{"long principal echoed in part", keypolicy.Request{KeyARN: key, PlatformPrincipal: platform, AdditionalPrincipals: []string{long + "*"}},
			domain.CodeInvalidPrincipal, "not an IAM principal"},
		{"policy over 32 KiB", keypolicy.Request{KeyARN: key, PlatformPrincipal: platform, AdditionalPrincipals: many},
			domain.CodeInvalidPrincipal, "32768"},
		{"full policy over 32 KiB", keypolicy.Request{KeyARN: key, PlatformPrincipal: platform, AdditionalPrincipals: many[:40], Template: keypolicy.TemplateFull},
			domain.CodeInvalidPrincipal, "32768"},
		{"zero key ARN", keypolicy.Request{PlatformPrincipal: platform}, domain.CodeInvalidKeyARN, ""},
		{"unknown template", keypolicy.Request{KeyARN: key, PlatformPrincipal: platform, Template: "whole"}, domain.CodeInvalidRequest, "statement or full"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := keypolicy.Generate(tt.req)
			assertCode(t, err, tt.code, tt.mention)
			if v != nil {
				t.Errorf("Generate returned a %T alongside an error", v)
			}
			_, err = keypolicy.Terraform(tt.req)
			assertCode(t, err, tt.code, tt.mention)
		})
	}
}

func assertCode(t *testing.T, err error, code, mention string) {
	t.Helper()
	var e *keyarn.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T), want *keyarn.Error %s", err, err, code)
	}
	if e.Code != code || !strings.Contains(e.Message, mention) {
		t.Errorf("error %q, want code %s mentioning %q", e, code, mention)
	}
	if len(e.Message) > 400 {
		t.Errorf("message is %d bytes: %.120q…", len(e.Message), e.Message)
	}
}

func TestJSON_Statement(t *testing.T) {
	t.Parallel()
	_, got := generateJSON(t, keypolicy.Request{KeyARN: mustParse(t, keyARN), PlatformPrincipal: platform})
	want := `{
  "Sid": "cmekdAllowUseOfTheKey",
  "Effect": "Allow",
  "Principal": {
    "AWS": "arn:aws:iam::999988887777:root"
  },
  "Action": [
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:DescribeKey"
  ],
  "Resource": "*"
}`
	if string(got) != want {
		t.Errorf("JSON =\n%s\nwant\n%s", got, want)
	}
}

func TestJSON_FullRoundTrips(t *testing.T) {
	t.Parallel()
	req := keypolicy.Request{
		KeyARN:               mustParse(t, keyARN),
		PlatformPrincipal:    platform,
		AdditionalPrincipals: []string{"arn:aws:iam::444455556666:role/a<b>&c/spark"},
		Template:             keypolicy.TemplateFull,
	}
	v, b := generateJSON(t, req)
	again, err := keypolicy.JSON(v)
	if err != nil || string(again) != string(b) {
		t.Fatalf("JSON is not stable: %v\n%s\n%s", err, b, again)
	}
	wantRoundTrip(t, b, v)
	s := string(b)
	for _, want := range []string{`"Version": "2012-10-17"`, `"Id": "cmekd-key-policy"`, `"kms:GrantIsForAWSResource": "true"`, `role/a<b>&c/spark`} {
		if !strings.Contains(s, want) {
			t.Errorf("JSON lacks %s:\n%s", want, s)
		}
	}
	// AWS's order: Sid, Effect, Principal, Action, Resource, Condition.
	order := []string{`"Sid"`, `"Effect"`, `"Principal"`, `"Action"`, `"Resource"`, `"Condition"`}
	last := strings.LastIndex(s, `"Sid"`)
	for i := 1; i < len(order); i++ {
		if strings.Index(s[last:], order[i-1]) > strings.Index(s[last:], order[i]) {
			t.Errorf("%s comes after %s", order[i-1], order[i])
		}
	}
}

func TestPrincipalJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    keypolicy.Principal
		json string
	}{
		{"one is a string", keypolicy.Principal{AWS: []string{"a"}}, `{"AWS":"a"}`},
		{"several are a list", keypolicy.Principal{AWS: []string{"a", "b"}}, `{"AWS":["a","b"]}`},
		{"none is an empty list", keypolicy.Principal{AWS: []string{}}, `{"AWS":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := json.Marshal(tt.p)
			if err != nil || string(b) != tt.json {
				t.Fatalf("Marshal = %s, %v; want %s", b, err, tt.json)
			}
			var back keypolicy.Principal
			if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, tt.p) {
				t.Fatalf("Unmarshal(%s) = %+v, %v; want %+v", b, back, err, tt.p)
			}
		})
	}
	var p keypolicy.Principal
	if err := json.Unmarshal([]byte(`{"AWS": 7}`), &p); err == nil {
		t.Errorf("Unmarshal of a number succeeded: %+v", p)
	}
}
