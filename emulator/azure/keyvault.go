package azure

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"sort"
	"strings"
	"time"
)

// vault is a Key Vault or a Managed HSM.
type vault struct {
	Name          string                 `json:"name"`
	HSM           bool                   `json:"hsm"`
	ResourceGroup string                 `json:"resource_group"`
	Keys          map[string]*key        `json:"keys"`    // by lower-case name
	Deleted       map[string]*deletedKey `json:"deleted"` // soft-deleted, by lower-case name
}

// key is a named key and its versions, oldest first; the last is current.
type key struct {
	Name     string            `json:"name"`
	Versions []*version        `json:"versions"`
	Tags     map[string]string `json:"tags,omitempty"`
}

// version is one key version: its material and its own attributes.
type version struct {
	ID        string   `json:"id"`
	Kty       string   `json:"kty"`
	Size      int      `json:"size,omitempty"`
	Curve     string   `json:"curve,omitempty"`
	Ops       []string `json:"ops"`
	Enabled   bool     `json:"enabled"`
	NotBefore *int64   `json:"nbf,omitempty"`
	Expires   *int64   `json:"exp,omitempty"`
	Created   int64    `json:"created"`
	Updated   int64    `json:"updated"`
	Material  []byte   `json:"material"`
	// parsed is Material parsed, for an RSA version, with its CRT values precomputed: kept so that a
	// call does the cryptography only, not the parsing and checks of the key. Set under e.mu.
	parsed *rsa.PrivateKey
	// sealedByUs remembers the plaintexts of the last RSA ciphertexts this version sealed, by
	// algorithm and ciphertext. An RSA-2048 private-key operation costs about 2 ms of CPU here (the
	// public one 0.1 ms): in service it is Key Vault's, spent in Microsoft's HSM, but an emulator in
	// the caller's process bills it to the caller, about twice what a whole AWS probe costs.
	// Decrypting an OAEP ciphertext gives back exactly what was sealed, so the answer is the same;
	// everything else about the call (authentication, role assignments, the version's existence,
	// state, dates and key_ops) is still checked on every call before it. Set under e.mu.
	sealedByUs map[sealKey][]byte
}

type deletedKey struct {
	Key                *key  `json:"key"`
	DeletedDate        int64 `json:"deleted_date"`
	ScheduledPurgeDate int64 `json:"scheduled_purge_date"`
}

// retention is how long a soft-deleted key stays recoverable, Key Vault's default.
const retention = 90 * 24 * time.Hour

// kvCall is an authenticated, authorised Key Vault request.
type kvCall struct {
	host    string // the vault's host name, for the ids it answers with
	vault   *vault
	name    string
	version string
	body    []byte
	now     time.Time
}

type kvHandler func(e *Emulator, c *kvCall) (int, any, *apiError)

// kvOp is one Key Vault operation: its name (also its name in disabled-key errors), the
// permission it needs in a vault and in a Managed HSM, and its handler.
type kvOp struct {
	name        string
	vaultAction string
	hsmAction   string
	handle      kvHandler
}

const kvActions = "Microsoft.KeyVault/vaults/"
const hsmActions = "Microsoft.KeyVault/managedHsm/keys/"

var (
	opList        = kvOp{"list", kvActions + "keys/read", hsmActions + "read/action", (*Emulator).listKeys}
	opCreate      = kvOp{"create", kvActions + "keys/create/action", hsmActions + "create", (*Emulator).createKey}
	opRotate      = kvOp{"rotate", kvActions + "keys/rotate/action", hsmActions + "rotate/action", (*Emulator).rotateKey}
	opVersions    = kvOp{"listVersions", kvActions + "keys/read", hsmActions + "read/action", (*Emulator).listVersions}
	opGet         = kvOp{"get", kvActions + "keys/read", hsmActions + "read/action", (*Emulator).getKey}
	opUpdate      = kvOp{"update", kvActions + "keys/update/action", hsmActions + "write/action", (*Emulator).updateKey}
	opDelete      = kvOp{"delete", kvActions + "keys/delete", hsmActions + "delete", (*Emulator).deleteKey}
	opWrap        = kvOp{"wrapKey", kvActions + "keys/wrap/action", hsmActions + "wrap/action", cryptoHandler("wrapKey")}
	opUnwrap      = kvOp{"unwrapKey", kvActions + "keys/unwrap/action", hsmActions + "unwrap/action", cryptoHandler("unwrapKey")}
	opEncrypt     = kvOp{"encrypt", kvActions + "keys/encrypt/action", hsmActions + "encrypt/action", cryptoHandler("encrypt")}
	opDecrypt     = kvOp{"decrypt", kvActions + "keys/decrypt/action", hsmActions + "decrypt/action", cryptoHandler("decrypt")}
	opListDeleted = kvOp{"listDeleted", kvActions + "deletedKeys/read/action", hsmActions + "deletedKeys/read/action", (*Emulator).listDeleted}
	opGetDeleted  = kvOp{"getDeleted", kvActions + "deletedKeys/read/action", hsmActions + "deletedKeys/read/action", (*Emulator).getDeleted}
	opRecover     = kvOp{"recover", kvActions + "deletedKeys/recover/action", hsmActions + "deletedKeys/recover/action", (*Emulator).recoverKey}
	opPurge       = kvOp{"purge", kvActions + "deletedKeys/delete", hsmActions + "deletedKeys/delete", (*Emulator).purgeKey}
)

// routeVault maps a method and path to an operation, the key name and version.
func routeVault(method, path string) (*kvOp, string, string) {
	seg := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if n := len(seg); n > 1 && seg[n-1] == "" && !(n == 4 && seg[0] == "keys") {
		seg = seg[:n-1] // a trailing slash, as in GET /keys/{name}/ (versionless)
	}
	var op *kvOp
	name, ver := "", ""
	if len(seg) > 1 {
		name = seg[1]
	}
	if len(seg) > 2 && seg[0] == "keys" && validVersion(seg[2]) {
		ver = seg[2]
	}
	switch route := method + " " + seg[0] + "/" + shape(seg); route {
	case "GET keys/":
		op = &opList
	case "POST keys/n/create":
		op = &opCreate
	case "POST keys/n/rotate":
		op = &opRotate
	case "GET keys/n/versions":
		op = &opVersions
	case "GET keys/n", "GET keys/n/v":
		op = &opGet
	case "PATCH keys/n", "PATCH keys/n/v":
		op = &opUpdate
	case "DELETE keys/n":
		op = &opDelete
	case "POST keys/n/v/wrapkey", "POST keys/n/v/unwrapkey", "POST keys/n/v/encrypt", "POST keys/n/v/decrypt",
		"POST keys/n/wrapkey", "POST keys/n/unwrapkey", "POST keys/n/encrypt", "POST keys/n/decrypt":
		op = map[string]*kvOp{"wrapkey": &opWrap, "unwrapkey": &opUnwrap, "encrypt": &opEncrypt, "decrypt": &opDecrypt}[seg[len(seg)-1]]
	case "GET deletedkeys/":
		op = &opListDeleted
	case "GET deletedkeys/n":
		op = &opGetDeleted
	case "POST deletedkeys/n/recover":
		op = &opRecover
	case "DELETE deletedkeys/n":
		op = &opPurge
	}
	return op, name, ver
}

// shape abstracts a path below its collection: "n" for a name, "v" for a version, verbs kept.
func shape(seg []string) string {
	parts := []string{}
	for i, s := range seg[1:] {
		switch {
		case i == 0:
			parts = append(parts, "n")
		case i == 1 && (s == "" || validVersion(s)):
			parts = append(parts, "v")
		default:
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, "/")
}

// serveVault is the one prelude of every Key Vault call: authenticate, resolve the vault and
// operation, authorise the caller's role assignments, then run the operation under the lock.
func (e *Emulator) serveVault(w *statusRecorder, r *http.Request, host string, hsm bool) {
	setKVHeaders(w, e.opts.Region)
	vaultName, zone := splitVaultHost(host)
	resource := "https://" + zone
	claims, failure := e.authenticate(r, []string{resource})
	if failure != authOK {
		writeKVError(w, kvAuthError(failure, claims, resource), e.challenge(zone, resource))
		return
	}
	op, name, ver := routeVault(r.Method, r.URL.Path)
	if aerr := checkKVRequest(r, op, name); aerr != nil {
		writeKVError(w, aerr, "")
		return
	}
	w.op = op.name
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	e.mu.Lock()
	defer e.unlockAndNotify()
	v, ok := e.st.Vaults[vaultName]
	if !ok || v.HSM != hsm {
		writeKVError(w, &apiError{status: http.StatusNotFound, code: "VaultNotFound", msg: "The vault '" + vaultName + "' does not exist in the emulator."}, "")
		return
	}
	if aerr := e.kvAuthoriseLocked(v, op, name, claims); aerr != nil {
		writeKVError(w, aerr, "")
		return
	}
	status, out, aerr := op.handle(e, &kvCall{host: host, vault: v, name: name, version: ver, body: body, now: e.opts.Now()})
	if aerr != nil {
		writeKVError(w, aerr, "")
		return
	}
	if out == nil {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, out)
}

func checkKVRequest(r *http.Request, op *kvOp, name string) *apiError {
	switch {
	case op == nil:
		return &apiError{status: http.StatusNotFound, code: "NotFound", msg: "The requested operation '" + r.Method + " " + r.URL.Path + "' is not supported by the emulator."}
	case r.URL.Query().Get("api-version") == "":
		return &apiError{status: http.StatusBadRequest, code: "BadParameter", msg: "The request URI contains an invalid API version: ''."}
	case op != &opList && op != &opListDeleted && !validObjectName(name):
		return &apiError{status: http.StatusBadRequest, code: "BadParameter", msg: "The request URI contains an invalid name: " + name}
	}
	return nil
}

func (e *Emulator) kvAuthoriseLocked(v *vault, op *kvOp, name string, c Claims) *apiError {
	action, resource := op.vaultAction, e.vaultID(v)
	if v.HSM {
		action = op.hsmAction
	}
	if name != "" {
		resource += "/keys/" + name
	}
	if e.allowedLocked(c.OID, resource, action, true) {
		return nil
	}
	return &apiError{status: http.StatusForbidden, code: "Forbidden", inner: "ForbiddenByRbac",
		msg: "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\n" +
			"Caller: appid=" + c.AppID + ";oid=" + c.OID + ";iss=" + c.Iss + "\r\nAction: '" + action + "'\r\nResource: '" + strings.ToLower(resource) +
			"'\r\nAssignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: 'DeniedWithNoValidRBAC' \r\nVault: " + v.Name + ";location=" + e.opts.Region + "\r\n"}
}

// challenge is Key Vault's WWW-Authenticate: where to get a token and for which resource.
func (e *Emulator) challenge(zone, resource string) string {
	login := loginHosts[0]
	for i, z := range vaultZones {
		if zone == z || zone == hsmZones[i] {
			login = loginHosts[i]
		}
	}
	return `Bearer authorization="https://` + login + `/` + e.TenantID() + `", resource="` + resource + `"`
}

func kvAuthError(f authFailure, c Claims, resource string) *apiError {
	e := &apiError{status: http.StatusUnauthorized, code: "Unauthorized", authHeader: true}
	switch f {
	case authMissing:
		e.msg = "AKV10000: Request is missing a Bearer or PoP token."
	case authAudience:
		e.msg = "AKV10022: Invalid audience. Expected " + resource + ", found: " + c.Aud + "."
	case authIssuer:
		e.msg = "AKV10032: Invalid issuer. Expected one of https://sts.windows.net/{tenant}/ of this vault's tenant, found: " + c.Iss + "."
	case authExpired:
		e.msg = "Token has expired."
	case authNotYetValid:
		e.msg = "Token is not yet valid."
	case authUnknownPrincipal:
		e.msg = "The token's principal does not exist in the tenant."
	default:
		e.msg = "Token validation failed: the signature or form of the token is invalid."
	}
	return e
}

func setKVHeaders(w http.ResponseWriter, region string) {
	h := w.Header()
	h.Set("x-ms-keyvault-region", region)
	h.Set("x-ms-request-id", newGUID())
	h.Set("x-ms-keyvault-service-version", "1.9.0.0-emulator")
	h.Set("x-ms-keyvault-network-info", "conn_type=Ipv4;addr=127.0.0.1;act_addr_fam=InterNetwork;")
}

func writeKVError(w http.ResponseWriter, e *apiError, challenge string) {
	if e.authHeader && challenge != "" {
		w.Header().Set("WWW-Authenticate", challenge)
	}
	body := map[string]any{"code": e.code, "message": e.msg}
	if e.inner != "" {
		body["innererror"] = map[string]string{"code": e.inner}
	}
	writeJSON(w, e.status, map[string]any{"error": body})
}

func keyNotFound(name string) *apiError {
	return &apiError{status: http.StatusNotFound, code: "KeyNotFound",
		msg: "A key with (name/id) " + name + " was not found in this key vault. If you recently deleted this key you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"}
}

func deletedKeyNotFound(name string) *apiError {
	return &apiError{status: http.StatusNotFound, code: "KeyNotFound", msg: "Deleted Key not found: " + name}
}

func badParameter(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "BadParameter", msg: msg}
}

// findVersion returns the named key and the version asked for (current when versionless).
func (c *kvCall) findVersion() (*key, *version, *apiError) {
	k, ok := c.vault.Keys[strings.ToLower(c.name)]
	if !ok {
		return nil, nil, keyNotFound(c.name)
	}
	if c.version == "" {
		return k, k.Versions[len(k.Versions)-1], nil
	}
	for _, v := range k.Versions {
		if v.ID == c.version {
			return k, v, nil
		}
	}
	return nil, nil, keyNotFound(c.name + "/" + c.version)
}

func (c *kvCall) kid(k *key, v *version) string {
	return "https://" + c.host + "/keys/" + k.Name + "/" + v.ID
}

var b64 = base64.RawURLEncoding

// bundle is a key bundle: the public JSON Web Key, attributes and tags.
func (c *kvCall) bundle(k *key, v *version) map[string]any {
	jwk := map[string]any{"kid": c.kid(k, v), "kty": v.Kty, "key_ops": v.Ops}
	switch family(v.Kty) {
	case "RSA":
		if rk, err := v.rsaKey(); err == nil {
			jwk["n"] = b64.EncodeToString(rk.N.Bytes())
			jwk["e"] = b64.EncodeToString(big.NewInt(int64(rk.E)).Bytes())
		}
	case "EC":
		if x, y, err := ecPublic(v.Material); err == nil {
			jwk["crv"], jwk["x"], jwk["y"] = v.Curve, b64.EncodeToString(x), b64.EncodeToString(y)
		}
	}
	attrs := map[string]any{"enabled": v.Enabled, "created": v.Created, "updated": v.Updated,
		"recoveryLevel": "Recoverable+Purgeable", "recoverableDays": 90, "exportable": false}
	if v.NotBefore != nil {
		attrs["nbf"] = *v.NotBefore
	}
	if v.Expires != nil {
		attrs["exp"] = *v.Expires
	}
	out := map[string]any{"key": jwk, "attributes": attrs}
	if len(k.Tags) > 0 {
		out["tags"] = k.Tags
	}
	if c.vault.HSM {
		out["managed"] = false
	}
	return out
}

// family is the key family of a kty: RSA, EC or oct.
func family(kty string) string { return strings.TrimSuffix(kty, "-HSM") }

func newVersionID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func sortedKeys[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func decodeBody(body []byte, v any) *apiError {
	if err := json.Unmarshal(body, v); err != nil {
		return badParameter("The request body is not valid JSON: " + err.Error())
	}
	return nil
}
