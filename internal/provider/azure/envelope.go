package azure

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/kms"
	"github.com/cmekd/cmekd/internal/provider"
)

// envelope is the wrapped form of a data key. It names the key version that wrapped (kid), so that
// data stays readable after the customer rotates the key, and the algorithm.
type envelope struct {
	V     int    `json:"v"`
	KID   string `json:"kid"`
	Alg   string `json:"alg"`
	Value []byte `json:"value"`
	// N is the plaintext's length when it was padded for AES key wrap; 0 when not padded.
	N int `json:"n,omitempty"`
}

const envelopeVersion = 1

// dataKeySize is the size of data keys: 256 bits.
const dataKeySize = 32

// wrap wraps plaintext under the current version of k: RSA-OAEP-256, or A256KW on an oct-HSM key.
func (p *Provider) wrap(ctx context.Context, k keyRef, plaintext []byte) (envelope, error) {
	alg, err := p.algorithm(ctx, k)
	if err != nil {
		return envelope{}, err
	}
	env := envelope{V: envelopeVersion, Alg: string(alg)}
	value := plaintext
	if alg == azkeys.EncryptionAlgorithmA256KW {
		value, env.N = kwPad(plaintext)
		defer clear(value)
	}
	c, err := p.client(k)
	if err != nil {
		return envelope{}, classify(k, opWrap, err)
	}
	ctx, cancel := p.call(ctx)
	defer cancel()
	res, err := c.WrapKey(ctx, k.name, "", azkeys.KeyOperationParameters{Algorithm: &alg, Value: value}, nil)
	if err != nil {
		return envelope{}, classify(k, opWrap, err)
	}
	if res.KID == nil || res.KID.Version() == "" {
		return envelope{}, &kms.Error{Code: domain.CodeKMSError, Action: opWrap.action(k), Message: "wrapKey answered without a versioned kid"}
	}
	env.KID, env.Value = string(*res.KID), res.Result
	return env, nil
}

// unwrap unwraps env with the key version that wrapped it, which must be a version of k.
func (p *Provider) unwrap(ctx context.Context, k keyRef, env envelope) ([]byte, error) {
	kid := azkeys.ID(env.KID)
	if env.V != envelopeVersion || !versionOf(kid, k) {
		return nil, &kms.Error{Code: domain.CodeInvalidCiphertext, Action: opUnwrap.action(k),
			Message: "the wrapped data key was not made by a version of " + k.String()}
	}
	c, err := p.client(k)
	if err != nil {
		return nil, classify(k, opUnwrap, err)
	}
	ctx, cancel := p.call(ctx)
	defer cancel()
	alg := azkeys.EncryptionAlgorithm(env.Alg)
	res, err := c.UnwrapKey(ctx, kid.Name(), kid.Version(), azkeys.KeyOperationParameters{Algorithm: &alg, Value: env.Value}, nil)
	if err != nil {
		return nil, classify(k, opUnwrap, err)
	}
	return kwUnpad(res.Result, env.N, k)
}

// versionOf reports whether kid names a version of k.
func versionOf(kid azkeys.ID, k keyRef) bool {
	u, err := url.Parse(string(kid))
	return err == nil && strings.EqualFold(u.Hostname(), k.host) && strings.EqualFold(kid.Name(), k.name) && kid.Version() != ""
}

// algorithm is the wrap algorithm of k. Vaults hold no symmetric keys, so theirs is RSA-OAEP-256
// without asking; a Managed HSM key's type is read once and remembered.
func (p *Provider) algorithm(ctx context.Context, k keyRef) (azkeys.EncryptionAlgorithm, error) {
	if !k.hsm {
		return azkeys.EncryptionAlgorithmRSAOAEP256, nil
	}
	if alg, ok := p.algs.Load(k.String()); ok {
		return alg.(azkeys.EncryptionAlgorithm), nil
	}
	b, err := p.getKey(ctx, k)
	if err != nil {
		return "", err
	}
	return p.remember(k, b), nil
}

// remember records the wrap algorithm of k's type, as read in b.
func (p *Provider) remember(k keyRef, b azkeys.KeyBundle) azkeys.EncryptionAlgorithm {
	alg := azkeys.EncryptionAlgorithmRSAOAEP256
	if b.Key != nil && b.Key.Kty != nil && *b.Key.Kty == azkeys.KeyTypeOctHSM {
		alg = azkeys.EncryptionAlgorithmA256KW
	}
	p.algs.Store(k.String(), alg)
	return alg
}

// getKey reads the current version of k.
func (p *Provider) getKey(ctx context.Context, k keyRef) (azkeys.KeyBundle, error) {
	c, err := p.client(k)
	if err != nil {
		return azkeys.KeyBundle{}, classify(k, opGet, err)
	}
	ctx, cancel := p.call(ctx)
	defer cancel()
	res, err := c.GetKey(ctx, k.name, "", nil)
	if err != nil {
		return azkeys.KeyBundle{}, classify(k, opGet, err)
	}
	return res.KeyBundle, nil
}

// kwPad pads b with zeros to what AES key wrap takes (a multiple of 8 bytes, at least 16); n is
// len(b) when it padded, 0 when b needed none.
func kwPad(b []byte) (padded []byte, n int) {
	size := max(16, (len(b)+7)/8*8)
	padded = make([]byte, size)
	copy(padded, b)
	if size == len(b) {
		return padded, 0
	}
	return padded, len(b)
}

// kwUnpad undoes kwPad.
func kwUnpad(b []byte, n int, k keyRef) ([]byte, error) {
	if n == 0 {
		return b, nil
	}
	if n > len(b) || strings.Trim(string(b[n:]), "\x00") != "" {
		clear(b)
		return nil, &kms.Error{Code: domain.CodeInvalidCiphertext, Action: opUnwrap.action(k), Message: "the unwrapped data key's padding is not valid"}
	}
	out := append([]byte(nil), b[:n]...)
	clear(b)
	return out, nil
}

// ref parses keyID for the data path, where a malformed id is a *kms.Error.
func ref(keyID string, op operation) (keyRef, error) {
	k, derr := parseKeyID(keyID)
	if derr != nil {
		return keyRef{}, &kms.Error{Code: derr.Code, Action: op.vault, Message: derr.Message, Err: derr}
	}
	return k, nil
}

// GenerateDataKey makes a 256-bit data key from the platform's CSPRNG and wraps it under keyID.
// Azure's wraps carry no context: encCtx is ignored, the caller binds data keys in what it seals.
func (p *Provider) GenerateDataKey(ctx context.Context, keyID string, _ map[string]string) ([]byte, []byte, error) {
	return provider.GenerateDataKey(ctx, p, keyID, nil)
}

// Encrypt wraps plaintext (a data key) under keyID.
func (p *Provider) Encrypt(ctx context.Context, keyID string, plaintext []byte, _ map[string]string) ([]byte, error) {
	k, err := ref(keyID, opWrap)
	if err != nil {
		return nil, err
	}
	env, err := p.wrap(ctx, k, plaintext)
	if err != nil {
		return nil, err
	}
	return json.Marshal(env)
}

// Decrypt unwraps what Encrypt or GenerateDataKey wrapped under keyID, with the version that did.
func (p *Provider) Decrypt(ctx context.Context, keyID string, wrapped []byte, _ map[string]string) ([]byte, error) {
	k, err := ref(keyID, opUnwrap)
	if err != nil {
		return nil, err
	}
	var env envelope
	if err := json.Unmarshal(wrapped, &env); err != nil {
		return nil, &kms.Error{Code: domain.CodeInvalidCiphertext, Action: opUnwrap.action(k), Message: "the wrapped data key is not an Azure envelope", Err: err}
	}
	return p.unwrap(ctx, k, env)
}

// ReEncrypt unwraps under fromID and wraps under toID in memory: Key Vault has no re-encrypt.
func (p *Provider) ReEncrypt(ctx context.Context, fromID string, wrapped []byte, fromCtx map[string]string, toID string, toCtx map[string]string) ([]byte, error) {
	return provider.ReEncrypt(ctx, p, fromID, wrapped, fromCtx, p, toID, toCtx)
}
