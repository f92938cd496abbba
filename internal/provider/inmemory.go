package provider

import (
	"context"
	"crypto/rand"
)

// Crypter wraps and unwraps under one cloud's keys: what an adapter whose cloud makes no data keys
// and has no re-encrypt builds those on.
type Crypter interface {
	Encrypt(ctx context.Context, keyID string, plaintext []byte, encCtx map[string]string) ([]byte, error)
	Decrypt(ctx context.Context, keyID string, wrapped []byte, encCtx map[string]string) ([]byte, error)
}

// GenerateDataKey makes a 256-bit data key from the platform's CSPRNG and wraps it under keyID with
// c; the plaintext is cleared if the wrap fails.
func GenerateDataKey(ctx context.Context, c Crypter, keyID string, encCtx map[string]string) (plaintext, wrapped []byte, err error) {
	dk := make([]byte, 32)
	if _, err := rand.Read(dk); err != nil {
		return nil, nil, err
	}
	if wrapped, err = c.Encrypt(ctx, keyID, dk, encCtx); err != nil {
		clear(dk)
		return nil, nil, err
	}
	return dk, wrapped, nil
}

// ReEncrypt unwraps with from under fromID and wraps with to under toID in memory, clearing the
// plaintext after.
func ReEncrypt(ctx context.Context, from Crypter, fromID string, wrapped []byte, fromCtx map[string]string, to Crypter, toID string, toCtx map[string]string) ([]byte, error) {
	plain, err := from.Decrypt(ctx, fromID, wrapped, fromCtx)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	return to.Encrypt(ctx, toID, plain, toCtx)
}
