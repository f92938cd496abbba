package gcp

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"testing"
	"time"
)

// TestVerifyJWT_RemembersOnlyTheSignature: a token verified once is not verified again by RSA, but
// its times are checked on every call, and a token that differs in its signature alone is refused.
func TestVerifyJWT_RemembersOnlyTheSignature(t *testing.T) {
	now := time.Now()
	e, err := New(Options{CredentialsDir: t.TempDir(), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	const email = "app@p.iam.gserviceaccount.com"
	if _, err := e.AddIdentity(email, "p"); err != nil {
		t.Fatal(err)
	}
	id := e.st.Identities[email]
	key, err := id.privateKey()
	if err != nil {
		t.Fatal(err)
	}
	seg := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	signing := seg(`{"alg":"RS256","typ":"JWT","kid":"`+id.KeyID+`"}`) + "." +
		seg(fmt.Sprintf(`{"iss":%q,"sub":%q,"aud":%q,"iat":%d,"exp":%d}`, email, email, kmsAudience, now.Unix(), now.Add(time.Hour).Unix()))
	digest := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	tok := signing + "." + base64.RawURLEncoding.EncodeToString(sig)

	for i := range 2 {
		if c, err := e.verifyJWT(tok); err != nil || c.Iss != email {
			t.Fatalf("call %d: %+v, %v", i, c, err)
		}
	}
	if n := len(e.signatures.keys); n != 1 {
		t.Fatalf("%d signatures remembered, want 1", n)
	}

	forged := append([]byte(nil), sig...)
	forged[len(forged)-1] ^= 1
	if _, err := e.verifyJWT(signing + "." + base64.RawURLEncoding.EncodeToString(forged)); err == nil {
		t.Fatal("a token whose signature differs was accepted after the genuine one")
	}

	now = now.Add(time.Hour + skew + time.Second)
	if _, err := e.verifyJWT(tok); err == nil {
		t.Fatal("an expired token was accepted because its signature was remembered")
	}
}
