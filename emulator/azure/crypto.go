package azure

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"hash"
)

// generateKey makes the material of a new key version: PKCS #8 for RSA and EC, raw bytes for oct.
func generateKey(family string, size int, curve string) ([]byte, error) {
	switch family {
	case "RSA":
		k, err := rsa.GenerateKey(rand.Reader, size)
		if err != nil {
			return nil, err
		}
		return x509.MarshalPKCS8PrivateKey(k)
	case "EC":
		c := map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384(), "P-521": elliptic.P521()}[curve]
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			return nil, err
		}
		return x509.MarshalPKCS8PrivateKey(k)
	default:
		b := make([]byte, size/8)
		_, err := rand.Read(b)
		return b, err
	}
}

// rsaKey is the RSA key of version v, parsed once and then kept. The caller holds the emulator's mu.
func (v *version) rsaKey() (*rsa.PrivateKey, error) {
	if v.parsed != nil {
		return v.parsed, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(v.Material)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an RSA key")
	}
	v.parsed = rk
	return rk, nil
}

// ecPublic returns the curve's name and the public point's coordinates of an EC key.
func ecPublic(material []byte) (x, y []byte, err error) {
	k, err := x509.ParsePKCS8PrivateKey(material)
	if err != nil {
		return nil, nil, err
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, errors.New("not an EC key")
	}
	pub, err := ek.PublicKey.ECDH()
	if err != nil {
		return nil, nil, err
	}
	return splitPoint(pub)
}

func splitPoint(pub *ecdh.PublicKey) (x, y []byte, err error) {
	b := pub.Bytes() // uncompressed: 0x04 || X || Y
	if len(b) < 3 || b[0] != 4 {
		return nil, nil, errors.New("unexpected point encoding")
	}
	n := (len(b) - 1) / 2
	return b[1 : 1+n], b[1+n:], nil
}

var errAlgorithm = errors.New("algorithm not supported for this key")

// oaepHash is the hash of an RSA-OAEP algorithm. RSA1_5 is not offered: Go deprecates
// PKCS #1 v1.5 encryption, and CMEK wraps use RSA-OAEP-256.
func oaepHash(alg string) (hash.Hash, bool) {
	switch alg {
	case "RSA-OAEP":
		return sha1.New(), true
	case "RSA-OAEP-256":
		return sha256.New(), true
	}
	return nil, false
}

// rsaSeal encrypts (wraps) with the public half of an RSA key, and remembers what it sealed.
func rsaSeal(v *version, alg string, plain []byte) ([]byte, error) {
	h, ok := oaepHash(alg)
	if !ok {
		return nil, errAlgorithm
	}
	k, err := v.rsaKey()
	if err != nil {
		return nil, err
	}
	sealed, err := rsa.EncryptOAEP(h, rand.Reader, &k.PublicKey, plain, nil)
	if err == nil {
		v.remember(alg, sealed, plain)
	}
	return sealed, err
}

// rsaOpen decrypts (unwraps) with an RSA private key. A ciphertext this version sealed itself
// lately, with the same algorithm, is answered from what it sealed (version.sealedByUs); any other
// is decrypted.
func rsaOpen(v *version, alg string, sealed []byte) ([]byte, error) {
	if _, ok := oaepHash(alg); !ok {
		return nil, errAlgorithm
	}
	if plain, ok := v.sealedByUs[sealKey{alg, sha256.Sum256(sealed)}]; ok {
		return bytes.Clone(plain), nil
	}
	k, err := v.rsaKey()
	if err != nil {
		return nil, err
	}
	return k.Decrypt(nil, sealed, &rsa.OAEPOptions{Hash: hashID(alg)})
}

// sealMemoSize bounds a version's sealedByUs: a wrap is unwrapped soon after (a probe, a data
// key's first use), or else decrypted as any ciphertext is.
const sealMemoSize = 4096

// sealKey names a ciphertext a version sealed: the algorithm and the ciphertext's SHA-256.
type sealKey struct {
	alg    string
	sealed [sha256.Size]byte
}

// remember keeps what the version sealed as sealed, for rsaOpen; like parsed, under e.mu.
func (v *version) remember(alg string, sealed, plain []byte) {
	if v.sealedByUs == nil || len(v.sealedByUs) >= sealMemoSize {
		v.sealedByUs = make(map[sealKey][]byte)
	}
	v.sealedByUs[sealKey{alg, sha256.Sum256(sealed)}] = bytes.Clone(plain)
}

func hashID(alg string) crypto.Hash {
	if alg == "RSA-OAEP" {
		return crypto.SHA1
	}
	return crypto.SHA256
}

var kwIV = []byte{0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6}

// aesWrap is RFC 3394 AES key wrap of plain (a multiple of 8 bytes, at least 16) under kek.
func aesWrap(kek, plain []byte) ([]byte, error) {
	if len(plain) < 16 || len(plain)%8 != 0 {
		return nil, errors.New("key wrap: input must be a multiple of 8 bytes, at least 16")
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	n := len(plain) / 8
	out := make([]byte, 8+len(plain))
	copy(out, kwIV)
	copy(out[8:], plain)
	buf := make([]byte, 16)
	for j := 0; j < 6; j++ {
		for i := 1; i <= n; i++ {
			copy(buf, out[:8])
			copy(buf[8:], out[8*i:8*i+8])
			block.Encrypt(buf, buf)
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(out[:8], binary.BigEndian.Uint64(buf[:8])^t)
			copy(out[8*i:], buf[8:])
		}
	}
	return out, nil
}

// aesUnwrap reverses aesWrap and checks RFC 3394's integrity value.
func aesUnwrap(kek, wrapped []byte) ([]byte, error) {
	if len(wrapped) < 24 || len(wrapped)%8 != 0 {
		return nil, errors.New("key unwrap: input must be a multiple of 8 bytes, at least 24")
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	n := len(wrapped)/8 - 1
	out := make([]byte, len(wrapped))
	copy(out, wrapped)
	buf := make([]byte, 16)
	for j := 5; j >= 0; j-- {
		for i := n; i >= 1; i-- {
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(buf[:8], binary.BigEndian.Uint64(out[:8])^t)
			copy(buf[8:], out[8*i:8*i+8])
			block.Decrypt(buf, buf)
			copy(out[:8], buf[:8])
			copy(out[8*i:], buf[8:])
		}
	}
	if subtle.ConstantTimeCompare(out[:8], kwIV) != 1 {
		return nil, errors.New("key unwrap: integrity check failed")
	}
	return out[8:], nil
}
