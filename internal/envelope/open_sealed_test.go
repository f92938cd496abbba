package envelope_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/cmekd/cmekd/internal/envelope"
)

// OpenSealed opens nonce || ciphertext in place, as Open opens them apart, and refuses what Open
// refuses.
func TestSealer_OpenSealedOpensInPlaceWhatOpenOpens(t *testing.T) {
	key := make([]byte, envelope.KeySize)
	_, _ = rand.Read(key)
	s, err := envelope.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	aad := envelope.AAD{Label: envelope.DocumentLabelV2, OrgID: "org_a", OwnerID: "col_a", ItemID: "doc_a", KeyARN: "arn:aws:kms:us-west-2:111122223333:key/a"}
	nonce, ct, err := s.Seal(aad, []byte(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	sealed := append(append([]byte{}, nonce...), ct...)
	plain, err := s.OpenSealed(aad, bytes.Clone(sealed))
	if err != nil || string(plain) != `{"a":1}` {
		t.Fatalf("OpenSealed = %q, %v", plain, err)
	}
	moved := aad
	moved.ItemID = "doc_b"
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	for name, c := range map[string]struct {
		aad    envelope.AAD
		sealed []byte
	}{
		"another item": {moved, bytes.Clone(sealed)},
		"tampered":     {aad, tampered},
		"too short":    {aad, sealed[:20]},
	} {
		if _, err := s.OpenSealed(c.aad, c.sealed); !errors.Is(err, envelope.ErrDecrypt) {
			t.Errorf("%s: OpenSealed = %v, want ErrDecrypt", name, err)
		}
	}
}
