package awsemu

import (
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// IAM, as far as the key events setup needs it: the role EventBridge assumes to invoke an API
// destination, and its inline policy. IAM speaks the AWS query protocol: a form body in, XML out,
// policy documents URL-encoded in answers, as IAM answers them.

const iamNamespace = "https://iam.amazonaws.com/doc/2010-05-08/"

// iamRole is one role; its state is saved in the state file.
type iamRole struct {
	Name, ID, Arn, Path, AssumeRolePolicy, Description string
	Created                                            time.Time
	Policies                                           map[string]string
	Tags                                               map[string]string `json:",omitempty"`
}

type iamError struct {
	status        int
	code, message string
}

func (e *iamError) Error() string { return e.code + ": " + e.message }

func noSuchRole(name string) *iamError {
	return &iamError{http.StatusNotFound, "NoSuchEntity", "The role with name " + name + " cannot be found."}
}

type iamRoleXML struct {
	Path                     string `xml:"Path"`
	RoleName                 string `xml:"RoleName"`
	RoleID                   string `xml:"RoleId"`
	Arn                      string `xml:"Arn"`
	CreateDate               string `xml:"CreateDate"`
	AssumeRolePolicyDocument string `xml:"AssumeRolePolicyDocument"`
	Description              string `xml:"Description,omitempty"`
	MaxSessionDuration       int    `xml:"MaxSessionDuration"`
	Tags                     []struct {
		Key   string `xml:"Key"`
		Value string `xml:"Value"`
	} `xml:"Tags>member,omitempty"`
	LastUsed struct{} `xml:"RoleLastUsed"`
}

func roleXML(r *iamRole) iamRoleXML {
	out := iamRoleXML{Path: r.Path, RoleName: r.Name, RoleID: r.ID, Arn: r.Arn, CreateDate: r.Created.UTC().Format(time.RFC3339),
		AssumeRolePolicyDocument: url.QueryEscape(r.AssumeRolePolicy), Description: r.Description, MaxSessionDuration: 3600}
	keys := make([]string, 0, len(r.Tags))
	for k := range r.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out.Tags = append(out.Tags, struct {
			Key   string `xml:"Key"`
			Value string `xml:"Value"`
		}{k, r.Tags[k]})
	}
	return out
}

// inner is raw XML inside an action's result element.
type inner struct {
	XML string `xml:",innerxml"`
}

// serveIAM answers one IAM request.
func (c *call) serveIAM(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	form, formErr := url.ParseQuery(string(body))
	c.op = "iam:" + form.Get("Action")
	w.Header().Set("Content-Type", "text/xml")
	var result any
	if r.Method != http.MethodPost || err != nil || formErr != nil {
		err = &iamError{http.StatusBadRequest, "MalformedInput", "IAM requests are POSTed forms."}
	} else {
		c.now = c.e.now()
		result, err = c.iamAction(form)
		if err == nil {
			if saveErr := c.e.saveAfter(c.op); saveErr != nil {
				err = &iamError{http.StatusInternalServerError, "ServiceFailure", "the emulator could not save its state"}
			}
		}
	}
	if err != nil {
		ie, ok := err.(*iamError)
		if !ok {
			ie = &iamError{http.StatusInternalServerError, "ServiceFailure", "internal failure"}
		}
		w.WriteHeader(ie.status)
		_, _ = io.WriteString(w, `<ErrorResponse xmlns="`+iamNamespace+`"><Error><Type>Sender</Type><Code>`+ie.code+`</Code><Message>`+
			xmlEscape(ie.message)+`</Message></Error><RequestId>`+c.requestID+`</RequestId></ErrorResponse>`)
		c.logOutcome(ie.code)
		return
	}
	action := form.Get("Action")
	var res string
	if result != nil {
		b, _ := xml.Marshal(result)
		res = "<" + action + "Result>" + string(b) + "</" + action + "Result>"
		if s, ok := result.(inner); ok {
			res = "<" + action + "Result>" + s.XML + "</" + action + "Result>"
		}
	}
	_, _ = io.WriteString(w, `<`+action+`Response xmlns="`+iamNamespace+`">`+res+`<ResponseMetadata><RequestId>`+c.requestID+
		`</RequestId></ResponseMetadata></`+action+`Response>`)
	c.logOutcome("ok")
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// members reads a query-protocol list (Name.member.N.Field).
func members(form url.Values, list string, fields ...string) []map[string]string {
	var out []map[string]string
	for i := 1; ; i++ {
		m := map[string]string{}
		for _, f := range fields {
			if v, ok := form[list+".member."+strconv.Itoa(i)+"."+f]; ok {
				m[f] = v[0]
			}
		}
		if len(m) == 0 {
			return out
		}
		out = append(out, m)
	}
}

func (c *call) iamAction(form url.Values) (any, error) {
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	if c.e.roles == nil {
		c.e.roles = map[string]*iamRole{}
	}
	name := form.Get("RoleName")
	role := c.e.roles[name]
	needRole := func() error {
		if role == nil {
			return noSuchRole(name)
		}
		return nil
	}
	switch form.Get("Action") {
	case "CreateRole":
		if role != nil {
			return nil, &iamError{http.StatusConflict, "EntityAlreadyExists", "Role with name " + name + " already exists."}
		}
		if name == "" || form.Get("AssumeRolePolicyDocument") == "" {
			return nil, &iamError{http.StatusBadRequest, "ValidationError", "RoleName and AssumeRolePolicyDocument are required."}
		}
		path := cmpOr(form.Get("Path"), "/")
		role = &iamRole{Name: name, ID: "AROA" + strings.ToUpper(randomHex(8)), Path: path,
			Arn: "arn:aws:iam::" + c.account() + ":role" + path + name, AssumeRolePolicy: form.Get("AssumeRolePolicyDocument"),
			Description: form.Get("Description"), Created: c.now, Policies: map[string]string{}, Tags: map[string]string{}}
		for _, t := range members(form, "Tags", "Key", "Value") {
			role.Tags[t["Key"]] = t["Value"]
		}
		c.e.roles[name] = role
		return struct {
			XMLName xml.Name `xml:"Role"`
			iamRoleXML
		}{iamRoleXML: roleXML(role)}, nil
	case "GetRole":
		if err := needRole(); err != nil {
			return nil, err
		}
		return struct {
			XMLName xml.Name `xml:"Role"`
			iamRoleXML
		}{iamRoleXML: roleXML(role)}, nil
	case "UpdateAssumeRolePolicy":
		if err := needRole(); err != nil {
			return nil, err
		}
		role.AssumeRolePolicy = form.Get("PolicyDocument")
		return nil, nil
	case "UpdateRole", "UpdateRoleDescription":
		if err := needRole(); err != nil {
			return nil, err
		}
		role.Description = form.Get("Description")
		return nil, nil
	case "TagRole":
		if err := needRole(); err != nil {
			return nil, err
		}
		for _, t := range members(form, "Tags", "Key", "Value") {
			role.Tags[t["Key"]] = t["Value"]
		}
		return nil, nil
	case "ListRoleTags":
		if err := needRole(); err != nil {
			return nil, err
		}
		x := roleXML(role)
		b, _ := xml.Marshal(struct {
			XMLName xml.Name `xml:"x"`
			Tags    any      `xml:"Tags>member"`
		}{Tags: x.Tags})
		return inner{strings.TrimSuffix(strings.TrimPrefix(string(b), "<x>"), "</x>") + "<IsTruncated>false</IsTruncated>"}, nil
	case "DeleteRole":
		if err := needRole(); err != nil {
			return nil, err
		}
		if len(role.Policies) > 0 {
			return nil, &iamError{http.StatusConflict, "DeleteConflict", "Cannot delete entity, must delete policies first."}
		}
		delete(c.e.roles, name)
		return nil, nil
	case "PutRolePolicy":
		if err := needRole(); err != nil {
			return nil, err
		}
		if form.Get("PolicyName") == "" || form.Get("PolicyDocument") == "" {
			return nil, &iamError{http.StatusBadRequest, "ValidationError", "PolicyName and PolicyDocument are required."}
		}
		role.Policies[form.Get("PolicyName")] = form.Get("PolicyDocument")
		return nil, nil
	case "GetRolePolicy":
		if err := needRole(); err != nil {
			return nil, err
		}
		doc, ok := role.Policies[form.Get("PolicyName")]
		if !ok {
			return nil, &iamError{http.StatusNotFound, "NoSuchEntity", "The role policy with name " + form.Get("PolicyName") + " cannot be found."}
		}
		return inner{"<RoleName>" + xmlEscape(name) + "</RoleName><PolicyName>" + xmlEscape(form.Get("PolicyName")) +
			"</PolicyName><PolicyDocument>" + xmlEscape(url.QueryEscape(doc)) + "</PolicyDocument>"}, nil
	case "DeleteRolePolicy":
		if err := needRole(); err != nil {
			return nil, err
		}
		if _, ok := role.Policies[form.Get("PolicyName")]; !ok {
			return nil, &iamError{http.StatusNotFound, "NoSuchEntity", "The role policy with name " + form.Get("PolicyName") + " cannot be found."}
		}
		delete(role.Policies, form.Get("PolicyName"))
		return nil, nil
	case "ListRolePolicies":
		if err := needRole(); err != nil {
			return nil, err
		}
		names := make([]string, 0, len(role.Policies))
		for n := range role.Policies {
			names = append(names, n)
		}
		sort.Strings(names)
		var b strings.Builder
		b.WriteString("<PolicyNames>")
		for _, n := range names {
			b.WriteString("<member>" + xmlEscape(n) + "</member>")
		}
		b.WriteString("</PolicyNames><IsTruncated>false</IsTruncated>")
		return inner{b.String()}, nil
	case "ListAttachedRolePolicies":
		if err := needRole(); err != nil {
			return nil, err
		}
		return inner{"<AttachedPolicies/><IsTruncated>false</IsTruncated>"}, nil
	case "ListInstanceProfilesForRole":
		if err := needRole(); err != nil {
			return nil, err
		}
		return inner{"<InstanceProfiles/><IsTruncated>false</IsTruncated>"}, nil
	}
	return nil, &iamError{http.StatusBadRequest, "InvalidAction", "This emulator does not answer the IAM action " + form.Get("Action") + "."}
}
