package azure

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
)

// Claims are the access-token claims the emulator issues and checks (Entra ID's v1 token names).
type Claims struct {
	Aud   string `json:"aud"`
	Iss   string `json:"iss"`
	Iat   int64  `json:"iat"`
	Nbf   int64  `json:"nbf"`
	Exp   int64  `json:"exp"`
	AppID string `json:"appid"`
	IDTyp string `json:"idtyp"`
	OID   string `json:"oid"`
	Sub   string `json:"sub"`
	TID   string `json:"tid"`
	Ver   string `json:"ver"`
}

var errTokenMalformed = errors.New("token malformed")
var errTokenSignature = errors.New("token signature invalid")

const jwtHeader = `{"alg":"HS256","typ":"JWT"}`

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func signJWT(key []byte, c Claims) (string, error) {
	body, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	unsigned := enc.EncodeToString([]byte(jwtHeader)) + "." + enc.EncodeToString(body)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(unsigned))
	return unsigned + "." + enc.EncodeToString(mac.Sum(nil)), nil
}

// ParseJWT checks a token's form and HS256 signature under key and returns its claims; it does
// not look at times or audience.
func ParseJWT(key []byte, token string) (Claims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return Claims{}, errTokenMalformed
	}
	enc := base64.RawURLEncoding
	head, err := enc.DecodeString(parts[0])
	if err != nil {
		return Claims{}, errTokenMalformed
	}
	var h struct{ Alg string }
	if json.Unmarshal(head, &h) != nil {
		return Claims{}, errTokenMalformed
	}
	sig, err := enc.DecodeString(parts[2])
	if err != nil || h.Alg != "HS256" {
		return Claims{}, errTokenSignature
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if subtle.ConstantTimeCompare(mac.Sum(nil), sig) != 1 {
		return Claims{}, errTokenSignature
	}
	body, err := enc.DecodeString(parts[1])
	if err != nil {
		return Claims{}, errTokenMalformed
	}
	var c Claims
	if json.Unmarshal(body, &c) != nil {
		return Claims{}, errTokenMalformed
	}
	return c, nil
}

// serveLogin answers Entra ID: instance discovery, OpenID configuration, and the token endpoint.
func (e *Emulator) serveLogin(w *statusRecorder, r *http.Request) {
	seg := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(seg) == 3 && seg[1] == "discovery" && seg[2] == "instance" && r.Method == http.MethodGet:
		w.op = "InstanceDiscovery"
		e.instanceDiscovery(w, r)
	case len(seg) == 4 && seg[1] == "v2.0" && seg[2] == ".well-known" && seg[3] == "openid-configuration":
		w.op = "OpenIDConfiguration"
		e.openIDConfiguration(w, r, seg[0])
	case len(seg) == 4 && seg[1] == "oauth2" && seg[2] == "v2.0" && seg[3] == "token" && r.Method == http.MethodPost:
		w.op = "Token"
		e.token(w, r, seg[0])
	default:
		writeAADError(w, http.StatusNotFound, "invalid_request", 900561, "The endpoint only accepts POST, OPTIONS requests. Received a "+r.Method+" request.")
	}
}

func (e *Emulator) instanceDiscovery(w http.ResponseWriter, r *http.Request) {
	authz := r.URL.Query().Get("authorization_endpoint")
	tenant := "common"
	if rest, ok := strings.CutPrefix(authz, "https://"+r.Host+"/"); ok {
		tenant, _, _ = strings.Cut(rest, "/")
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": "https://" + r.Host + "/" + tenant + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata": []map[string]any{{
			"preferred_network": r.Host, "preferred_cache": r.Host, "aliases": []string{r.Host},
		}},
	})
}

func (e *Emulator) openIDConfiguration(w http.ResponseWriter, r *http.Request, tenant string) {
	if !e.knownTenant(tenant) {
		writeAADError(w, http.StatusBadRequest, "invalid_tenant", 90002, "AADSTS90002: Tenant '"+tenant+"' not found.")
		return
	}
	base := "https://" + r.Host + "/" + tenant
	writeJSON(w, http.StatusOK, map[string]any{
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"issuer":                                "https://" + r.Host + "/" + e.TenantID() + "/v2.0",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"tenant_region_scope":                   "NA",
	})
}

func (e *Emulator) knownTenant(t string) bool {
	return t == e.TenantID() || t == "organizations" || t == "common"
}

// token is the client-credentials grant: the client's id and secret for a token whose audience
// is the resource of the one ".default" scope asked for.
func (e *Emulator) token(w http.ResponseWriter, r *http.Request, tenant string) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
		writeAADError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, "AADSTS70003: The app requested an unsupported grant type ''. Only client_credentials is emulated.")
		return
	}
	if tenant != e.TenantID() {
		writeAADError(w, http.StatusBadRequest, "invalid_request", 90002, "AADSTS90002: Tenant '"+tenant+"' not found.")
		return
	}
	aud, ok := audienceOf(r.PostForm.Get("scope"))
	if !ok {
		writeAADError(w, http.StatusBadRequest, "invalid_scope", 1002012, "AADSTS1002012: The provided value for scope '"+r.PostForm.Get("scope")+"' is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).")
		return
	}
	p, status := e.client(r.PostForm.Get("client_id"), r.PostForm.Get("client_secret"))
	if status != nil {
		writeAADError(w, status.status, status.code, status.aadCode, status.msg)
		return
	}
	now := e.opts.Now()
	tok, err := signJWT(e.signingKey(), Claims{Aud: aud, Iss: "https://sts.windows.net/" + tenant + "/",
		Iat: now.Unix(), Nbf: now.Unix(), Exp: now.Add(e.opts.TokenLifetime).Unix(), AppID: p.ClientID,
		IDTyp: "app", OID: p.ObjectID, Sub: p.ObjectID, TID: tenant, Ver: "1.0"})
	if err != nil {
		writeAADError(w, http.StatusInternalServerError, "server_error", 0, "token signing failed")
		return
	}
	secs := int(e.opts.TokenLifetime / time.Second)
	writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": tok})
}

type aadFailure struct {
	status  int
	code    string
	aadCode int
	msg     string
}

func (e *Emulator) client(id, secret string) (principal, *aadFailure) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, p := range e.st.Principals {
		if p.ClientID != id {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(p.ClientSecret), []byte(secret)) != 1 {
			return principal{}, &aadFailure{http.StatusUnauthorized, "invalid_client", 7000215, "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '" + id + "'."}
		}
		return *p, nil
	}
	return principal{}, &aadFailure{http.StatusBadRequest, "unauthorized_client", 700016, "AADSTS700016: Application with identifier '" + id + "' was not found in the directory '" + e.st.TenantID + "'."}
}

func (e *Emulator) signingKey() []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.st.SigningKey
}

// audienceOf maps the one resource scope of a client-credentials request to the token's
// audience: "https://vault.azure.net/.default" → "https://vault.azure.net". MSAL adds the OpenID
// scopes, which Entra ID ignores in this flow.
func audienceOf(scope string) (string, bool) {
	var fields []string
	for _, f := range strings.Fields(scope) {
		if f != "openid" && f != "offline_access" && f != "profile" {
			fields = append(fields, f)
		}
	}
	if len(fields) != 1 {
		return "", false
	}
	aud, ok := strings.CutSuffix(fields[0], "/.default")
	if !ok || !strings.HasPrefix(aud, "https://") {
		return "", false
	}
	return aud, true
}

// authFailure says why a bearer token was refused.
type authFailure int

const (
	authOK authFailure = iota
	authMissing
	authMalformed
	authSignature
	authExpired
	authNotYetValid
	authAudience
	authIssuer
	authUnknownPrincipal
)

// authenticate checks the request's bearer token against audiences and the clock.
func (e *Emulator) authenticate(r *http.Request, audiences []string) (Claims, authFailure) {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || raw == "" {
		return Claims{}, authMissing
	}
	c, err := ParseJWT(e.signingKey(), raw)
	switch {
	case errors.Is(err, errTokenMalformed):
		return c, authMalformed
	case err != nil:
		return c, authSignature
	}
	now := e.opts.Now().Unix()
	switch {
	case now >= c.Exp:
		return c, authExpired
	case now < c.Nbf-300:
		return c, authNotYetValid
	case !contains(audiences, c.Aud):
		return c, authAudience
	case c.TID != e.TenantID():
		return c, authIssuer
	case !e.knownObject(c.OID):
		return c, authUnknownPrincipal
	}
	return c, authOK
}

func (e *Emulator) knownObject(oid string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, p := range e.st.Principals {
		if p.ObjectID == oid {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeAADError(w http.ResponseWriter, status int, code string, aadCode int, msg string) {
	writeJSON(w, status, map[string]any{
		"error": code, "error_description": msg, "error_codes": []int{aadCode},
		"trace_id": newGUID(), "correlation_id": newGUID(),
	})
}
