package azure

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"
)

// armAudiences are the audiences Resource Manager accepts: azcore's arm clients ask for
// https://management.core.windows.net//.default.
var armAudiences = []string{"https://management.core.windows.net/", "https://management.core.windows.net",
	"https://management.azure.com/", "https://management.azure.com"}

const authzProvider = "/providers/microsoft.authorization/"

// apiError is an error answer: Key Vault's and Resource Manager's share this shape.
type apiError struct {
	status     int
	code, msg  string
	inner      string
	authHeader bool // Key Vault's 401 carries the challenge
}

func writeARMError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, map[string]any{"error": map[string]string{"code": e.code, "message": e.msg}})
}

// armCall is an authenticated Resource Manager request on Microsoft.Authorization.
type armCall struct {
	claims   Claims
	scope    string // as the client wrote it, without leading or trailing slashes
	parsed   Scope
	resource string // "roleAssignments" or "roleDefinitions"
	name     string // empty for a list
	body     []byte
	query    url.Values
}

// serveARM is Resource Manager: authenticate, parse {scope}/providers/Microsoft.Authorization/
// (roleAssignments|roleDefinitions)[/{name}], then one operation.
func (e *Emulator) serveARM(w *statusRecorder, r *http.Request) {
	w.Header().Set("x-ms-request-id", newGUID())
	w.Header().Set("x-ms-correlation-request-id", newGUID())
	if r.URL.Query().Get("api-version") == "" {
		writeARMError(w, &apiError{status: http.StatusBadRequest, code: "MissingApiVersionParameter",
			msg: "The api-version query parameter (?api-version=) is required for all requests."})
		return
	}
	c, failure := e.authenticate(r, armAudiences)
	if failure != authOK {
		writeARMError(w, armAuthError(failure, c, e.opts.Now()))
		return
	}
	call, err := parseARMPath(r.URL.EscapedPath())
	if err != nil {
		writeARMError(w, err)
		return
	}
	call.claims, call.query = c, r.URL.Query()
	call.body, _ = io.ReadAll(io.LimitReader(r.Body, 1<<20))
	w.op = r.Method + " " + call.resource
	status, body, aerr := e.armOperation(r.Method, call)
	if aerr != nil {
		writeARMError(w, aerr)
		return
	}
	if body == nil {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, body)
}

func armAuthError(f authFailure, c Claims, now time.Time) *apiError {
	e := &apiError{status: http.StatusUnauthorized, code: "InvalidAuthenticationToken", msg: "The access token is invalid."}
	switch f {
	case authMissing:
		e.code, e.msg = "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing."
	case authExpired:
		e.code = "ExpiredAuthenticationToken"
		e.msg = "The access token expiry UTC time '" + time.Unix(c.Exp, 0).UTC().Format("1/2/2006 3:04:05 PM") +
			"' is earlier than current UTC time '" + now.UTC().Format("1/2/2006 3:04:05 PM") + "'."
	case authAudience:
		e.code = "InvalidAuthenticationTokenAudience"
		e.msg = "The access token has been obtained for wrong audience or resource '" + c.Aud + "'. It should exactly match with one of the allowed audiences '" + strings.Join(armAudiences, "','") + "'."
	case authIssuer:
		e.code = "InvalidAuthenticationTokenTenant"
		e.msg = "The access token is from the wrong issuer '" + c.Iss + "'."
	}
	return e
}

func parseARMPath(escaped string) (*armCall, *apiError) {
	path, err := url.PathUnescape(escaped)
	if err != nil {
		return nil, &apiError{status: http.StatusBadRequest, code: "InvalidRequestUri", msg: "The request URI is not valid."}
	}
	path = "/" + strings.Trim(path, "/")
	i := strings.LastIndex(strings.ToLower(path), authzProvider)
	if i < 0 {
		return nil, &apiError{status: http.StatusNotFound, code: "InvalidResourceType",
			msg: "The emulator's Resource Manager serves only Microsoft.Authorization roleAssignments and roleDefinitions."}
	}
	rest := strings.Split(path[i+len(authzProvider):], "/")
	call := &armCall{scope: strings.Trim(path[:i], "/")}
	switch {
	case strings.EqualFold(rest[0], "roleAssignments"):
		call.resource = "roleAssignments"
	case strings.EqualFold(rest[0], "roleDefinitions"):
		call.resource = "roleDefinitions"
	default:
		return nil, &apiError{status: http.StatusNotFound, code: "InvalidResourceType",
			msg: "The resource type '" + rest[0] + "' could not be found in the namespace 'Microsoft.Authorization'."}
	}
	if len(rest) > 2 {
		return nil, &apiError{status: http.StatusBadRequest, code: "InvalidRequestUri", msg: "The request URI is not valid."}
	}
	if len(rest) == 2 {
		call.name = rest[1]
	}
	sc, perr := ParseScope(call.scope)
	if perr != nil && call.scope != "" {
		return nil, &apiError{status: http.StatusBadRequest, code: "InvalidScope", msg: "The scope '/" + call.scope + "' is not valid: " + perr.Error()}
	}
	call.parsed = sc
	return call, nil
}

func (e *Emulator) armOperation(method string, c *armCall) (int, any, *apiError) {
	e.mu.Lock()
	defer e.unlockAndNotify()
	if c.resource == "roleDefinitions" {
		if method != http.MethodGet {
			return 0, nil, &apiError{status: http.StatusForbidden, code: "AuthorizationFailed", msg: "Custom role definitions are not emulated."}
		}
		return e.roleDefinitionsLocked(c)
	}
	action := map[string]string{http.MethodGet: "read", http.MethodPut: "write", http.MethodDelete: "delete"}[method]
	if action == "" || (c.name == "" && method != http.MethodGet) {
		return 0, nil, &apiError{status: http.StatusMethodNotAllowed, code: "MethodNotAllowed", msg: "The method '" + method + "' is not allowed here."}
	}
	if c.scope == "" {
		return 0, nil, &apiError{status: http.StatusBadRequest, code: "InvalidScope", msg: "Role assignments need a scope below a subscription."}
	}
	if aerr := e.armAuthoriseLocked(c, "Microsoft.Authorization/roleAssignments/"+action); aerr != nil {
		return 0, nil, aerr
	}
	if aerr := e.scopeExistsLocked(c.parsed); aerr != nil {
		return 0, nil, aerr
	}
	switch {
	case method == http.MethodPut:
		return e.putAssignmentLocked(c)
	case method == http.MethodDelete:
		return e.deleteAssignmentLocked(c)
	case c.name != "":
		return e.getAssignmentLocked(c)
	}
	return http.StatusOK, map[string]any{"value": e.listAssignmentsLocked(c)}, nil
}

func (e *Emulator) armAuthoriseLocked(c *armCall, action string) *apiError {
	target := "/" + c.scope + "/providers/Microsoft.Authorization/roleAssignments"
	if c.name != "" {
		target += "/" + c.name
	}
	if e.allowedLocked(c.claims.OID, "/"+c.scope, action, false) {
		return nil
	}
	return &apiError{status: http.StatusForbidden, code: "AuthorizationFailed",
		msg: "The client '" + c.claims.AppID + "' with object id '" + c.claims.OID + "' does not have authorization to perform action '" +
			action + "' over scope '" + target + "' or the scope is invalid. If access was recently granted, please refresh your credentials."}
}

func (e *Emulator) scopeExistsLocked(sc Scope) *apiError {
	if sc.Subscription != strings.ToLower(e.st.SubscriptionID) {
		return &apiError{status: http.StatusNotFound, code: "SubscriptionNotFound", msg: "The subscription '" + sc.Subscription + "' could not be found."}
	}
	if sc.ResourceGroup != "" && !e.resourceGroupExistsLocked(sc.ResourceGroup) {
		return &apiError{status: http.StatusNotFound, code: "ResourceGroupNotFound", msg: "Resource group '" + sc.ResourceGroup + "' could not be found."}
	}
	if sc.Vault == "" {
		return nil
	}
	if v, ok := e.st.Vaults[sc.Vault]; !ok || v.HSM != sc.HSM || !strings.EqualFold(v.ResourceGroup, sc.ResourceGroup) {
		typ := "Microsoft.KeyVault/vaults/"
		if sc.HSM {
			typ = "Microsoft.KeyVault/managedHSMs/"
		}
		return &apiError{status: http.StatusNotFound, code: "ResourceNotFound",
			msg: "The Resource '" + typ + sc.Vault + "' under resource group '" + sc.ResourceGroup + "' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"}
	}
	return nil
}

func (e *Emulator) resourceGroupExistsLocked(rg string) bool {
	for _, p := range e.st.Principals {
		if strings.EqualFold(p.ResourceGroup, rg) {
			return true
		}
	}
	return false
}

var guidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func (e *Emulator) putAssignmentLocked(c *armCall) (int, any, *apiError) {
	if !guidPattern.MatchString(c.name) {
		return 0, nil, &apiError{status: http.StatusBadRequest, code: "InvalidRoleAssignmentId",
			msg: "The role assignment ID '" + c.name + "' is not valid. The role assignment ID must be a GUID."}
	}
	var body struct {
		Properties struct {
			RoleDefinitionID, PrincipalID, PrincipalType, Description string
		}
	}
	if err := json.Unmarshal(c.body, &body); err != nil {
		return 0, nil, &apiError{status: http.StatusBadRequest, code: "InvalidRequestContent", msg: "The request content was invalid and could not be deserialized: " + err.Error()}
	}
	p := body.Properties
	r := roleByDefinitionID(p.RoleDefinitionID)
	if r == nil {
		return 0, nil, &apiError{status: http.StatusBadRequest, code: "RoleDefinitionDoesNotExist", msg: "The specified role definition with ID '" + p.RoleDefinitionID + "' does not exist."}
	}
	if !e.objectExistsLocked(p.PrincipalID) {
		return 0, nil, &apiError{status: http.StatusBadRequest, code: "PrincipalNotFound",
			msg: "Principal " + strings.ReplaceAll(p.PrincipalID, "-", "") + " does not exist in the directory " + e.st.TenantID + ". Check that you have the correct principal ID."}
	}
	a := &assignment{Name: strings.ToLower(c.name), Scope: "/" + c.scope, RoleDefinitionID: r.ID, PrincipalID: p.PrincipalID,
		PrincipalType: "ServicePrincipal", Description: p.Description, CreatedBy: c.claims.OID, CreatedOn: e.opts.Now().Unix()}
	if aerr := e.conflictLocked(a); aerr != nil {
		return 0, nil, aerr
	}
	e.st.Assignments[a.Name] = a
	e.markChanged()
	return http.StatusCreated, e.assignmentJSON(a), nil
}

func (e *Emulator) conflictLocked(a *assignment) *apiError {
	for _, o := range e.st.Assignments {
		same := o.PrincipalID == a.PrincipalID && strings.EqualFold(o.Scope, a.Scope) && o.RoleDefinitionID == a.RoleDefinitionID
		switch {
		case o.Name == a.Name && !same:
			return &apiError{status: http.StatusConflict, code: "RoleAssignmentUpdateNotPermitted",
				msg: "Tenant ID, application ID, principal ID, and scope are not allowed to be updated."}
		case o.Name != a.Name && same:
			return &apiError{status: http.StatusConflict, code: "RoleAssignmentExists", msg: "The role assignment already exists."}
		}
	}
	return nil
}

func (e *Emulator) objectExistsLocked(oid string) bool {
	for _, p := range e.st.Principals {
		if p.ObjectID == oid {
			return true
		}
	}
	return false
}

func (e *Emulator) getAssignmentLocked(c *armCall) (int, any, *apiError) {
	a, ok := e.st.Assignments[strings.ToLower(c.name)]
	if !ok || !strings.EqualFold(a.Scope, "/"+c.scope) {
		return 0, nil, &apiError{status: http.StatusNotFound, code: "RoleAssignmentNotFound", msg: "The role assignment '" + c.name + "' is not found."}
	}
	return http.StatusOK, e.assignmentJSON(a), nil
}

func (e *Emulator) deleteAssignmentLocked(c *armCall) (int, any, *apiError) {
	a, ok := e.st.Assignments[strings.ToLower(c.name)]
	if !ok || !strings.EqualFold(a.Scope, "/"+c.scope) {
		return http.StatusNoContent, nil, nil
	}
	delete(e.st.Assignments, a.Name)
	e.markChanged()
	return http.StatusOK, e.assignmentJSON(a), nil
}

// listAssignmentsLocked lists the assignments at, above and below the scope, as Resource
// Manager does; atScope() keeps those at or above, principalId eq '…' one principal's.
func (e *Emulator) listAssignmentsLocked(c *armCall) []any {
	scope := "/" + strings.ToLower(c.scope)
	filter := c.query.Get("$filter")
	var principal string
	if _, rest, ok := strings.Cut(filter, "principalId eq '"); ok {
		principal, _, _ = strings.Cut(rest, "'")
	}
	out := []any{}
	for _, a := range e.sortedAssignmentsLocked() {
		as := strings.ToLower(a.Scope)
		above := within(scope, as)
		if !above && (strings.Contains(filter, "atScope()") || !within(as, scope)) {
			continue
		}
		if principal != "" && !strings.EqualFold(principal, a.PrincipalID) {
			continue
		}
		out = append(out, e.assignmentJSON(a))
	}
	return out
}

func (e *Emulator) sortedAssignmentsLocked() []*assignment {
	list := make([]*assignment, 0, len(e.st.Assignments))
	for _, a := range e.st.Assignments {
		list = append(list, a)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	return list
}

func (e *Emulator) assignmentJSON(a *assignment) map[string]any {
	created := time.Unix(a.CreatedOn, 0).UTC().Format(time.RFC3339)
	return map[string]any{
		"id": a.Scope + "/providers/Microsoft.Authorization/roleAssignments/" + a.Name, "type": "Microsoft.Authorization/roleAssignments", "name": a.Name,
		"properties": map[string]any{
			"roleDefinitionId": "/subscriptions/" + e.st.SubscriptionID + "/providers/Microsoft.Authorization/roleDefinitions/" + a.RoleDefinitionID,
			"principalId":      a.PrincipalID, "principalType": a.PrincipalType, "scope": a.Scope, "description": a.Description,
			"condition": nil, "conditionVersion": nil, "createdOn": created, "updatedOn": created, "createdBy": a.CreatedBy, "updatedBy": a.CreatedBy,
		},
	}
}

// roleDefinitionsLocked answers get and list of the built-in role definitions; any principal of
// the tenant may read them.
func (e *Emulator) roleDefinitionsLocked(c *armCall) (int, any, *apiError) {
	prefix := ""
	if c.scope != "" {
		prefix = "/" + c.scope
	}
	filter := c.query.Get("$filter")
	out := []any{}
	for i := range builtinRoles {
		r := &builtinRoles[i]
		if c.name != "" && strings.EqualFold(c.name, r.ID) {
			return http.StatusOK, roleJSON(prefix, r), nil
		}
		if c.name == "" && (filter == "" || strings.Contains(filter, "'"+r.Name+"'")) {
			out = append(out, roleJSON(prefix, r))
		}
	}
	if c.name != "" {
		return 0, nil, &apiError{status: http.StatusNotFound, code: "RoleDefinitionDoesNotExist", msg: "The specified role definition with ID '" + c.name + "' does not exist."}
	}
	return http.StatusOK, map[string]any{"value": out}, nil
}

func roleJSON(prefix string, r *role) map[string]any {
	nz := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	return map[string]any{
		"id": prefix + "/providers/Microsoft.Authorization/roleDefinitions/" + r.ID, "type": "Microsoft.Authorization/roleDefinitions", "name": r.ID,
		"properties": map[string]any{
			"roleName": r.Name, "type": "BuiltInRole", "description": r.Description, "assignableScopes": []string{"/"},
			"permissions": []map[string]any{{"actions": nz(r.Actions), "notActions": nz(r.NotActions),
				"dataActions": nz(r.DataActions), "notDataActions": nz(r.NotDataActions)}},
		},
	}
}
