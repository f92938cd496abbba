package keyring

import (
	"context"

	"github.com/cmekd/cmekd/internal/envelope"
)

// EncryptionContext is the encryption context that binds the owner's wrapped data keys:
// a KMS ReEncrypt of one needs it as the source context.
func (o Owner) EncryptionContext() map[string]string { return o.encryptionContext() }

// BackupContext is the encryption context of a backup's own copies of its collection's data keys:
// bound to the organisation and the backup, never to the collection, which the backup
// outlives.
func BackupContext(orgID, backupID string) map[string]string {
	return map[string]string{"cmekd:org": orgID, "cmekd:backup": backupID}
}

// NewBox is a Box of the owner's data key dataKeyID from its plaintext, unwrapped elsewhere than
// from the keyring's own rows (a backup's copy, unwrapped by the backup key). keyARN is the KMS key
// that wrapped the data key when the owner's items were sealed, which their AADv2 binds. The box
// keeps no copy of key; the caller wipes key once it is done with the box.
func NewBox(owner Owner, keyARN, dataKeyID string, key []byte) (*Box, error) {
	sealer, err := envelope.NewSealer(key)
	if err != nil {
		return nil, err
	}
	return &Box{owner: owner, dataKeyID: dataKeyID, keyARN: keyARN, sealer: sealer}, nil
}

// SealNew runs fn with a Box under a new data key of the owner wrapped by keyARN, whatever the owner's
// current one. It is for work that seals many items in one transaction (a restore): the uses of the
// current key that Seal counts are only seen once that transaction commits, so sealing batch after
// batch with Seal would put them all under one key past its bound. Such work seals at most MaxUses
// items under each key SealNew makes.
func (k *Keyring) SealNew(ctx context.Context, owner Owner, keyARN string, fn func(*Box) error) error {
	if err := k.providerDown(keyARN); err != nil {
		return err
	}
	dk, err := k.newDataKey(ctx, owner, keyARN, k.cfg.Store.Now())
	if err != nil {
		return err
	}
	return k.SealWith(ctx, owner, keyARN, &dk, fn)
}

// MaxUses is how many items one data key may seal (CMEKD_DEK_MAX_DOCUMENTS).
func (k *Keyring) MaxUses() int { return k.cfg.MaxUses }
