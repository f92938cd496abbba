// Package keypolicy generates the AWS key policy a customer adds to their KMS key so that the
// platform can use it, as JSON or as a Terraform aws_kms_key_policy resource.
package keypolicy

import (
	"github.com/cmekd/cmekd/internal/domain"

	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/cmekd/cmekd/internal/keyarn"
)

// Template is statement (the one statement that lets the platform use the key) or full (a whole key policy).
type Template string

// The key-policy templates.
const (
	TemplateStatement Template = "statement"
	TemplateFull      Template = "full"
)

// The Sids and policy Id of generated policies. Each names cmekd, so that customers can find the
// statements again among their own.
const (
	PolicyID  = "cmekd-key-policy"
	SidOwner  = "cmekdKeyOwnerAdministers"
	SidUse    = "cmekdAllowUseOfTheKey"
	SidGrants = "cmekdAllowGrantsForAWSResources"
	// SidDataGrants is grant mode's statement that lets the control identity grant the data identity
	// the data operations.
	SidDataGrants = "cmekdAllowGrantsToTheDataIdentity"
)

// policyVersion is the only current version of the AWS policy language.
const policyVersion = "2012-10-17"

// maxPolicyBytes is KMS's limit on a key policy document.
const maxPolicyBytes = 32 * 1024

// useActions are exactly what the verification probe needs, and no more.
var useActions = []string{"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"}

// controlActions are what the control identity holds itself in grant mode: it describes keys, and
// reaches Encrypt and Decrypt only through the grants it makes to the data identity.
var controlActions = []string{"kms:DescribeKey"}

// GrantOperations are exactly the operations of a data-identity grant: what the data path and the
// verification's crypto checks need.
var GrantOperations = []string{"Encrypt", "Decrypt", "GenerateDataKey", "ReEncryptFrom", "ReEncryptTo", "DescribeKey"}

// grantActions let AWS services that act for the principals attach grants to the key.
var grantActions = []string{"kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"}

// Request names what to generate.
type Request struct {
	KeyARN keyarn.ARN
	// PlatformPrincipal is CMEKD_PLATFORM_PRINCIPAL.
	PlatformPrincipal string
	// AdditionalPrincipals are added to the use and grants statements, after the platform principal.
	AdditionalPrincipals []string
	// Template defaults to TemplateStatement when empty.
	Template Template
	// DataPrincipal, when set, is CMEKD_DATA_PRINCIPAL: the policy is grant mode's.
	DataPrincipal string
}

// Document is an AWS key policy document.
type Document struct {
	Version   string
	ID        string `json:"Id"`
	Statement []Statement
}

// Statement is one statement of a key policy, in AWS's field names and order.
type Statement struct {
	Sid       string
	Effect    string
	Principal Principal
	Action    []string
	Resource  string
	Condition map[string]map[string]string `json:",omitempty"`
	// ConditionSets are conditions on multivalued keys (kms:GrantOperations), whose values are lists.
	// They are written into the same Condition element as Condition.
	ConditionSets map[string]map[string][]string `json:"-"`
}

// statementJSON is a Statement as AWS writes it: one Condition element, each value a string or a
// list.
type statementJSON struct {
	Sid       string
	Effect    string
	Principal Principal
	Action    []string
	Resource  string
	Condition map[string]map[string]any `json:",omitempty"`
}

// MarshalJSON writes Condition and ConditionSets as the one Condition element.
func (s Statement) MarshalJSON() ([]byte, error) {
	out := statementJSON{Sid: s.Sid, Effect: s.Effect, Principal: s.Principal, Action: s.Action, Resource: s.Resource}
	if len(s.Condition)+len(s.ConditionSets) > 0 {
		out.Condition = map[string]map[string]any{}
		add := func(op, key string, v any) {
			if out.Condition[op] == nil {
				out.Condition[op] = map[string]any{}
			}
			out.Condition[op][key] = v
		}
		for op, block := range s.Condition {
			for k, v := range block {
				add(op, k, v)
			}
		}
		for op, block := range s.ConditionSets {
			for k, v := range block {
				add(op, k, v)
			}
		}
	}
	return encode(out, "")
}

// UnmarshalJSON reads what MarshalJSON writes: string values into Condition, lists into ConditionSets.
func (s *Statement) UnmarshalJSON(b []byte) error {
	var in struct {
		Sid       string
		Effect    string
		Principal Principal
		Action    []string
		Resource  string
		Condition map[string]map[string]json.RawMessage
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	*s = Statement{Sid: in.Sid, Effect: in.Effect, Principal: in.Principal, Action: in.Action, Resource: in.Resource}
	for op, block := range in.Condition {
		for k, raw := range block {
			var one string
			if err := json.Unmarshal(raw, &one); err == nil {
				if s.Condition == nil {
					s.Condition = map[string]map[string]string{}
				}
				if s.Condition[op] == nil {
					s.Condition[op] = map[string]string{}
				}
				s.Condition[op][k] = one
				continue
			}
			var list []string
			if err := json.Unmarshal(raw, &list); err != nil {
				return fmt.Errorf("condition %s %s: %w", op, k, err)
			}
			if s.ConditionSets == nil {
				s.ConditionSets = map[string]map[string][]string{}
			}
			if s.ConditionSets[op] == nil {
				s.ConditionSets[op] = map[string][]string{}
			}
			s.ConditionSets[op][k] = list
		}
	}
	return nil
}

// Principal names the AWS principals of a statement.
type Principal struct {
	AWS []string
}

// MarshalJSON writes {"AWS": "x"} for one principal and {"AWS": ["x", "y"]} for several, as AWS
// itself shows policies.
func (p Principal) MarshalJSON() ([]byte, error) {
	var v any = struct{ AWS []string }{p.AWS}
	switch len(p.AWS) {
	case 0:
		v = struct{ AWS []string }{[]string{}}
	case 1:
		v = struct{ AWS string }{p.AWS[0]}
	}
	// Not json.Marshal: its HTML escaping would survive into JSON's output.
	return encode(v, "")
}

// UnmarshalJSON reads both shapes MarshalJSON writes.
func (p *Principal) UnmarshalJSON(b []byte) error {
	var v struct{ AWS json.RawMessage }
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	var one string
	if err := json.Unmarshal(v.AWS, &one); err == nil {
		p.AWS = []string{one}
		return nil
	}
	p.AWS = nil
	return json.Unmarshal(v.AWS, &p.AWS)
}

// UseStatement is the statement that lets the platform principal, and any additional principals,
// use the key for everything the verification probe does. Principals are deduplicated in order;
// they are used as given (Generate validates and normalises them).
func UseStatement(platformPrincipal string, additional []string) Statement {
	return Statement{
		Sid:       SidUse,
		Effect:    "Allow",
		Principal: Principal{AWS: dedup(append([]string{platformPrincipal}, additional...))},
		Action:    slices.Clone(useActions),
		Resource:  "*",
	}
}

// Generate returns the Statement for TemplateStatement and a *Document for TemplateFull; in grant
// mode (DataPrincipal set) TemplateStatement gives the []Statement to add, the use statement and the
// data grants statement. It refuses principals that ValidPrincipal refuses or that belong to another
// partition than the key, with code invalid_principal; bare account ids become the account's root ARN.
func Generate(req Request) (any, error) {
	if req.Template != "" && req.Template != TemplateStatement && req.Template != TemplateFull {
		return nil, &keyarn.Error{Code: domain.CodeInvalidRequest,
			Message: fmt.Sprintf("template must be %s or %s", TemplateStatement, TemplateFull)}
	}
	use, err := useStatement(req)
	if err != nil {
		return nil, err
	}
	var v any = use
	if req.DataPrincipal != "" {
		v, err = grantMode(req, use)
		if err != nil {
			return nil, err
		}
	} else if req.Template == TemplateFull {
		v = document(req.KeyARN, use, awsResourceGrants(use.Principal.AWS))
	}
	if err := checkSize(v); err != nil {
		return nil, err
	}
	return v, nil
}

// awsResourceGrants lets AWS services acting for principals attach grants to the key, and only them:
// kms:GrantIsForAWSResource is true only when an AWS service makes the grant.
func awsResourceGrants(principals []string) Statement {
	return Statement{
		Sid:       SidGrants,
		Effect:    "Allow",
		Principal: Principal{AWS: slices.Clone(principals)},
		Action:    slices.Clone(grantActions),
		Resource:  "*",
		Condition: map[string]map[string]string{"Bool": {"kms:GrantIsForAWSResource": "true"}},
	}
}

// grantMode is grant mode's policy: the control identity (and any additional principals) may only
// describe the key and grant the data identity exactly the data operations. The data identity is in
// no statement: it reaches the key through the grants alone. With TemplateFull the AWS-resource
// grants statement remains, for the additional principals only (the customer's own, which AWS
// services may act for); cmekd itself never needs it.
func grantMode(req Request, use Statement) (any, error) {
	data, err := normalize(req.DataPrincipal, req.KeyARN.Partition)
	if err != nil {
		return nil, err
	}
	statements := grantModeStatements(use.Principal.AWS, data)
	if req.Template != TemplateFull {
		return statements, nil
	}
	if additional := use.Principal.AWS[1:]; len(additional) > 0 {
		statements = append(statements, awsResourceGrants(additional))
	}
	return document(req.KeyARN, statements...), nil
}

// useStatement validates the request and builds its use statement with normalised principals.
func useStatement(req Request) (Statement, error) {
	if _, err := keyarn.Parse(req.KeyARN.String()); err != nil {
		return Statement{}, err
	}
	principals := make([]string, 0, 1+len(req.AdditionalPrincipals))
	for _, p := range append([]string{req.PlatformPrincipal}, req.AdditionalPrincipals...) {
		n, err := normalize(p, req.KeyARN.Partition)
		if err != nil {
			return Statement{}, err
		}
		principals = append(principals, n)
	}
	return UseStatement(principals[0], principals[1:]), nil
}

// GrantModeStatements are grant mode's use and data grants statements for the control identity
// control and the data identity data, used as given (Generate validates and normalises them).
func GrantModeStatements(control, data string) []Statement {
	return grantModeStatements([]string{control}, data)
}

func grantModeStatements(principals []string, data string) []Statement {
	use := Statement{
		Sid:       SidUse,
		Effect:    "Allow",
		Principal: Principal{AWS: slices.Clone(principals)},
		Action:    slices.Clone(controlActions),
		Resource:  "*",
	}
	grants := Statement{
		Sid:       SidDataGrants,
		Effect:    "Allow",
		Principal: Principal{AWS: slices.Clone(principals)},
		Action:    []string{"kms:CreateGrant"},
		Resource:  "*",
		Condition: map[string]map[string]string{"StringEquals": {"kms:GranteePrincipal": data}},
		ConditionSets: map[string]map[string][]string{
			"ForAllValues:StringEquals": {"kms:GrantOperations": slices.Clone(GrantOperations)},
		},
	}
	return []Statement{use, grants}
}

// document is a whole key policy: the key owner's account administers the key (without it a key
// policy locks its owner out), followed by the given statements.
func document(key keyarn.ARN, statements ...Statement) *Document {
	owner := Statement{
		Sid:       SidOwner,
		Effect:    "Allow",
		Principal: Principal{AWS: []string{rootARN(key.Partition, key.Account)}},
		Action:    []string{"kms:*"},
		Resource:  "*",
	}
	return &Document{Version: policyVersion, ID: PolicyID, Statement: append([]Statement{owner}, statements...)}
}

// checkSize refuses a policy KMS would refuse, which only many long additional principals can cause.
func checkSize(v any) error {
	b, err := encode(v, "")
	if err != nil {
		return err
	}
	if len(b) > maxPolicyBytes {
		return &keyarn.Error{Code: domain.CodeInvalidPrincipal, Message: fmt.Sprintf(
			"the policy with these principals is %d bytes, and a KMS key policy holds at most %d: give fewer additional principals",
			len(b), maxPolicyBytes)}
	}
	return nil
}

// JSON renders a Statement or Document indented, with fields in AWS's order and no HTML escaping
// (principal paths may hold <, > and &).
func JSON(v any) ([]byte, error) { return encode(v, "  ") }

// encode is json.Marshal without HTML escaping, indented when indent is not empty.
func encode(v any, indent string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", indent)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// normalize validates a principal and turns a bare account id into its root ARN in the key's
// partition, the form KMS stores, so that duplicates collapse.
func normalize(p, partition string) (string, error) {
	// %.100q below quotes at most 100 runes of the input.
	if !ValidPrincipal(p) {
		return "", &keyarn.Error{Code: domain.CodeInvalidPrincipal, Message: fmt.Sprintf(
			"principal %.100q is not an IAM principal: give arn:%s:iam::<account>:root, arn:%s:iam::<account>:role/<name>, arn:%s:iam::<account>:user/<name> or a 12-digit account id",
			p, partition, partition, partition)}
	}
	if keyarn.ValidAccount(p) {
		return rootARN(partition, p), nil
	}
	if got := strings.SplitN(p, ":", 3)[1]; got != partition {
		return "", &keyarn.Error{Code: domain.CodeInvalidPrincipal, Message: fmt.Sprintf(
			"principal %.100q is in partition %s but the key is in %s: a key policy only admits principals of its own partition",
			p, got, partition)}
	}
	return p, nil
}

func rootARN(partition, account string) string {
	return "arn:" + partition + ":iam::" + account + ":root"
}

// ValidPrincipal reports whether s is an IAM principal a key policy may name: a 12-digit account id,
// or arn:<partition>:iam::<account>: followed by root, role/<path/name> or user/<path/name>, with
// IAM's rules for names (1–64 of A-Z a-z 0-9 +=,.@_-) and paths (printable ASCII, at most 512).
// Wildcards are refused: in a principal they would not match what they seem to.
func ValidPrincipal(s string) bool {
	if keyarn.ValidAccount(s) {
		return true
	}
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" || parts[3] != "" || !keyarn.ValidAccount(parts[4]) {
		return false
	}
	switch parts[1] {
	case "aws", "aws-cn", "aws-us-gov":
	default:
		return false
	}
	resource := parts[5]
	if resource == "root" {
		return true
	}
	kind, rest, _ := strings.Cut(resource, "/")
	if kind != "role" && kind != "user" {
		return false
	}
	cut := strings.LastIndexByte(rest, '/')
	path, name := rest[:cut+1], rest[cut+1:]
	return validName(name) && validPath(path)
}

// IdentityPrincipal reports whether s is a valid principal that names one IAM role or user, not an
// account (its root or its id), which a key policy reads as every identity of that account.
func IdentityPrincipal(s string) bool {
	if !ValidPrincipal(s) || keyarn.ValidAccount(s) {
		return false
	}
	return strings.SplitN(s, ":", 6)[5] != "root"
}

// validName follows IAM's rule for role and user names.
func validName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !isAlnum(c) && !strings.ContainsRune("+=,.@_-", rune(c)) {
			return false
		}
	}
	return true
}

// validPath follows IAM's rule for paths, minus the wildcards; path is what lies between the
// resource type's slash and the name, so the empty path is "/".
func validPath(path string) bool {
	if len(path)+1 > 512 {
		return false
	}
	for _, c := range []byte(path) {
		if c < 0x21 || c > 0x7e || c == '*' || c == '?' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// dedup keeps the first occurrence of each string, in order.
func dedup(list []string) []string {
	seen := make(map[string]bool, len(list))
	out := make([]string, 0, len(list))
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
