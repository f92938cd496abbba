package gcp

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"hash/crc32"
	"strings"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Cloud KMS's limits on Encrypt and Decrypt.
const (
	maxPlaintext  = 64 * 1024
	maxAAD        = 64 * 1024
	maxCiphertext = 64*1024 + 1024
)

// ciphertextMagic starts every ciphertext; the version that encrypted it follows, then the nonce
// and AES-256-GCM's output.
var ciphertextMagic = []byte("CKMSv1")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc(b []byte) int64 { return int64(crc32.Checksum(b, castagnoli)) }

// checkCRC verifies an optional CRC32C the client sent of field's data, reporting whether it did.
func checkCRC(sum *wrapperspb.Int64Value, data []byte, sumField, field string) (bool, error) {
	if sum == nil {
		return false, nil
	}
	if sum.GetValue() != crc(data) {
		return false, status.Errorf(codes.InvalidArgument, "The checksum in field %s did not match the data in field %s.", sumField, field)
	}
	return true, nil
}

func (s *kmsServer) Encrypt(ctx context.Context, req *kmspb.EncryptRequest) (*kmspb.EncryptResponse, error) {
	return call(ctx, s.e, req.GetName(), permEncrypt, []kind{kindCryptoKey, kindVersion}, func(n name) (*kmspb.EncryptResponse, error) {
		if len(req.GetPlaintext()) > maxPlaintext || len(req.GetAdditionalAuthenticatedData()) > maxAAD {
			return nil, status.Error(codes.InvalidArgument, "The plaintext and additional_authenticated_data must each be at most 65536 bytes.")
		}
		okPlain, err := checkCRC(req.GetPlaintextCrc32C(), req.GetPlaintext(), "plaintext_crc32c", "plaintext")
		if err != nil {
			return nil, err
		}
		okAAD, err := checkCRC(req.GetAdditionalAuthenticatedDataCrc32C(), req.GetAdditionalAuthenticatedData(), "additional_authenticated_data_crc32c", "additional_authenticated_data")
		if err != nil {
			return nil, err
		}
		k, v, err := s.e.encryptionVersion(&n)
		if err != nil {
			return nil, err
		}
		ct := seal(n, v.Material, req.GetPlaintext(), req.GetAdditionalAuthenticatedData())
		return &kmspb.EncryptResponse{
			Name: n.String(), Ciphertext: ct, CiphertextCrc32C: wrapperspb.Int64(crc(ct)),
			VerifiedPlaintextCrc32C: okPlain, VerifiedAdditionalAuthenticatedDataCrc32C: okAAD,
			ProtectionLevel: k.Protection,
		}, nil
	})
}

// encryptionVersion is the key and version Encrypt uses for n (the CryptoKey's primary, or the
// version n names), setting n to that version's name.
func (e *Emulator) encryptionVersion(n *name) (*cryptoKey, *keyVersion, error) {
	k, err := e.key(*n)
	if err != nil {
		return nil, nil, err
	}
	if k.Purpose != kmspb.CryptoKey_ENCRYPT_DECRYPT {
		return nil, nil, wrongPurpose(*n, k)
	}
	if n.kind == kindCryptoKey {
		if k.Primary == 0 {
			return nil, nil, status.Errorf(codes.FailedPrecondition, "CryptoKey %s has no primary version.", n)
		}
		n.kind, n.version = kindVersion, k.Primary
	}
	v, err := k.version(*n)
	if err != nil {
		return nil, nil, err
	}
	return k, v, usable(*n, v)
}

func wrongPurpose(n name, k *cryptoKey) error {
	return status.Errorf(codes.InvalidArgument, "%s has purpose %s; Encrypt and Decrypt need purpose ENCRYPT_DECRYPT.", n.at(kindCryptoKey), k.Purpose)
}

func (s *kmsServer) Decrypt(ctx context.Context, req *kmspb.DecryptRequest) (*kmspb.DecryptResponse, error) {
	return call(ctx, s.e, req.GetName(), permDecrypt, keyKinds, func(n name) (*kmspb.DecryptResponse, error) {
		if len(req.GetCiphertext()) > maxCiphertext || len(req.GetAdditionalAuthenticatedData()) > maxAAD {
			return nil, status.Error(codes.InvalidArgument, "The ciphertext or additional_authenticated_data is too long.")
		}
		if _, err := checkCRC(req.GetCiphertextCrc32C(), req.GetCiphertext(), "ciphertext_crc32c", "ciphertext"); err != nil {
			return nil, err
		}
		if _, err := checkCRC(req.GetAdditionalAuthenticatedDataCrc32C(), req.GetAdditionalAuthenticatedData(), "additional_authenticated_data_crc32c", "additional_authenticated_data"); err != nil {
			return nil, err
		}
		k, err := s.e.key(n)
		if err != nil {
			return nil, err
		}
		if k.Purpose != kmspb.CryptoKey_ENCRYPT_DECRYPT {
			return nil, wrongPurpose(n, k)
		}
		pt, vn, err := open(n, k, req.GetCiphertext(), req.GetAdditionalAuthenticatedData())
		if err != nil {
			return nil, err
		}
		return &kmspb.DecryptResponse{
			Plaintext: pt, PlaintextCrc32C: wrapperspb.Int64(crc(pt)),
			UsedPrimary: vn.version == k.Primary, ProtectionLevel: k.Protection,
		}, nil
	})
}

// seal encrypts under version n's material, binding the CryptoKey's name and aad.
func seal(n name, material, plaintext, aad []byte) []byte {
	out := binary.AppendUvarint(append([]byte(nil), ciphertextMagic...), uint64(n.version))
	nonce := make([]byte, 12)
	_, _ = rand.Read(nonce)
	out = append(out, nonce...)
	return gcm(material).Seal(out, nonce, plaintext, boundData(n, aad))
}

// errBadCiphertext is Cloud KMS's answer for a ciphertext this key did not make (or whose
// additional data differs).
var errBadCiphertext = status.Error(codes.InvalidArgument, "Decryption failed: verify that 'name' refers to the correct CryptoKey.")

// open decrypts a ciphertext of key k (named n), returning the version that made it.
func open(n name, k *cryptoKey, ciphertext, aad []byte) ([]byte, name, error) {
	rest, ok := strings.CutPrefix(string(ciphertext), string(ciphertextMagic))
	id, size := binary.Uvarint([]byte(rest))
	if !ok || size <= 0 || id == 0 || id > uint64(len(k.Versions)) || len(rest)-size < 12+16 {
		return nil, n, errBadCiphertext
	}
	vn := n.at(kindCryptoKey)
	vn.kind, vn.version = kindVersion, int64(id)
	v := k.Versions[id-1]
	if err := usable(vn, v); err != nil {
		return nil, vn, err
	}
	body := []byte(rest[size:])
	pt, err := gcm(v.Material).Open(nil, body[:12], body[12:], boundData(vn, aad))
	if err != nil {
		return nil, vn, errBadCiphertext
	}
	return pt, vn, nil
}

// boundData is GCM's additional data: the version's name (length-prefixed), then the caller's.
func boundData(vn name, aad []byte) []byte {
	s := vn.String()
	return append(binary.AppendUvarint(nil, uint64(len(s))), append([]byte(s), aad...)...)
}

func gcm(material []byte) cipher.AEAD {
	block, err := aes.NewCipher(material)
	if err != nil {
		panic(err) // material is always 32 bytes
	}
	a, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return a
}
