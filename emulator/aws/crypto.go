package awsemu

import (
	"crypto/cipher"
	"crypto/rand"
)

const maxPlaintext = 4096

// checkAlgorithm refuses asymmetric algorithms with a symmetric key.
func checkAlgorithm(k *key, alg string) error {
	if alg != "" && alg != algSymmetric {
		return newError(errInvalidKeyUsage, "The encryption algorithm %s is not valid for %s, whose key spec is %s.", alg, k.arn, k.spec)
	}
	return nil
}

// useKey resolves, authorizes and checks the key of a symmetric operation.
// The key's identity and cipher do not change, so the caller may use them
// after the lock is released.
func (c *call) useKey(keyID, action, alg string, encCtx map[string]string) (*key, cipher.AEAD, error) {
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	r := c.e.regionLocked(c.region, c.now)
	k, err := c.resolveLocked(r, keyID, aliasesToo)
	if err != nil {
		return nil, nil, err
	}
	if err := c.usableLocked(k, action, alg, encCtx); err != nil {
		return nil, nil, err
	}
	return k, k.shared.aead, nil
}

// usableLocked runs the checks, in AWS's order, of a symmetric operation on k.
func (c *call) usableLocked(k *key, action, alg string, encCtx map[string]string) error {
	if err := c.authorizeLocked(k, action, encCtx, nil); err != nil {
		return err
	}
	if err := checkUsable(k); err != nil {
		return err
	}
	if err := checkSymmetric(k, action); err != nil {
		return err
	}
	return checkAlgorithm(k, alg)
}

// blobKeyLocked finds the key a ciphertext blob names, as seen from the
// call's region: its own key there, or a multi-region key of the same set.
func (c *call) blobKeyLocked(r *region, h blobHeader) (*key, error) {
	k, ok := r.keys[h.keyID]
	switch {
	case ok && (h.region == r.name || k.shared.multiRegion):
		c.key = k.arn
		return k, nil
	case h.region == r.name && r.deleted[h.keyID]:
		return nil, errKeyMissing(keyARN(r.name, c.e.account, h.keyID))
	}
	return nil, newError(errInvalidCiphertext, msgInvalidCiphertext)
}

// openInput is a ciphertext to be decrypted, as Decrypt and ReEncrypt take it.
type openInput struct {
	blob   []byte
	keyID  string // the optional KeyId that must name the blob's key
	action string // "Decrypt" or "ReEncryptFrom"
	alg    string
	encCtx map[string]string
}

// openLocked parses the blob and checks that the caller may open it; the
// decryption itself happens after the lock is released.
func (c *call) openLocked(r *region, in openInput) (k *key, header, nonce, sealed []byte, err error) {
	h, header, nonce, sealed, err := parseBlob(in.blob)
	if err != nil {
		return nil, nil, nil, nil, newError(errInvalidCiphertext, msgInvalidCiphertext)
	}
	if in.keyID != "" {
		named, err := c.resolveLocked(r, in.keyID, aliasesToo)
		if err != nil {
			return nil, nil, nil, nil, err
		}
		if named.id != h.keyID {
			return nil, nil, nil, nil, newError(errIncorrectKey, msgIncorrectKey)
		}
	}
	if k, err = c.blobKeyLocked(r, h); err != nil {
		return nil, nil, nil, nil, err
	}
	if err := c.usableLocked(k, in.action, in.alg, in.encCtx); err != nil {
		return nil, nil, nil, nil, err
	}
	return k, header, nonce, sealed, nil
}

func openSealed(k *key, header, nonce, sealed []byte, encCtx map[string]string) ([]byte, error) {
	pt, err := openBlob(k.shared.aead, header, nonce, sealed, encCtx)
	if err != nil {
		return nil, newError(errInvalidCiphertext, msgInvalidCiphertext)
	}
	return pt, nil
}

type encryptOutput struct {
	CiphertextBlob      blob   `json:"CiphertextBlob"`
	KeyId               string `json:"KeyId"`
	EncryptionAlgorithm string `json:"EncryptionAlgorithm"`
}

func (c *call) encrypt(body []byte) (any, error) {
	var in struct {
		KeyId               string
		Plaintext           blob
		EncryptionContext   map[string]string
		GrantTokens         []string
		EncryptionAlgorithm string
		DryRun              bool
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	validateKeyID(&v, in.KeyId)
	v.required("plaintext", in.Plaintext != nil)
	v.blobLen("plaintext", in.Plaintext, 1, maxPlaintext)
	v.grantTokens(in.GrantTokens)
	v.enum("encryptionAlgorithm", in.EncryptionAlgorithm, encryptionAlgs)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := c.checkGrantTokens(in.GrantTokens); err != nil {
		return nil, err
	}
	k, aead, err := c.useKey(in.KeyId, "Encrypt", in.EncryptionAlgorithm, in.EncryptionContext)
	if err != nil {
		return nil, err
	}
	if in.DryRun {
		return nil, newError(errDryRun, msgDryRun)
	}
	ct := sealBlob(aead, blobHeader{region: k.region, keyID: k.id}, in.Plaintext, in.EncryptionContext)
	return encryptOutput{CiphertextBlob: ct, KeyId: k.arn, EncryptionAlgorithm: algSymmetric}, nil
}

type dataKeyInput struct {
	KeyId             string
	EncryptionContext map[string]string
	NumberOfBytes     *int32
	KeySpec           string
	GrantTokens       []string
	DryRun            bool
}

// dataKeyOutput is GenerateDataKey's answer; WithoutPlaintext omits Plaintext.
type dataKeyOutput struct {
	CiphertextBlob blob   `json:"CiphertextBlob"`
	Plaintext      blob   `json:"Plaintext,omitempty"`
	KeyId          string `json:"KeyId"`
}

func (c *call) generateDataKey(body []byte) (any, error) {
	return c.dataKey(body, "GenerateDataKey")
}

func (c *call) generateDataKeyWithoutPlaintext(body []byte) (any, error) {
	return c.dataKey(body, "GenerateDataKeyWithoutPlaintext")
}

func (c *call) dataKey(body []byte, action string) (any, error) {
	var in dataKeyInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	validateKeyID(&v, in.KeyId)
	v.intRange("numberOfBytes", in.NumberOfBytes, 1, 1024)
	v.enum("keySpec", in.KeySpec, dataKeySpecs)
	v.grantTokens(in.GrantTokens)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := c.checkGrantTokens(in.GrantTokens); err != nil {
		return nil, err
	}
	if (in.NumberOfBytes == nil) == (in.KeySpec == "") {
		return nil, newError(errValidation, "Please specify either number of bytes or key spec.")
	}
	size := 32
	switch {
	case in.NumberOfBytes != nil:
		size = int(*in.NumberOfBytes)
	case in.KeySpec == "AES_128":
		size = 16
	}
	k, aead, err := c.useKey(in.KeyId, action, "", in.EncryptionContext)
	if err != nil {
		return nil, err
	}
	if in.DryRun {
		return nil, newError(errDryRun, msgDryRun)
	}
	plaintext := make([]byte, size)
	_, _ = rand.Read(plaintext)
	out := dataKeyOutput{
		CiphertextBlob: sealBlob(aead, blobHeader{region: k.region, keyID: k.id}, plaintext, in.EncryptionContext),
		KeyId:          k.arn,
	}
	if action == "GenerateDataKey" {
		out.Plaintext = plaintext
	}
	return out, nil
}

func (c *call) decrypt(body []byte) (any, error) {
	var in struct {
		CiphertextBlob      blob
		EncryptionContext   map[string]string
		GrantTokens         []string
		KeyId               string
		EncryptionAlgorithm string
		DryRun              bool
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.required("ciphertextBlob", in.CiphertextBlob != nil)
	v.blobLen("ciphertextBlob", in.CiphertextBlob, 1, maxCiphertext)
	v.grantTokens(in.GrantTokens)
	v.strLen("keyId", in.KeyId, 1, 2048)
	v.enum("encryptionAlgorithm", in.EncryptionAlgorithm, encryptionAlgs)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := c.checkGrantTokens(in.GrantTokens); err != nil {
		return nil, err
	}
	c.e.mu.Lock()
	r := c.e.regionLocked(c.region, c.now)
	k, header, nonce, sealed, err := c.openLocked(r, openInput{
		blob: in.CiphertextBlob, keyID: in.KeyId, action: "Decrypt", alg: in.EncryptionAlgorithm, encCtx: in.EncryptionContext,
	})
	c.e.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if in.DryRun {
		return nil, newError(errDryRun, msgDryRun)
	}
	pt, err := openSealed(k, header, nonce, sealed, in.EncryptionContext)
	if err != nil {
		return nil, err
	}
	return struct {
		KeyId               string
		Plaintext           blob
		EncryptionAlgorithm string
	}{k.arn, pt, algSymmetric}, nil
}

func (c *call) reEncrypt(body []byte) (any, error) {
	var in struct {
		CiphertextBlob                 blob
		SourceEncryptionContext        map[string]string
		SourceKeyId                    string
		DestinationKeyId               string
		DestinationEncryptionContext   map[string]string
		SourceEncryptionAlgorithm      string
		DestinationEncryptionAlgorithm string
		GrantTokens                    []string
		DryRun                         bool
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.required("ciphertextBlob", in.CiphertextBlob != nil)
	v.blobLen("ciphertextBlob", in.CiphertextBlob, 1, maxCiphertext)
	v.strLen("sourceKeyId", in.SourceKeyId, 1, 2048)
	v.required("destinationKeyId", in.DestinationKeyId != "")
	v.strLen("destinationKeyId", in.DestinationKeyId, 1, 2048)
	v.enum("sourceEncryptionAlgorithm", in.SourceEncryptionAlgorithm, encryptionAlgs)
	v.enum("destinationEncryptionAlgorithm", in.DestinationEncryptionAlgorithm, encryptionAlgs)
	v.grantTokens(in.GrantTokens)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := c.checkGrantTokens(in.GrantTokens); err != nil {
		return nil, err
	}
	c.e.mu.Lock()
	r := c.e.regionLocked(c.region, c.now)
	src, header, nonce, sealed, err := c.openLocked(r, openInput{
		blob: in.CiphertextBlob, keyID: in.SourceKeyId, action: "ReEncryptFrom",
		alg: in.SourceEncryptionAlgorithm, encCtx: in.SourceEncryptionContext,
	})
	var dst *key
	if err == nil {
		if dst, err = c.resolveLocked(r, in.DestinationKeyId, aliasesToo); err == nil {
			err = c.usableLocked(dst, "ReEncryptTo", in.DestinationEncryptionAlgorithm, in.DestinationEncryptionContext)
		}
	}
	c.e.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if in.DryRun {
		return nil, newError(errDryRun, msgDryRun)
	}
	pt, err := openSealed(src, header, nonce, sealed, in.SourceEncryptionContext)
	if err != nil {
		return nil, err
	}
	ct := sealBlob(dst.shared.aead, blobHeader{region: dst.region, keyID: dst.id}, pt, in.DestinationEncryptionContext)
	return struct {
		CiphertextBlob                 blob
		SourceKeyId                    string
		KeyId                          string
		SourceEncryptionAlgorithm      string
		DestinationEncryptionAlgorithm string
	}{ct, src.arn, dst.arn, algSymmetric, algSymmetric}, nil
}
