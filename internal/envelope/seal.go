// Package envelope keeps plaintext data keys (DEKs) in memory for a bounded time and seals items
// (collection documents, and whatever else a purpose of the keyring seals) under them with AES-256-GCM.
// It makes no KMS calls: callers hand the cache a loader that unwraps a DEK through KMS.
package envelope

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
)

// KeySize is the length of a data key: AES-256.
const KeySize = 32

const (
	nonceSize = 12 // the 96-bit GCM nonce, drawn at random for every document
	tagSize   = 16
)

// ErrDecrypt reports a ciphertext that does not open under the key and AAD given: it was tampered
// with, sealed under another data key, or moved to another item, owner, organisation or purpose.
var ErrDecrypt = errors.New("envelope: ciphertext does not authenticate")

// Labels that start a collection document's additional data: DocumentLabel for documents sealed
// before the wrapping key's ARN was bound into it, DocumentLabelV2 (with AAD.KeyARN) since.
const (
	DocumentLabel   = "cmekd/document/v1"
	DocumentLabelV2 = "cmekd/document/v2"
)

// Labels that start a secret value's additional data, as for documents.
const (
	SecretLabel   = "cmekd/secret/v1"
	SecretLabelV2 = "cmekd/secret/v2"
)

// AAD names what a ciphertext is bound to: a label naming the purpose and format (so that a ciphertext
// of one purpose can never be taken for one of another), the organisation, the owner of the data key
// (a collection, say), the item itself (a document) and, in the labels that bind it, the ARN of the
// KMS key that wraps the data key.
type AAD struct {
	Label, OrgID, OwnerID, ItemID string
	// KeyARN is empty in the first labels of each purpose, which did not bind it: an AAD without it
	// encodes as it always did, so that items sealed then still open.
	KeyARN string
}

// bytes encodes a as GCM additional data: the label, then each field prefixed with its length, so
// that no two different AADs encode alike (("ab","c") and ("a","bc") differ).
func (a AAD) bytes() []byte { return a.appendTo(make([]byte, 0, a.size())) }

// size is the length of a's encoding.
func (a AAD) size() int {
	n := len(a.Label) + 12 + len(a.OrgID) + len(a.OwnerID) + len(a.ItemID)
	if a.KeyARN != "" {
		n += 4 + len(a.KeyARN)
	}
	return n
}

// appendTo appends a's encoding to b.
func (a AAD) appendTo(b []byte) []byte {
	b = append(b, a.Label...)
	for _, f := range [4]string{a.OrgID, a.OwnerID, a.ItemID, a.KeyARN} {
		if f == a.KeyARN && f == "" {
			break
		}
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}

// Sealer seals and opens documents under one data key. Building it sets up AES-GCM once, so a batch
// of documents under one key pays for that once.
type Sealer struct{ aead cipher.AEAD }

// NewSealer returns a Sealer under a 32-byte key. The Sealer must not outlive the key's loan from
// the cache (Cache.Use).
func NewSealer(key []byte) (*Sealer, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext with AES-256-GCM under a 32-byte key with a fresh random 96-bit nonce and
// aad as additional data. Every AAD field must be set: a document sealed before its id is known could
// never be opened under that id.
func Seal(key []byte, aad AAD, plaintext []byte) (nonce, ciphertext []byte, err error) {
	s, err := NewSealer(key)
	if err != nil {
		return nil, nil, err
	}
	return s.Seal(aad, plaintext)
}

// Open reverses Seal. A ciphertext that was altered, sealed under another key, or presented with
// another AAD (moved to another item, owner, organisation or purpose) fails with ErrDecrypt.
func Open(key []byte, aad AAD, nonce, ciphertext []byte) ([]byte, error) {
	s, err := NewSealer(key)
	if err != nil {
		return nil, err
	}
	return s.Open(aad, nonce, ciphertext)
}

// Seal is the package's Seal under the Sealer's key.
func (s *Sealer) Seal(aad AAD, plaintext []byte) (nonce, ciphertext []byte, err error) {
	// The AEAD draws the nonce itself and puts it in front: one allocation holds both results.
	nonce, ciphertext, _, err = s.SealAppend(make([]byte, 0, SealedSize(len(plaintext))), aad, plaintext)
	return nonce, ciphertext, err
}

// SealedSize is how many bytes Seal makes of a plaintext of n bytes: nonce, ciphertext and tag.
func SealedSize(n int) int { return nonceSize + n + tagSize }

// SealAppend is Seal into dst: it appends the nonce and the ciphertext to dst and returns them as
// slices of the result, which is dst grown (moved) when it lacked SealedSize(len(plaintext)) bytes of
// room. A batch sealed into one buffer sized for all of it costs one allocation, or none from a pool.
func (s *Sealer) SealAppend(dst []byte, aad AAD, plaintext []byte) (nonce, ciphertext, out []byte, err error) {
	if aad.Label == "" || aad.OrgID == "" || aad.OwnerID == "" || aad.ItemID == "" {
		return nil, nil, dst, fmt.Errorf("envelope: sealing needs a label and org, owner and item ids, got %+v", aad)
	}
	// When dst has room for it, the additional data is encoded past the sealed bytes, where the seal
	// does not write: a batch sealed into one buffer with room to spare allocates nothing per item.
	start, n := len(dst), SealedSize(len(plaintext))
	var ad []byte
	if cap(dst)-start >= n+aad.size() {
		ad = aad.appendTo(dst[start+n : start+n])
	} else {
		ad = aad.bytes()
	}
	out = s.aead.Seal(dst, nil, plaintext, ad)
	return out[start : start+nonceSize : start+nonceSize], out[start+nonceSize : len(out) : len(out)], out, nil
}

// Open is the package's Open under the Sealer's key.
func (s *Sealer) Open(aad AAD, nonce, ciphertext []byte) ([]byte, error) {
	if len(nonce) != nonceSize || len(ciphertext) < tagSize {
		return nil, ErrDecrypt
	}
	// The AEAD reads nonce||ciphertext and writes the plaintext over the front of that same buffer.
	buf := make([]byte, 0, nonceSize+len(ciphertext))
	buf = append(append(buf, nonce...), ciphertext...)
	plaintext, err := s.aead.Open(buf[:0], nil, buf, aad.bytes())
	if err != nil {
		return nil, ErrDecrypt
	}
	return plaintext, nil
}

// OpenSealed is Open of a ciphertext stored with its nonce in front (nonce || ciphertext, as reads
// return it), decrypted in place: the plaintext it returns is the front of sealed, whose bytes it
// overwrites, so that a page of documents is opened without a copy of each.
func (s *Sealer) OpenSealed(aad AAD, sealed []byte) ([]byte, error) {
	if len(sealed) < nonceSize+tagSize {
		return nil, ErrDecrypt
	}
	plaintext, err := s.aead.Open(sealed[:0], nil, sealed, aad.bytes())
	if err != nil {
		return nil, ErrDecrypt
	}
	return plaintext, nil
}

// newAEAD returns AES-256-GCM under key. It uses the variant that draws its own nonces because that is
// the one GCM mode a FIPS 140-only build (GODEBUG=fips140=only) permits, and the one that cannot be
// handed a reused nonce.
func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("envelope: data key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	return aead, nil
}

// Wipe zeroes b.
func Wipe(b []byte) {
	clear(b)
}
