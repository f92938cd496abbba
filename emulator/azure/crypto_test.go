package azure

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"testing"
)

// An unwrap of what the emulator sealed is answered from what it sealed, and gives what decryption
// gives; only the version and algorithm that sealed are answered so: another version or algorithm,
// or a changed ciphertext, is decrypted and fails as before.
func TestRSAOpen_AnswersWhatItSealedOnlyToTheSameVersionAndAlgorithm(t *testing.T) {
	t.Parallel()
	newRSA := func() *version {
		m, err := generateKey("RSA", 2048, "")
		if err != nil {
			t.Fatal(err)
		}
		return &version{Kty: "RSA", Material: m}
	}
	v, other := newRSA(), newRSA()
	plain := bytes.Repeat([]byte{7}, 32)
	sealed, err := rsaSeal(v, "RSA-OAEP-256", plain)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the caller may clear what it is given: the next answer is whole
		got, err := rsaOpen(v, "RSA-OAEP-256", sealed)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("open what was sealed: %x, %v", got, err)
		}
		clear(got)
	}
	k, err := v.rsaKey()
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, &k.PublicKey, plain, nil) // sealed elsewhere
	if err != nil {
		t.Fatal(err)
	}
	if got, err := rsaOpen(v, "RSA-OAEP-256", theirs); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open what another sealed with the public key: %x, %v", got, err)
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	for name, open := range map[string]func() ([]byte, error){
		"another algorithm":    func() ([]byte, error) { return rsaOpen(v, "RSA-OAEP", sealed) },
		"another version":      func() ([]byte, error) { return rsaOpen(other, "RSA-OAEP-256", sealed) },
		"a changed ciphertext": func() ([]byte, error) { return rsaOpen(v, "RSA-OAEP-256", tampered) },
	} {
		if got, err := open(); err == nil {
			t.Errorf("%s: opened as %x", name, got)
		}
	}
}
