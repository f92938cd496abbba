package gcp

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// kmsAudience is the audience of self-signed JWTs for Cloud KMS.
const kmsAudience = "https://cloudkms.googleapis.com/"

// kmsScopes are the OAuth scopes that reach Cloud KMS.
var kmsScopes = []string{"https://www.googleapis.com/auth/cloud-platform", "https://www.googleapis.com/auth/cloudkms"}

// skew is the clock difference allowed between a token's times and the emulator's.
const skew = 5 * time.Minute

// accessTokenPrefix marks the access tokens the token endpoint issues.
const accessTokenPrefix = "ya29.emulator."

var (
	errMissingCredential = status.Error(codes.Unauthenticated, "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.")
	errInvalidCredential = status.Error(codes.Unauthenticated, "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.")
)

type jwtHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

type jwtClaims struct {
	Iss   string `json:"iss"`
	Sub   string `json:"sub"`
	Aud   string `json:"aud"`
	Scope string `json:"scope"`
	Iat   int64  `json:"iat"`
	Exp   int64  `json:"exp"`
}

// caller is the authenticated email of a gRPC request's bearer token: a self-signed JWT or an
// access token from the token endpoint.
func (e *Emulator) caller(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	auth := md.Get("authorization")
	if len(auth) != 1 {
		return "", errMissingCredential
	}
	tok, ok := strings.CutPrefix(auth[0], "Bearer ")
	if !ok {
		return "", errInvalidCredential
	}
	if strings.HasPrefix(tok, accessTokenPrefix) {
		return e.checkAccessToken(tok)
	}
	c, err := e.verifyJWT(tok)
	if err != nil || !(c.Aud == kmsAudience || c.Aud == "" && hasScope(c.Scope)) {
		return "", errInvalidCredential
	}
	return c.Iss, nil
}

func hasScope(scope string) bool {
	return slices.ContainsFunc(strings.Fields(scope), func(s string) bool { return slices.Contains(kmsScopes, s) })
}

// verifyJWT checks a JWT signed with RS256 by an identity's key (named by kid), issued by that
// identity and valid now; the caller checks its audience.
func (e *Emulator) verifyJWT(tok string) (jwtClaims, error) {
	var h jwtHeader
	var c jwtClaims
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || decodeSegment(parts[0], &h) != nil || decodeSegment(parts[1], &c) != nil {
		return c, errors.New("malformed JWT")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || h.Alg != "RS256" {
		return c, errors.New("malformed JWT")
	}
	key, err := e.signerKey(c.Iss, h.Kid)
	if err != nil || (c.Sub != "" && c.Sub != c.Iss) {
		return c, errors.New("unknown signer")
	}
	whole := sha256.Sum256([]byte(tok))
	if !e.signatures.seen(whole, &key.PublicKey) {
		digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, digest[:], sig); err != nil {
			return c, err
		}
		e.signatures.add(whole, &key.PublicKey)
	}
	now := e.opts.Now()
	iat, exp := time.Unix(c.Iat, 0), time.Unix(c.Exp, 0)
	if iat.After(now.Add(skew)) || !exp.After(now.Add(-skew)) || exp.Sub(iat) > time.Hour+skew {
		return c, errors.New("JWT expired or not yet valid")
	}
	return c, nil
}

// signerKey is the key of identity email when kid names it.
func (e *Emulator) signerKey(email, kid string) (*rsa.PrivateKey, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	id := e.st.Identities[email]
	if id == nil || id.KeyID != kid {
		return nil, errors.New("unknown signer")
	}
	return id.privateKey()
}

func decodeSegment(seg string, v any) error {
	data, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// accessToken is the body of an access token: who, until when. The token is this JSON and its
// HMAC under the state's secret, so that tokens outlive a restart that keeps state.
type accessToken struct {
	Email string `json:"email"`
	Exp   int64  `json:"exp"`
}

func (e *Emulator) issueAccessToken(email string, exp time.Time) string {
	body, _ := json.Marshal(accessToken{Email: email, Exp: exp.Unix()})
	enc := base64.RawURLEncoding.EncodeToString(body)
	return accessTokenPrefix + enc + "." + base64.RawURLEncoding.EncodeToString(e.tokenMAC(enc))
}

func (e *Emulator) tokenMAC(body string) []byte {
	e.mu.Lock()
	m := hmac.New(sha256.New, e.st.TokenSecret)
	e.mu.Unlock()
	m.Write([]byte(body))
	return m.Sum(nil)
}

func (e *Emulator) checkAccessToken(tok string) (string, error) {
	body, mac, ok := strings.Cut(strings.TrimPrefix(tok, accessTokenPrefix), ".")
	got, err := base64.RawURLEncoding.DecodeString(mac)
	var t accessToken
	if !ok || err != nil || !hmac.Equal(got, e.tokenMAC(body)) || decodeSegment(body, &t) != nil {
		return "", errInvalidCredential
	}
	e.mu.Lock()
	known := e.st.Identities[t.Email] != nil
	e.mu.Unlock()
	if !known || !time.Unix(t.Exp, 0).After(e.opts.Now()) {
		return "", errInvalidCredential
	}
	return t.Email, nil
}

// serveToken is the token_uri of the key files: OAuth 2.0's JWT bearer grant (RFC 7523), as
// Google's token endpoint answers it.
func (e *Emulator) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.PostFormValue("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		tokenError(w, "unsupported_grant_type", "Invalid grant_type: "+r.PostFormValue("grant_type"))
		return
	}
	c, err := e.verifyJWT(r.PostFormValue("assertion"))
	if err != nil || c.Aud != e.tokenURL() {
		tokenError(w, "invalid_grant", "Invalid JWT Signature.")
		return
	}
	exp := e.opts.Now().Add(time.Hour)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": e.issueAccessToken(c.Iss, exp),
		"expires_in":   3599,
		"token_type":   "Bearer",
	})
	e.opts.Logger.Info("gcp token", "caller", c.Iss, "outcome", "OK")
}

func tokenError(w http.ResponseWriter, code, desc string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// verifiedSignatures remembers the JWTs whose signature this emulator has verified, by the SHA-256
// of the whole token and the key it verified under, so that a client that sends the same token on
// every call (Google's libraries reuse a self-signed JWT for up to an hour) costs one RSA
// verification, not one per call; Cloud KMS's own front end is not paid for by its callers either.
// Only the signature's check is remembered: the signer must still be the identity's current key,
// and the token's times and audience are checked on every call. A token that differs in any byte,
// its signature included, is verified afresh.
type verifiedSignatures struct {
	mu   sync.Mutex
	keys map[[sha256.Size]byte]*rsa.PublicKey // the key each token verified under
}

// maxVerifiedSignatures bounds the memory; when it is full it starts again empty.
const maxVerifiedSignatures = 4096

func (v *verifiedSignatures) seen(sum [sha256.Size]byte, key *rsa.PublicKey) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.keys[sum] == key
}

func (v *verifiedSignatures) add(sum [sha256.Size]byte, key *rsa.PublicKey) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.keys == nil || len(v.keys) >= maxVerifiedSignatures {
		v.keys = make(map[[sha256.Size]byte]*rsa.PublicKey)
	}
	v.keys[sum] = key
}
