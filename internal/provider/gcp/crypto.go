package gcp

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"slices"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/kms"
	"github.com/cmekd/cmekd/internal/provider"
)

// aadVersion starts every serialised encryption context, so that the encoding can change without
// a new one ever reading as an old one.
const aadVersion = "cmekd-encryption-context-v1"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc32c(b []byte) *wrapperspb.Int64Value {
	return wrapperspb.Int64(int64(crc32.Checksum(b, castagnoli)))
}

// contextAAD serialises an encryption context as Cloud KMS's additional authenticated data: the
// pairs sorted by key, each key and value length-prefixed, so that no two contexts share an
// encoding (however their strings are made) and the same context always has the same one.
func contextAAD(encCtx map[string]string) []byte {
	keys := make([]string, 0, len(encCtx))
	for k := range encCtx {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := []byte(aadVersion)
	for _, k := range keys {
		for _, s := range []string{k, encCtx[k]} {
			out = binary.BigEndian.AppendUint32(out, uint32(len(s)))
			out = append(out, s...)
		}
	}
	return out
}

// corrupted is the failure of an answer whose integrity fields do not hold: the bytes were damaged
// on the way, and asking again may succeed.
func corrupted(permission, what string) *kms.Error {
	return &kms.Error{Code: domain.CodeKMSUnavailable, Action: permission,
		Message: "Cloud KMS's answer failed its CRC32C integrity check (" + what + "); it was discarded"}
}

// GenerateDataKey makes a 256-bit data key from the platform's CSPRNG and wraps it under keyID.
func (p *Provider) GenerateDataKey(ctx context.Context, keyID string, encCtx map[string]string) ([]byte, []byte, error) {
	return provider.GenerateDataKey(ctx, p, keyID, encCtx)
}

// Encrypt is Cloud KMS Encrypt under keyID's primary version, bound to encCtx, with CRC32C sent
// and verified both ways. The ciphertext names the version that made it.
func (p *Provider) Encrypt(ctx context.Context, keyID string, plaintext []byte, encCtx map[string]string) ([]byte, error) {
	aad := contextAAD(encCtx)
	req := &kmspb.EncryptRequest{Name: keyID, Plaintext: plaintext, PlaintextCrc32C: crc32c(plaintext),
		AdditionalAuthenticatedData: aad, AdditionalAuthenticatedDataCrc32C: crc32c(aad)}
	return checked(ctx, p, permEncrypt, p.client.Encrypt, req, func(resp *kmspb.EncryptResponse) ([]byte, error) {
		switch {
		case !resp.GetVerifiedPlaintextCrc32C() || !resp.GetVerifiedAdditionalAuthenticatedDataCrc32C():
			return nil, corrupted(permEncrypt, "the request's checksums were not verified")
		case resp.GetCiphertextCrc32C().GetValue() != crc32c(resp.GetCiphertext()).GetValue():
			return nil, corrupted(permEncrypt, "ciphertext_crc32c")
		}
		return resp.GetCiphertext(), nil
	})
}

// Decrypt is Cloud KMS Decrypt on keyID, which finds the version the ciphertext names, bound to
// encCtx, with CRC32C sent and verified both ways.
func (p *Provider) Decrypt(ctx context.Context, keyID string, wrapped []byte, encCtx map[string]string) ([]byte, error) {
	aad := contextAAD(encCtx)
	req := &kmspb.DecryptRequest{Name: keyID, Ciphertext: wrapped, CiphertextCrc32C: crc32c(wrapped),
		AdditionalAuthenticatedData: aad, AdditionalAuthenticatedDataCrc32C: crc32c(aad)}
	return checked(ctx, p, permDecrypt, p.client.Decrypt, req, func(resp *kmspb.DecryptResponse) ([]byte, error) {
		if resp.GetPlaintextCrc32C().GetValue() != crc32c(resp.GetPlaintext()).GetValue() {
			clear(resp.GetPlaintext())
			return nil, corrupted(permDecrypt, "plaintext_crc32c")
		}
		return resp.GetPlaintext(), nil
	})
}

// checked is call of rpc with req (without the client's own retries), whose answer must pass
// integrity, which returns the bytes it carries; an answer that fails is retried like any transient
// failure.
func checked[Q, R any](ctx context.Context, p *Provider, permission string, rpc func(context.Context, Q, ...gax.CallOption) (R, error), req Q, integrity func(R) ([]byte, error)) ([]byte, error) {
	return call(ctx, p, permission, func(ctx context.Context) ([]byte, error) {
		resp, err := rpc(ctx, req, noRetry)
		if err != nil {
			return nil, err
		}
		return integrity(resp)
	})
}

// ReEncrypt unwraps with fromID and wraps with toID in memory (Cloud KMS has no re-encrypt),
// clearing the plaintext after.
func (p *Provider) ReEncrypt(ctx context.Context, fromID string, wrapped []byte, fromCtx map[string]string, toID string, toCtx map[string]string) ([]byte, error) {
	return provider.ReEncrypt(ctx, p, fromID, wrapped, fromCtx, p, toID, toCtx)
}
