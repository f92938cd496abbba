package awsemu

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"slices"
)

// A ciphertext blob names its key, so that Decrypt needs no KeyId:
//
//	version (1) | len(region) (1) | region | len(keyID) (1) | keyID | nonce (12) | AES-GCM sealed data
//
// Everything before the nonce is authenticated together with the encryption
// context, so a blob whose header was altered does not open.
const (
	blobVersion   = 1
	nonceSize     = 12
	tagSize       = 16
	maxCiphertext = 6144
)

// blobHeader is the key a ciphertext blob was made under.
type blobHeader struct {
	region, keyID string
}

var errBadBlob = errors.New("not a ciphertext blob of this emulator")

// parseBlob splits a ciphertext blob into its header, the header's bytes (for
// the additional data), the nonce and the sealed data.
func parseBlob(b []byte) (h blobHeader, header, nonce, sealed []byte, err error) {
	if len(b) < 3 || b[0] != blobVersion {
		return h, nil, nil, nil, errBadBlob
	}
	n := int(b[1])
	if len(b) < 2+n+1 {
		return h, nil, nil, nil, errBadBlob
	}
	h.region = string(b[2 : 2+n])
	off := 2 + n
	m := int(b[off])
	off++
	if len(b) < off+m+nonceSize+tagSize {
		return h, nil, nil, nil, errBadBlob
	}
	h.keyID = string(b[off : off+m])
	off += m
	if !regionPattern.MatchString(h.region) || !keyIDPattern.MatchString(h.keyID) {
		return h, nil, nil, nil, errBadBlob
	}
	return h, b[:off], b[off : off+nonceSize], b[off+nonceSize:], nil
}

// encodeHeader writes the authenticated prefix of a blob.
func encodeHeader(h blobHeader) []byte {
	out := make([]byte, 0, 3+len(h.region)+len(h.keyID))
	out = append(out, blobVersion, byte(len(h.region)))
	out = append(out, h.region...)
	out = append(out, byte(len(h.keyID)))
	return append(out, h.keyID...)
}

// sealBlob encrypts plaintext under aead, binding the header and context.
func sealBlob(aead cipher.AEAD, h blobHeader, plaintext []byte, encCtx map[string]string) []byte {
	header := encodeHeader(h)
	nonce := make([]byte, nonceSize)
	_, _ = rand.Read(nonce)
	out := make([]byte, 0, len(header)+nonceSize+len(plaintext)+tagSize)
	out = append(append(out, header...), nonce...)
	return aead.Seal(out, nonce, plaintext, additionalData(header, encCtx))
}

// openBlob is the inverse of sealBlob for an already parsed blob.
func openBlob(aead cipher.AEAD, header, nonce, sealed []byte, encCtx map[string]string) ([]byte, error) {
	return aead.Open(nil, nonce, sealed, additionalData(header, encCtx))
}

// additionalData is the blob header followed by the encryption context in a
// canonical form: pairs sorted by key, each string length-prefixed so that no
// two different contexts encode alike.
func additionalData(header []byte, encCtx map[string]string) []byte {
	keys := make([]string, 0, len(encCtx))
	for k := range encCtx {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := slices.Clone(header)
	for _, k := range keys {
		out = binary.AppendUvarint(out, uint64(len(k)))
		out = append(out, k...)
		out = binary.AppendUvarint(out, uint64(len(encCtx[k])))
		out = append(out, encCtx[k]...)
	}
	return out
}
