package gcp

import (
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/kms/apiv1/kmspb"
)

// FuzzParseName: a name that parses prints back as itself, and nothing panics.
func FuzzParseName(f *testing.F) {
	f.Add("projects/p/locations/global/keyRings/r/cryptoKeys/k")
	f.Fuzz(func(t *testing.T, s string) {
		for k := kindProject; k <= kindVersion; k++ {
			n, err := parseName(s, k)
			if err == nil && n.String() != s {
				t.Fatalf("parseName(%q) prints as %q", s, n)
			}
			if err == nil && n.at(kindProject).String() != s[:strings.Index(s+"/locations", "/locations")] {
				t.Fatalf("project of %q is %q", s, n.at(kindProject))
			}
		}
	})
}

// FuzzDecrypt: a ciphertext a caller sends never panics and only the genuine one opens.
func FuzzDecrypt(f *testing.F) {
	n, _ := parseName("projects/p/locations/global/keyRings/r/cryptoKeys/k", kindCryptoKey)
	k, _ := newCryptoKey(&kmspb.CryptoKey{Purpose: kmspb.CryptoKey_ENCRYPT_DECRYPT}, nowForFuzz)
	k.Primary = k.addVersion(nowForFuzz)
	vn := n
	vn.kind, vn.version = kindVersion, 1
	genuine := seal(vn, k.Versions[0].Material, []byte("plain"), []byte("aad"))
	f.Add(genuine, []byte("aad"))
	f.Fuzz(func(t *testing.T, ct, aad []byte) {
		pt, _, err := open(n, k, ct, aad)
		if err == nil && string(pt) != "plain" {
			t.Fatalf("opened %q", pt)
		}
	})
}

// FuzzBearer: any bearer token is refused without panicking, unless it is a token this
// emulator issued.
func FuzzBearer(f *testing.F) {
	e, err := New(Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("eyJhbGciOiJSUzI1NiIsImtpZCI6IngifQ.eyJpc3MiOiJhQGIifQ.c2ln")
	f.Add(accessTokenPrefix + "eyJlbWFpbCI6ImFAYiIsImV4cCI6OTk5OTk5OTk5OX0.AAAA")
	f.Fuzz(func(t *testing.T, tok string) {
		if _, err := e.verifyJWT(tok); err == nil {
			t.Fatalf("verifyJWT accepted %q with no identities", tok)
		}
		if _, err := e.checkAccessToken(tok); err == nil {
			t.Fatalf("checkAccessToken accepted %q", tok)
		}
	})
}

var nowForFuzz = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
