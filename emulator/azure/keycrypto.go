package azure

import (
	"fmt"
	"net/http"
	"slices"
)

// cryptoHandler is wrapKey, unwrapKey, encrypt or decrypt with one key version.
func cryptoHandler(op string) kvHandler {
	return func(_ *Emulator, c *kvCall) (int, any, *apiError) {
		var req struct{ Alg, Value string }
		if aerr := decodeBody(c.body, &req); aerr != nil {
			return 0, nil, aerr
		}
		in, err := b64.DecodeString(req.Value)
		if err != nil {
			return 0, nil, badParameter("Property 'value' is not valid base64url.")
		}
		k, v, aerr := c.findVersion()
		if aerr != nil {
			return 0, nil, aerr
		}
		if aerr := usable(v, op, c.now.Unix()); aerr != nil {
			return 0, nil, aerr
		}
		out, aerr := transform(v, op, req.Alg, in)
		if aerr != nil {
			return 0, nil, aerr
		}
		return http.StatusOK, map[string]string{"kid": c.kid(k, v), "value": b64.EncodeToString(out)}, nil
	}
}

// usable applies a version's attributes to an operation. The operations that use the private or
// secret half (unwrapKey, decrypt; all of them on a symmetric key) are refused on a disabled key;
// those that only use an RSA key's public half (wrapKey, encrypt) still work on it, as Key Vault
// does. Validity dates bind wrapKey and encrypt only, so data sealed before expiry stays readable.
func usable(v *version, op string, now int64) *apiError {
	public := (op == "wrapKey" || op == "encrypt") && family(v.Kty) == "RSA"
	if !v.Enabled && !public {
		return &apiError{status: http.StatusForbidden, code: "Forbidden", inner: "KeyDisabled",
			msg: "Operation " + op + " is not allowed on a disabled key."}
	}
	sealing := op == "wrapKey" || op == "encrypt"
	switch {
	case sealing && v.Expires != nil && now >= *v.Expires:
		return &apiError{status: http.StatusForbidden, code: "Forbidden", inner: "KeyExpired",
			msg: "Operation " + op + " is not allowed on an expired key."}
	case sealing && v.NotBefore != nil && now < *v.NotBefore:
		return &apiError{status: http.StatusForbidden, code: "Forbidden", inner: "KeyNotYetValid",
			msg: "Operation " + op + " is not allowed on a key that is not yet valid."}
	case !slices.Contains(v.Ops, op):
		return &apiError{status: http.StatusForbidden, code: "Forbidden", inner: "KeyOperationForbidden",
			msg: "Operation " + op + " is not permitted on this key: its key_ops do not include it."}
	}
	return nil
}

// transform does the cryptography of op with alg on in.
func transform(v *version, op, alg string, in []byte) ([]byte, *apiError) {
	var out []byte
	var err error
	switch f := family(v.Kty); {
	case f == "RSA" && (op == "wrapKey" || op == "encrypt"):
		out, err = rsaSeal(v, alg, in)
	case f == "RSA":
		out, err = rsaOpen(v, alg, in)
	case f == "oct" && alg == fmt.Sprintf("A%dKW", v.Size) && op == "wrapKey":
		out, err = aesWrap(v.Material, in)
	case f == "oct" && alg == fmt.Sprintf("A%dKW", v.Size) && op == "unwrapKey":
		out, err = aesUnwrap(v.Material, in)
	default:
		return nil, badParameter("Algorithm " + alg + " is not supported for " + op + " with key type " + v.Kty + ".")
	}
	if err == errAlgorithm {
		return nil, badParameter("Algorithm " + alg + " is not supported for " + op + " with key type " + v.Kty + ".")
	}
	if err != nil {
		return nil, badParameter("The " + op + " operation failed: " + err.Error() + ".")
	}
	return out, nil
}
