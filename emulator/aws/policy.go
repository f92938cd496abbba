package awsemu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// policyDoc is a parsed key policy. Only the key policy is modelled: there are
// no IAM policies, so a statement naming an account (or its root) admits
// every principal of that account.
type policyDoc struct {
	Version   string     `json:"Version"`
	ID        string     `json:"Id"` // read so that strict decoding accepts it
	Statement statements `json:"Statement"`
}

type statements []statement

// UnmarshalJSON accepts one statement or a list, as IAM does.
func (s *statements) UnmarshalJSON(data []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
		var one statement
		if err := strictUnmarshal(data, &one); err != nil {
			return err
		}
		*s = statements{one}
		return nil
	}
	var many []statement
	if err := strictUnmarshal(data, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

type statement struct {
	Sid          string                           `json:"Sid"`
	Effect       string                           `json:"Effect"`
	Principal    *principalSet                    `json:"Principal"`
	NotPrincipal *principalSet                    `json:"NotPrincipal"`
	Action       stringList                       `json:"Action"`
	NotAction    stringList                       `json:"NotAction"`
	Resource     stringList                       `json:"Resource"`
	NotResource  stringList                       `json:"NotResource"`
	Condition    map[string]map[string]stringList `json:"Condition"`
}

// stringList is an IAM value that may be one string or a list of them.
// Booleans and numbers (as in "Bool": {"k": true}) read as their text.
type stringList []string

// UnmarshalJSON accepts a scalar or a list of scalars.
func (l *stringList) UnmarshalJSON(data []byte) error {
	var raw any
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	items, ok := raw.([]any)
	if !ok {
		items = []any{raw}
	}
	out := make(stringList, 0, len(items))
	for _, it := range items {
		switch v := it.(type) {
		case string:
			out = append(out, v)
		case bool:
			out = append(out, strconv.FormatBool(v))
		case float64:
			out = append(out, strconv.FormatFloat(v, 'f', -1, 64))
		default:
			return fmt.Errorf("expected a string or a list of strings")
		}
	}
	*l = out
	return nil
}

// principalSet is a statement's Principal: "*" or {"AWS": …, "Service": …}.
type principalSet struct {
	aws   stringList
	other bool // names service or federated principals, which never call here
}

// UnmarshalJSON accepts "*" or a map of principal types.
func (p *principalSet) UnmarshalJSON(data []byte) error {
	var s string
	if json.Unmarshal(data, &s) == nil {
		if s != "*" {
			return fmt.Errorf("a string principal must be \"*\"")
		}
		p.aws = stringList{"*"}
		return nil
	}
	var m map[string]stringList
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	for typ, v := range m {
		switch typ {
		case "AWS":
			p.aws = v
		case "Service", "Federated", "CanonicalUser":
			p.other = true
		default:
			return fmt.Errorf("unknown principal type %q", typ)
		}
	}
	return nil
}

func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the policy")
	}
	return nil
}

var (
	principalPattern = regexp.MustCompile(`^(\*|\d{12}|arn:aws[a-z-]*:(iam::\d{12}:(root|(user|role)/[\w+=,.@/-]+)|sts::\d{12}:assumed-role/[\w+=,.@-]+/[\w+=,.@-]+))$`)
	// The condition operators IAM knows; any other name makes a policy malformed.
	conditionBases = []string{"StringEquals", "StringNotEquals", "StringEqualsIgnoreCase",
		"StringNotEqualsIgnoreCase", "StringLike", "StringNotLike", "NumericEquals", "NumericNotEquals",
		"NumericLessThan", "NumericLessThanEquals", "NumericGreaterThan", "NumericGreaterThanEquals",
		"DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan",
		"DateGreaterThanEquals", "Bool", "BinaryEquals", "IpAddress", "NotIpAddress", "ArnEquals",
		"ArnLike", "ArnNotEquals", "ArnNotLike", "Null"}
)

const maxPolicyLength = 32768

// parsePolicy reads and checks a key policy, answering
// MalformedPolicyDocumentException the way KMS does for a bad document.
func parsePolicy(text string) (*policyDoc, error) {
	malformed := func(format string, args ...any) error {
		return newError(errMalformedPolicy, format, args...)
	}
	var doc policyDoc
	if err := strictUnmarshal([]byte(text), &doc); err != nil {
		return nil, malformed("The key policy is not a valid policy document: %s", err.Error())
	}
	if doc.Version != "" && doc.Version != "2012-10-17" && doc.Version != "2008-10-17" {
		return nil, malformed("The policy version %q is not supported.", doc.Version)
	}
	if len(doc.Statement) == 0 {
		return nil, malformed("The key policy has no statements.")
	}
	for i, st := range doc.Statement {
		where := fmt.Sprintf("Statement %d", i+1)
		if st.Effect != "Allow" && st.Effect != "Deny" {
			return nil, malformed("%s: Effect must be Allow or Deny.", where)
		}
		if (st.Principal == nil) == (st.NotPrincipal == nil) {
			return nil, malformed("%s must have exactly one of Principal and NotPrincipal.", where)
		}
		if (len(st.Action) == 0) == (len(st.NotAction) == 0) {
			return nil, malformed("%s must have exactly one of Action and NotAction.", where)
		}
		if (len(st.Resource) == 0) == (len(st.NotResource) == 0) {
			return nil, malformed("%s must have exactly one of Resource and NotResource.", where)
		}
		ps := st.Principal
		if ps == nil {
			ps = st.NotPrincipal
		}
		if len(ps.aws) == 0 && !ps.other {
			return nil, malformed("%s has an empty principal.", where)
		}
		for _, p := range ps.aws {
			if !principalPattern.MatchString(p) {
				return nil, malformed("Policy contains a statement with one or more invalid principals.")
			}
		}
		for op, block := range st.Condition {
			if _, ok := parseOperator(op); !ok {
				return nil, malformed("%s: invalid condition operator %s.", where, op)
			}
			for k, v := range block {
				if k == "" || len(v) == 0 {
					return nil, malformed("%s: condition %s has an empty key or value.", where, op)
				}
			}
		}
	}
	return &doc, nil
}

// operator is a parsed condition operator such as ForAnyValue:StringLikeIfExists.
type operator struct {
	set      string // "", "ForAllValues" or "ForAnyValue"
	base     string
	ifExists bool
}

func parseOperator(s string) (operator, bool) {
	var op operator
	if set, rest, ok := strings.Cut(s, ":"); ok {
		if set != "ForAllValues" && set != "ForAnyValue" {
			return op, false
		}
		op.set, s = set, rest
	}
	if base, ok := strings.CutSuffix(s, "IfExists"); ok && base != "Null" {
		op.ifExists, s = true, base
	}
	for _, b := range conditionBases {
		if b == s {
			op.base = s
			return op, true
		}
	}
	return op, false
}

// authzRequest is what a policy statement is matched against.
type authzRequest struct {
	principal principal
	action    string              // "kms:Encrypt"
	resource  string              // the key ARN
	context   map[string][]string // condition keys, lowercased
}

type decision int

const (
	noDecision decision = iota
	allowed
	denied
)

// evaluate applies the policy: an explicit Deny wins, then any Allow.
func (d *policyDoc) evaluate(req *authzRequest) decision {
	result := noDecision
	for i := range d.Statement {
		st := &d.Statement[i]
		deny := st.Effect == "Deny"
		if !st.matches(req, deny) {
			continue
		}
		if deny {
			return denied
		}
		result = allowed
	}
	return result
}

// matches tells whether a statement applies to a request. failClosed decides
// conditions the emulator cannot evaluate (numeric, date, IP…): true for a
// Deny (it applies), false for an Allow (it does not).
func (st *statement) matches(req *authzRequest, failClosed bool) bool {
	if st.Principal != nil && !st.Principal.admits(req.principal) {
		return false
	}
	if st.NotPrincipal != nil && st.NotPrincipal.admits(req.principal) {
		return false
	}
	actionMatch := func(pattern string) bool {
		return globMatch(strings.ToLower(pattern), strings.ToLower(req.action))
	}
	if len(st.Action) > 0 && !anyOf(st.Action, actionMatch) {
		return false
	}
	if len(st.NotAction) > 0 && anyOf(st.NotAction, actionMatch) {
		return false
	}
	resourceMatch := func(pattern string) bool { return globMatch(pattern, req.resource) }
	if len(st.Resource) > 0 && !anyOf(st.Resource, resourceMatch) {
		return false
	}
	if len(st.NotResource) > 0 && anyOf(st.NotResource, resourceMatch) {
		return false
	}
	for opName, block := range st.Condition {
		op, _ := parseOperator(opName)
		for condKey, values := range block {
			name := strings.ToLower(condKey)
			ok, supported := op.evaluateFor(name, req.context[name], values, failClosed)
			if !supported {
				ok = failClosed
			}
			if !ok {
				return false
			}
		}
	}
	return true
}

func anyOf(list []string, f func(string) bool) bool {
	for _, s := range list {
		if f(s) {
			return true
		}
	}
	return false
}

// admits tells whether a Principal element names the caller.
func (p *principalSet) admits(caller principal) bool {
	return anyOf(p.aws, func(entry string) bool { return principalMatches(entry, caller) })
}

// principalMatches matches one principal entry: "*", an account id or its
// root ARN (any principal of that account), or the exact user/role ARN — a
// role also admits its assumed-role sessions.
func principalMatches(entry string, caller principal) bool {
	switch {
	case entry == "*":
		return true
	case len(entry) == 12 && !strings.Contains(entry, ":"):
		return caller.account == entry
	case strings.HasSuffix(entry, ":root"):
		return caller.account != "" && arnAccount(entry) == caller.account
	case entry == caller.arn:
		return true
	}
	// arn:aws:sts::ACCT:assumed-role/NAME/SESSION is a session of arn:aws:iam::ACCT:role/[PATH/]NAME.
	parts := strings.SplitN(caller.arn, ":", 6)
	if len(parts) != 6 || parts[2] != "sts" || !strings.HasPrefix(parts[5], "assumed-role/") {
		return false
	}
	roleName := strings.Split(parts[5], "/")[1]
	eparts := strings.SplitN(entry, ":", 6)
	return len(eparts) == 6 && eparts[2] == "iam" && eparts[4] == parts[4] &&
		strings.HasPrefix(eparts[5], "role/") && eparts[5][strings.LastIndex(eparts[5], "/")+1:] == roleName
}

// evaluateFor is evaluate for condition key name. A kms:EncryptionContext:<key>
// condition holds several values only when the request's context has keys
// that differ only by case; each value is then judged alone, and the
// statement applies to the request only as the safer reading says: an Allow
// needs every value to satisfy it, a Deny (deny) any.
func (op operator) evaluateFor(name string, have, want []string, deny bool) (ok, supported bool) {
	if op.set != "" || len(have) < 2 || !strings.HasPrefix(name, contextConditionPrefix) {
		return op.evaluate(have, want)
	}
	for _, h := range have {
		ok, supported := op.evaluate([]string{h}, want)
		if !supported {
			return false, false
		}
		if ok == deny {
			return deny, true
		}
	}
	return !deny, true
}

// evaluate applies a condition operator to the request's values of one key.
// supported is false for operators the emulator does not model.
func (op operator) evaluate(have []string, want []string) (ok, supported bool) {
	if op.base == "Null" {
		absent := len(have) == 0
		return anyOf(want, func(w string) bool { return strings.EqualFold(w, strconv.FormatBool(absent)) }), true
	}
	cmp, negated, supported := comparison(op.base)
	if !supported {
		return false, false
	}
	if len(have) == 0 {
		switch {
		case op.ifExists, op.set == "ForAllValues":
			return true, true
		case op.set == "ForAnyValue":
			return false, true
		}
		return negated, true
	}
	// hit tells whether one request value satisfies the operator.
	hit := func(h string) bool {
		m := anyOf(want, func(w string) bool { return cmp(h, w) })
		return m != negated
	}
	switch {
	case op.set == "ForAnyValue":
		return anyOf(have, hit), true
	case op.set == "ForAllValues", negated:
		// A negated single-valued operator holds when no value matches.
		return !anyOf(have, func(h string) bool { return !hit(h) }), true
	}
	return anyOf(have, hit), true
}

// comparison is how a condition operator compares a request value with a
// policy value, and whether it negates the result; supported is false for
// operators the emulator does not model.
func comparison(base string) (cmp func(have, want string) bool, negated, supported bool) {
	equal := func(h, w string) bool { return h == w }
	switch base {
	case "StringEquals":
		return equal, false, true
	case "StringNotEquals":
		return equal, true, true
	case "StringEqualsIgnoreCase", "Bool":
		return strings.EqualFold, false, true
	case "StringNotEqualsIgnoreCase":
		return strings.EqualFold, true, true
	case "StringLike", "ArnEquals", "ArnLike":
		return globMatch2, false, true
	case "StringNotLike", "ArnNotEquals", "ArnNotLike":
		return globMatch2, true, true
	}
	return nil, false, false
}

// globMatch2 is globMatch with the request value first, as condition
// comparisons take it.
func globMatch2(have, pattern string) bool { return globMatch(pattern, have) }

// globMatch matches IAM wildcards: * any run of characters, ? one character.
func globMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// defaultPolicy is the policy AWS gives a key created without one: the
// owning account, and so (here) every principal in it, may do everything.
func defaultPolicy(part, account string) (*policyDoc, string) {
	return builtinPolicy("key-default-1",
		allowStatement("Enable IAM User Permissions", rootARN(part, account), `"kms:*"`))
}

// managedPolicy is the policy of a region's AWS-managed key: every principal
// may use it and read it, nobody may administer it.
func managedPolicy(part, account string) (*policyDoc, string) {
	return builtinPolicy("auto-cmekd-test",
		allowStatement("Allow access through cmekd for all principals", "*",
			`[ "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey" ]`),
		allowStatement("Allow direct access to key metadata to the account", rootARN(part, account),
			`[ "kms:Describe*", "kms:Get*", "kms:List*" ]`))
}

// builtinPolicy is a policy of the emulator's own, laid out as AWS lays out
// the policies it writes, with its parsed form.
func builtinPolicy(id string, statements ...string) (*policyDoc, string) {
	text := fmt.Sprintf(`{
  "Version" : "2012-10-17",
  "Id" : %q,
  "Statement" : [ %s ]
}`, id, strings.Join(statements, ", "))
	doc, err := parsePolicy(text)
	if err != nil {
		panic("emulator: built-in policy is malformed: " + err.Error())
	}
	return doc, text
}

// allowStatement lets principal perform actions (a JSON string or list) on the key.
func allowStatement(sid, principal, actions string) string {
	return fmt.Sprintf(`{
    "Sid" : %q,
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : %q
    },
    "Action" : %s,
    "Resource" : "*"
  }`, sid, principal, actions)
}
