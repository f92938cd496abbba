package awsemu

import (
	"encoding/xml"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
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
	for _, k := range slices.Sorted(maps.Keys(r.Tags)) {
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

// iamAction answers one IAM action on the role the form names.
func (c *call) iamAction(form url.Values) (any, error) {
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	if c.e.roles == nil {
		c.e.roles = map[string]*iamRole{}
	}
	name, action := form.Get("RoleName"), form.Get("Action")
	role := c.e.roles[name]
	if action == "CreateRole" {
		return c.createRole(form, name, role)
	}
	answer, ok := iamRoleActions[action]
	switch {
	case !ok:
		return nil, &iamError{http.StatusBadRequest, "InvalidAction", "This emulator does not answer the IAM action " + action + "."}
	case role == nil:
		return nil, noSuchRole(name)
	}
	return answer(c, form, role)
}

// createRole makes the role name; existing is the role of that name, if there is one.
func (c *call) createRole(form url.Values, name string, existing *iamRole) (any, error) {
	if existing != nil {
		return nil, &iamError{http.StatusConflict, "EntityAlreadyExists", "Role with name " + name + " already exists."}
	}
	if name == "" || form.Get("AssumeRolePolicyDocument") == "" {
		return nil, &iamError{http.StatusBadRequest, "ValidationError", "RoleName and AssumeRolePolicyDocument are required."}
	}
	path := cmpOr(form.Get("Path"), "/")
	role := &iamRole{Name: name, ID: "AROA" + strings.ToUpper(randomHex(8)), Path: path,
		Arn: "arn:aws:iam::" + c.account() + ":role" + path + name, AssumeRolePolicy: form.Get("AssumeRolePolicyDocument"),
		Description: form.Get("Description"), Created: c.now, Policies: map[string]string{}, Tags: map[string]string{}}
	addTags(role, form)
	c.e.roles[name] = role
	return roleResult(role), nil
}

// iamRoleActions answer the IAM actions on an existing role, c.e.mu held.
var iamRoleActions = map[string]func(c *call, form url.Values, role *iamRole) (any, error){
	"GetRole": func(_ *call, _ url.Values, role *iamRole) (any, error) { return roleResult(role), nil },
	"UpdateAssumeRolePolicy": func(_ *call, form url.Values, role *iamRole) (any, error) {
		role.AssumeRolePolicy = form.Get("PolicyDocument")
		return nil, nil
	},
	"UpdateRole":            updateRoleDescription,
	"UpdateRoleDescription": updateRoleDescription,
	"TagRole": func(_ *call, form url.Values, role *iamRole) (any, error) {
		addTags(role, form)
		return nil, nil
	},
	"ListRoleTags": func(_ *call, _ url.Values, role *iamRole) (any, error) {
		b, _ := xml.Marshal(struct {
			XMLName xml.Name `xml:"x"`
			Tags    any      `xml:"Tags>member"`
		}{Tags: roleXML(role).Tags})
		return inner{strings.TrimSuffix(strings.TrimPrefix(string(b), "<x>"), "</x>") + "<IsTruncated>false</IsTruncated>"}, nil
	},
	"DeleteRole": func(c *call, _ url.Values, role *iamRole) (any, error) {
		if len(role.Policies) > 0 {
			return nil, &iamError{http.StatusConflict, "DeleteConflict", "Cannot delete entity, must delete policies first."}
		}
		delete(c.e.roles, role.Name)
		return nil, nil
	},
	"PutRolePolicy": func(_ *call, form url.Values, role *iamRole) (any, error) {
		if form.Get("PolicyName") == "" || form.Get("PolicyDocument") == "" {
			return nil, &iamError{http.StatusBadRequest, "ValidationError", "PolicyName and PolicyDocument are required."}
		}
		role.Policies[form.Get("PolicyName")] = form.Get("PolicyDocument")
		return nil, nil
	},
	"GetRolePolicy": func(_ *call, form url.Values, role *iamRole) (any, error) {
		doc, err := rolePolicy(form, role)
		if err != nil {
			return nil, err
		}
		return inner{"<RoleName>" + xmlEscape(role.Name) + "</RoleName><PolicyName>" + xmlEscape(form.Get("PolicyName")) +
			"</PolicyName><PolicyDocument>" + xmlEscape(url.QueryEscape(doc)) + "</PolicyDocument>"}, nil
	},
	"DeleteRolePolicy": func(_ *call, form url.Values, role *iamRole) (any, error) {
		if _, err := rolePolicy(form, role); err != nil {
			return nil, err
		}
		delete(role.Policies, form.Get("PolicyName"))
		return nil, nil
	},
	"ListRolePolicies": func(_ *call, _ url.Values, role *iamRole) (any, error) {
		var b strings.Builder
		b.WriteString("<PolicyNames>")
		for _, n := range slices.Sorted(maps.Keys(role.Policies)) {
			b.WriteString("<member>" + xmlEscape(n) + "</member>")
		}
		b.WriteString("</PolicyNames><IsTruncated>false</IsTruncated>")
		return inner{b.String()}, nil
	},
	"ListAttachedRolePolicies": func(*call, url.Values, *iamRole) (any, error) {
		return inner{"<AttachedPolicies/><IsTruncated>false</IsTruncated>"}, nil
	},
	"ListInstanceProfilesForRole": func(*call, url.Values, *iamRole) (any, error) {
		return inner{"<InstanceProfiles/><IsTruncated>false</IsTruncated>"}, nil
	},
}

func updateRoleDescription(_ *call, form url.Values, role *iamRole) (any, error) {
	role.Description = form.Get("Description")
	return nil, nil
}

// roleResult is a role as CreateRole and GetRole answer it.
func roleResult(role *iamRole) any {
	return struct {
		XMLName xml.Name `xml:"Role"`
		iamRoleXML
	}{iamRoleXML: roleXML(role)}
}

// addTags sets the tags the form lists on role.
func addTags(role *iamRole, form url.Values) {
	for _, t := range members(form, "Tags", "Key", "Value") {
		role.Tags[t["Key"]] = t["Value"]
	}
}

// rolePolicy is the role's inline policy the form names.
func rolePolicy(form url.Values, role *iamRole) (string, error) {
	doc, ok := role.Policies[form.Get("PolicyName")]
	if !ok {
		return "", &iamError{http.StatusNotFound, "NoSuchEntity", "The role policy with name " + form.Get("PolicyName") + " cannot be found."}
	}
	return doc, nil
}
