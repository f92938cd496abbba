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
func (c *call) useKey(keyID, action, alg string, encCtx map[string]string) (k *key, aead cipher.AEAD, err error) {
	_, err = c.inRegion(func(r *region) (any, error) {
		k, err = c.usableLocked(r, keyID, access{mode: aliasesToo, action: action, encCtx: encCtx}, alg)
		return nil, err
	})
	if err != nil {
		return nil, nil, err
	}
	return k, k.shared.aead, nil
}

// usableLocked resolves keyID in r and runs the checks, in AWS's order, of a
// symmetric operation on the key. e.mu must be held.
func (c *call) usableLocked(r *region, keyID string, a access, alg string) (*key, error) {
	k, err := c.keyLocked(r, keyID, a)
	if err != nil {
		return nil, err
	}
	return k, checkCrypto(k, a, alg)
}

// checkCrypto is what a symmetric operation asks of k once the caller may use
// it: it is Enabled, symmetric, and alg is its algorithm.
func checkCrypto(k *key, a access, alg string) error {
	if err := checkUsable(k); err != nil {
		return err
	}
	if err := checkSymmetric(k, a.action); err != nil {
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
	blob  []byte
	keyID string // the optional KeyId that must name the blob's key
	alg   string
	a     access // "Decrypt" or "ReEncryptFrom", with the blob's encryption context
}

// opened is a ciphertext blob whose key the caller may use, in its parts.
type opened struct {
	k                     *key
	encCtx                map[string]string
	header, nonce, sealed []byte
}

// openLocked parses the blob and checks that the caller may open it; the
// decryption itself (plaintext) happens after the lock is released.
func (c *call) openLocked(r *region, in openInput) (*opened, error) {
	h, header, nonce, sealed, err := parseBlob(in.blob)
	if err != nil {
		return nil, newError(errInvalidCiphertext, msgInvalidCiphertext)
	}
	if in.keyID != "" {
		named, err := c.resolveLocked(r, in.keyID, aliasesToo)
		if err != nil {
			return nil, err
		}
		if named.id != h.keyID {
			return nil, newError(errIncorrectKey, msgIncorrectKey)
		}
	}
	k, err := c.blobKeyLocked(r, h)
	if err != nil {
		return nil, err
	}
	if err := c.authorizeLocked(k, in.a); err != nil {
		return nil, err
	}
	if err := checkCrypto(k, in.a, in.alg); err != nil {
		return nil, err
	}
	return &opened{k: k, encCtx: in.a.encCtx, header: header, nonce: nonce, sealed: sealed}, nil
}

// plaintext decrypts the blob.
func (o *opened) plaintext() ([]byte, error) {
	pt, err := openBlob(o.k.shared.aead, o.header, o.nonce, o.sealed, o.encCtx)
	if err != nil {
		return nil, newError(errInvalidCiphertext, msgInvalidCiphertext)
	}
	return pt, nil
}

// open is the part Decrypt and ReEncrypt share: the grant tokens checked, the
// blob opened and, with its key's lock still held, then (if not nil) run; the
// plaintext comes after the lock is released, unless the request is a dry run.
func (c *call) open(in openInput, tokens []string, dryRun bool, then func(r *region) error) (*opened, []byte, error) {
	if err := c.checkGrantTokens(tokens); err != nil {
		return nil, nil, err
	}
	var o *opened
	_, err := c.inRegion(func(r *region) (any, error) {
		var err error
		if o, err = c.openLocked(r, in); err == nil && then != nil {
			err = then(r)
		}
		return nil, err
	})
	if err != nil {
		return nil, nil, err
	}
	if dryRun {
		return nil, nil, newError(errDryRun, msgDryRun)
	}
	pt, err := o.plaintext()
	return o, pt, err
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
	if err := decodeValid(body, &in, func(v *validator) {
		v.keyID(in.KeyId)
		v.required("plaintext", in.Plaintext != nil)
		v.blobLen("plaintext", in.Plaintext, 1, maxPlaintext)
		v.grantTokens(in.GrantTokens)
		v.enum("encryptionAlgorithm", in.EncryptionAlgorithm, encryptionAlgs)
	}); err != nil {
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
	if err := decodeValid(body, &in, func(v *validator) {
		v.keyID(in.KeyId)
		v.intRange("numberOfBytes", in.NumberOfBytes, 1, 1024)
		v.enum("keySpec", in.KeySpec, dataKeySpecs)
		v.grantTokens(in.GrantTokens)
	}); err != nil {
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
	if err := decodeValid(body, &in, func(v *validator) {
		v.required("ciphertextBlob", in.CiphertextBlob != nil)
		v.blobLen("ciphertextBlob", in.CiphertextBlob, 1, maxCiphertext)
		v.grantTokens(in.GrantTokens)
		v.strLen("keyId", in.KeyId, 1, 2048)
		v.enum("encryptionAlgorithm", in.EncryptionAlgorithm, encryptionAlgs)
	}); err != nil {
		return nil, err
	}
	o, pt, err := c.open(openInput{blob: in.CiphertextBlob, keyID: in.KeyId, alg: in.EncryptionAlgorithm,
		a: access{action: "Decrypt", encCtx: in.EncryptionContext}}, in.GrantTokens, in.DryRun, nil)
	if err != nil {
		return nil, err
	}
	return struct {
		KeyId               string
		Plaintext           blob
		EncryptionAlgorithm string
	}{o.k.arn, pt, algSymmetric}, nil
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
	if err := decodeValid(body, &in, func(v *validator) {
		v.required("ciphertextBlob", in.CiphertextBlob != nil)
		v.blobLen("ciphertextBlob", in.CiphertextBlob, 1, maxCiphertext)
		v.strLen("sourceKeyId", in.SourceKeyId, 1, 2048)
		v.required("destinationKeyId", in.DestinationKeyId != "")
		v.strLen("destinationKeyId", in.DestinationKeyId, 1, 2048)
		v.enum("sourceEncryptionAlgorithm", in.SourceEncryptionAlgorithm, encryptionAlgs)
		v.enum("destinationEncryptionAlgorithm", in.DestinationEncryptionAlgorithm, encryptionAlgs)
		v.grantTokens(in.GrantTokens)
	}); err != nil {
		return nil, err
	}
	var dst *key
	src, pt, err := c.open(openInput{blob: in.CiphertextBlob, keyID: in.SourceKeyId, alg: in.SourceEncryptionAlgorithm,
		a: access{action: "ReEncryptFrom", encCtx: in.SourceEncryptionContext}}, in.GrantTokens, in.DryRun,
		func(r *region) (err error) {
			dst, err = c.usableLocked(r, in.DestinationKeyId,
				access{mode: aliasesToo, action: "ReEncryptTo", encCtx: in.DestinationEncryptionContext}, in.DestinationEncryptionAlgorithm)
			return err
		})
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
	}{ct, src.k.arn, dst.arn, algSymmetric, algSymmetric}, nil
}
