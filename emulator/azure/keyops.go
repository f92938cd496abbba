package azure

import (
	"net/http"
	"slices"
	"strings"
)

// keyRequest is the body of create, rotate (none) and update.
type keyRequest struct {
	Kty        string            `json:"kty"`
	KeySize    int               `json:"key_size"`
	Crv        string            `json:"crv"`
	KeyOps     []string          `json:"key_ops"`
	Attributes *keyAttributes    `json:"attributes"`
	Tags       map[string]string `json:"tags"`
}

type keyAttributes struct {
	Enabled *bool  `json:"enabled"`
	NBF     *int64 `json:"nbf"`
	Exp     *int64 `json:"exp"`
}

var allOps = map[string][]string{
	"RSA": {"encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"},
	"EC":  {"sign", "verify"},
	"oct": {"encrypt", "decrypt", "wrapKey", "unwrapKey"},
}

// checkKeyType applies Key Vault's rules of key types and sizes: Managed HSM holds only HSM
// keys (oct-HSM among them), a vault no symmetric keys.
func checkKeyType(req *keyRequest, hsm bool) *apiError {
	if !slices.Contains([]string{"RSA", "RSA-HSM", "EC", "EC-HSM", "oct", "oct-HSM"}, req.Kty) {
		return badParameter("The value of parameter 'kty' is not valid: '" + req.Kty + "'.")
	}
	if hsm && !strings.HasSuffix(req.Kty, "-HSM") || !hsm && family(req.Kty) == "oct" {
		return badParameter("Key type '" + req.Kty + "' is not supported by this " + map[bool]string{true: "Managed HSM", false: "vault"}[hsm] + ".")
	}
	switch family(req.Kty) {
	case "RSA":
		req.KeySize = defaulted(req.KeySize, 2048)
		if !slices.Contains([]int{2048, 3072, 4096}, req.KeySize) {
			return badParameter("RSA key size must be 2048, 3072 or 4096 bits.")
		}
	case "oct":
		req.KeySize = defaulted(req.KeySize, 256)
		if !slices.Contains([]int{128, 192, 256}, req.KeySize) {
			return badParameter("oct key size must be 128, 192 or 256 bits.")
		}
	case "EC":
		req.Crv = map[bool]string{true: "P-256", false: req.Crv}[req.Crv == ""]
		if !slices.Contains([]string{"P-256", "P-384", "P-521"}, req.Crv) {
			return badParameter("The value of parameter 'crv' is not valid: '" + req.Crv + "'.")
		}
	}
	for _, op := range req.KeyOps {
		if !slices.Contains(allOps[family(req.Kty)], op) {
			return badParameter("Key operation '" + op + "' is not valid for key type " + req.Kty + ".")
		}
	}
	return nil
}

func defaulted(n, d int) int {
	if n == 0 {
		return d
	}
	return n
}

func (e *Emulator) createKey(c *kvCall) (int, any, *apiError) {
	var req keyRequest
	if aerr := decodeBody(c.body, &req); aerr != nil {
		return 0, nil, aerr
	}
	if _, deleted := c.vault.Deleted[strings.ToLower(c.name)]; deleted {
		return 0, nil, &apiError{status: http.StatusConflict, code: "Conflict", inner: "ObjectIsDeletedButRecoverable",
			msg: "Key " + c.name + " is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the key can only be recovered or purged."}
	}
	if aerr := checkKeyType(&req, c.vault.HSM); aerr != nil {
		return 0, nil, aerr
	}
	v, aerr := newVersion(&req, c)
	if aerr != nil {
		return 0, nil, aerr
	}
	k, ok := c.vault.Keys[strings.ToLower(c.name)]
	if !ok {
		k = &key{Name: c.name}
		c.vault.Keys[strings.ToLower(c.name)] = k
	}
	k.Versions = append(k.Versions, v)
	if req.Tags != nil {
		k.Tags = req.Tags
	}
	e.markChanged()
	return http.StatusOK, c.bundle(k, v), nil
}

func newVersion(req *keyRequest, c *kvCall) (*version, *apiError) {
	material, err := generateKey(family(req.Kty), req.KeySize, req.Crv)
	if err != nil {
		return nil, &apiError{status: http.StatusInternalServerError, code: "InternalError", msg: "Key generation failed."}
	}
	ops := req.KeyOps
	if len(ops) == 0 {
		ops = allOps[family(req.Kty)]
	}
	now := c.now.Unix()
	v := &version{ID: newVersionID(), Kty: req.Kty, Size: req.KeySize, Ops: ops, Enabled: true,
		Created: now, Updated: now, Material: material}
	if family(req.Kty) == "EC" {
		v.Curve, v.Size = req.Crv, 0
	}
	applyAttributes(v, req.Attributes)
	return v, nil
}

func applyAttributes(v *version, a *keyAttributes) {
	if a == nil {
		return
	}
	if a.Enabled != nil {
		v.Enabled = *a.Enabled
	}
	if a.NBF != nil {
		v.NotBefore = a.NBF
	}
	if a.Exp != nil {
		v.Expires = a.Exp
	}
}

// rotateKey makes a new current version of the key's type, size and operations.
func (e *Emulator) rotateKey(c *kvCall) (int, any, *apiError) {
	k, cur, aerr := c.findVersion()
	if aerr != nil {
		return 0, nil, aerr
	}
	req := keyRequest{Kty: cur.Kty, KeySize: cur.Size, Crv: cur.Curve, KeyOps: cur.Ops}
	v, aerr := newVersion(&req, c)
	if aerr != nil {
		return 0, nil, aerr
	}
	k.Versions = append(k.Versions, v)
	e.markChanged()
	return http.StatusOK, c.bundle(k, v), nil
}

func (e *Emulator) getKey(c *kvCall) (int, any, *apiError) {
	k, v, aerr := c.findVersion()
	if aerr != nil {
		return 0, nil, aerr
	}
	return http.StatusOK, c.bundle(k, v), nil
}

func (e *Emulator) updateKey(c *kvCall) (int, any, *apiError) {
	var req keyRequest
	if aerr := decodeBody(c.body, &req); aerr != nil {
		return 0, nil, aerr
	}
	k, v, aerr := c.findVersion()
	if aerr != nil {
		return 0, nil, aerr
	}
	for _, op := range req.KeyOps {
		if !slices.Contains(allOps[family(v.Kty)], op) {
			return 0, nil, badParameter("Key operation '" + op + "' is not valid for key type " + v.Kty + ".")
		}
	}
	if req.KeyOps != nil {
		v.Ops = req.KeyOps
	}
	applyAttributes(v, req.Attributes)
	if req.Tags != nil {
		k.Tags = req.Tags
	}
	v.Updated = c.now.Unix()
	e.markChanged()
	return http.StatusOK, c.bundle(k, v), nil
}

// item is a key's entry in a list: its id and attributes, no key material.
func (c *kvCall) item(k *key, v *version, versioned bool) map[string]any {
	b := c.bundle(k, v)
	kid := "https://" + c.host + "/keys/" + k.Name
	if versioned {
		kid = c.kid(k, v)
	}
	out := map[string]any{"kid": kid, "attributes": b["attributes"]}
	if t, ok := b["tags"]; ok {
		out["tags"] = t
	}
	return out
}

func (e *Emulator) listKeys(c *kvCall) (int, any, *apiError) {
	out := []any{}
	for _, n := range sortedKeys(c.vault.Keys) {
		k := c.vault.Keys[n]
		out = append(out, c.item(k, k.Versions[len(k.Versions)-1], false))
	}
	return http.StatusOK, map[string]any{"value": out, "nextLink": nil}, nil
}

func (e *Emulator) listVersions(c *kvCall) (int, any, *apiError) {
	k, ok := c.vault.Keys[strings.ToLower(c.name)]
	if !ok {
		return 0, nil, keyNotFound(c.name)
	}
	out := []any{}
	for _, v := range k.Versions {
		out = append(out, c.item(k, v, true))
	}
	return http.StatusOK, map[string]any{"value": out, "nextLink": nil}, nil
}

func (c *kvCall) deletedBundle(d *deletedKey) map[string]any {
	k := d.Key
	b := c.bundle(k, k.Versions[len(k.Versions)-1])
	b["recoveryId"] = "https://" + c.host + "/deletedkeys/" + k.Name
	b["deletedDate"], b["scheduledPurgeDate"] = d.DeletedDate, d.ScheduledPurgeDate
	return b
}

// deleteKey soft-deletes: the key and all its versions move to the deleted keys.
func (e *Emulator) deleteKey(c *kvCall) (int, any, *apiError) {
	id := strings.ToLower(c.name)
	k, ok := c.vault.Keys[id]
	if !ok {
		return 0, nil, keyNotFound(c.name)
	}
	d := &deletedKey{Key: k, DeletedDate: c.now.Unix(), ScheduledPurgeDate: c.now.Add(retention).Unix()}
	delete(c.vault.Keys, id)
	c.vault.Deleted[id] = d
	e.markChanged()
	return http.StatusOK, c.deletedBundle(d), nil
}

func (e *Emulator) listDeleted(c *kvCall) (int, any, *apiError) {
	out := []any{}
	for _, n := range sortedKeys(c.vault.Deleted) {
		d := c.vault.Deleted[n]
		b := c.deletedBundle(d)
		item := c.item(d.Key, d.Key.Versions[len(d.Key.Versions)-1], false)
		for _, f := range []string{"recoveryId", "deletedDate", "scheduledPurgeDate"} {
			item[f] = b[f]
		}
		out = append(out, item)
	}
	return http.StatusOK, map[string]any{"value": out, "nextLink": nil}, nil
}

func (e *Emulator) getDeleted(c *kvCall) (int, any, *apiError) {
	d, ok := c.vault.Deleted[strings.ToLower(c.name)]
	if !ok {
		return 0, nil, deletedKeyNotFound(c.name)
	}
	return http.StatusOK, c.deletedBundle(d), nil
}

func (e *Emulator) recoverKey(c *kvCall) (int, any, *apiError) {
	id := strings.ToLower(c.name)
	d, ok := c.vault.Deleted[id]
	if !ok {
		return 0, nil, deletedKeyNotFound(c.name)
	}
	delete(c.vault.Deleted, id)
	c.vault.Keys[id] = d.Key
	e.markChanged()
	return http.StatusOK, c.bundle(d.Key, d.Key.Versions[len(d.Key.Versions)-1]), nil
}

func (e *Emulator) purgeKey(c *kvCall) (int, any, *apiError) {
	id := strings.ToLower(c.name)
	if _, ok := c.vault.Deleted[id]; !ok {
		return 0, nil, deletedKeyNotFound(c.name)
	}
	delete(c.vault.Deleted, id)
	e.markChanged()
	return http.StatusNoContent, nil, nil
}
