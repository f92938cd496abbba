package awsemu_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

func TestEncryptDecrypt_BindsEncryptionContext(t *testing.T) {
	t.Parallel()
	_, c, md := rootKey(t)
	encCtx := map[string]string{"cmekd:org": "org_1", "cmekd:collection": "col_1"}
	plain := bytes.Repeat([]byte{0xA5}, 4096)
	enc, err := c.Encrypt(bg, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: plain, EncryptionContext: encCtx})
	ok(t, err)
	if *enc.KeyId != *md.Arn || enc.EncryptionAlgorithm != types.EncryptionAlgorithmSpecSymmetricDefault {
		t.Errorf("Encrypt = %s %s", *enc.KeyId, enc.EncryptionAlgorithm)
	}
	if bytes.Contains(enc.CiphertextBlob, plain[:64]) {
		t.Fatal("ciphertext contains the plaintext")
	}

	// Decrypt needs no KeyId: the blob names its key.
	dec, err := c.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: encCtx})
	ok(t, err)
	if !bytes.Equal(dec.Plaintext, plain) || *dec.KeyId != *md.Arn {
		t.Fatalf("Decrypt = %s, %d bytes", *dec.KeyId, len(dec.Plaintext))
	}
	// The same context in another map order is the same context.
	again := map[string]string{"cmekd:collection": "col_1", "cmekd:org": "org_1"}
	_, err = c.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: again, KeyId: md.Arn})
	ok(t, err)

	for name, wrong := range map[string]map[string]string{
		"missing": nil,
		"changed": {"cmekd:org": "org_2", "cmekd:collection": "col_1"},
		"extra":   {"cmekd:org": "org_1", "cmekd:collection": "col_1", "x": "y"},
		"shifted": {"cmekd:org": "org_1cmekd:collection", "": "col_1"},
	} {
		_, err := c.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: wrong})
		if errCode(err) != "InvalidCiphertextException" {
			t.Errorf("%s context: %v, want InvalidCiphertextException", name, err)
		}
	}

	_, err = c.Encrypt(bg, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: make([]byte, 4097)})
	wantCode(t, err, "ValidationException")
	if !strings.Contains(errMessage(err), "'plaintext'") {
		t.Errorf("message %q does not name the member", errMessage(err))
	}
	_, err = c.Encrypt(bg, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x"), EncryptionAlgorithm: types.EncryptionAlgorithmSpecRsaesOaepSha256})
	wantCode(t, err, "InvalidKeyUsageException")
}

func TestDecrypt_RejectsTamperedForeignAndMismatchedCiphertext(t *testing.T) {
	t.Parallel()
	_, c, md := rootKey(t)
	other := createKey(t, c, nil)
	enc, err := c.Encrypt(bg, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("secret")})
	ok(t, err)
	blob := enc.CiphertextBlob

	for i := range blob {
		tampered := bytes.Clone(blob)
		tampered[i] ^= 0x01
		_, err := c.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: tampered})
		// A flipped bit in the key id may name no key at all: that is refused too.
		if code := errCode(err); code != "InvalidCiphertextException" {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	for name, b := range map[string][]byte{
		"truncated": blob[:len(blob)-1],
		"short":     blob[:10],
		"garbage":   []byte("definitely not a ciphertext blob"),
	} {
		_, err := c.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: b})
		if errCode(err) != "InvalidCiphertextException" {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A ciphertext from another emulator names a key this one never had.
	foreign, err := setup(t).root().Encrypt(bg, &kms.EncryptInput{KeyId: aws.String("alias/aws/cmekd-test"), Plaintext: []byte("x")})
	ok(t, err)
	_, err = c.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: foreign.CiphertextBlob})
	wantCode(t, err, "InvalidCiphertextException")

	_, err = c.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: blob, KeyId: other.KeyId})
	wantCode(t, err, "IncorrectKeyException")
	_, err = c.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: blob, KeyId: aws.String("alias/aws/cmekd-test")})
	wantCode(t, err, "IncorrectKeyException")
}

func TestGenerateDataKey_SpecsAndSizes(t *testing.T) {
	t.Parallel()
	_, c, md := rootKey(t)
	cases := []struct {
		in   kms.GenerateDataKeyInput
		size int
		code string
	}{
		{kms.GenerateDataKeyInput{KeySpec: types.DataKeySpecAes256}, 32, ""},
		{kms.GenerateDataKeyInput{KeySpec: types.DataKeySpecAes128}, 16, ""},
		{kms.GenerateDataKeyInput{NumberOfBytes: aws.Int32(1)}, 1, ""},
		{kms.GenerateDataKeyInput{NumberOfBytes: aws.Int32(1024)}, 1024, ""},
		{kms.GenerateDataKeyInput{NumberOfBytes: aws.Int32(1025)}, 0, "ValidationException"},
		{kms.GenerateDataKeyInput{NumberOfBytes: aws.Int32(0)}, 0, "ValidationException"},
		{kms.GenerateDataKeyInput{}, 0, "ValidationException"},
		{kms.GenerateDataKeyInput{KeySpec: types.DataKeySpecAes256, NumberOfBytes: aws.Int32(32)}, 0, "ValidationException"},
		{kms.GenerateDataKeyInput{KeySpec: "AES_512"}, 0, "ValidationException"},
	}
	for _, tc := range cases {
		in := tc.in
		in.KeyId = md.KeyId
		out, err := c.GenerateDataKey(bg, &in)
		if errCode(err) != tc.code {
			t.Errorf("%+v: %v, want %q", tc.in, err, tc.code)
			continue
		}
		if err != nil {
			continue
		}
		if len(out.Plaintext) != tc.size || *out.KeyId != *md.Arn {
			t.Errorf("%+v: %d bytes under %s", tc.in, len(out.Plaintext), *out.KeyId)
		}
		dec, err := c.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob})
		ok(t, err)
		if !bytes.Equal(dec.Plaintext, out.Plaintext) {
			t.Errorf("%+v: data key does not decrypt to itself", tc.in)
		}
	}

	wo, err := c.GenerateDataKeyWithoutPlaintext(bg, &kms.GenerateDataKeyWithoutPlaintextInput{
		KeyId: md.KeyId, KeySpec: types.DataKeySpecAes256, EncryptionContext: map[string]string{"a": "b"},
	})
	ok(t, err)
	dec, err := c.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: wo.CiphertextBlob, EncryptionContext: map[string]string{"a": "b"}})
	ok(t, err)
	if len(dec.Plaintext) != 32 || *wo.KeyId != *md.Arn {
		t.Errorf("GenerateDataKeyWithoutPlaintext: %d-byte key under %s", len(dec.Plaintext), *wo.KeyId)
	}
}

func TestReEncrypt_MovesCiphertextBetweenKeys(t *testing.T) {
	t.Parallel()
	e := setup(t)
	c := e.root()
	src := createKey(t, c, nil)
	dst := createKey(t, c, nil)
	_, err := c.CreateAlias(bg, &kms.CreateAliasInput{AliasName: aws.String("alias/dst"), TargetKeyId: dst.KeyId})
	ok(t, err)
	enc, err := c.Encrypt(bg, &kms.EncryptInput{KeyId: src.KeyId, Plaintext: []byte("payload"), EncryptionContext: map[string]string{"v": "1"}})
	ok(t, err)

	re, err := c.ReEncrypt(bg, &kms.ReEncryptInput{
		CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: map[string]string{"v": "1"},
		DestinationKeyId: aws.String("alias/dst"), DestinationEncryptionContext: map[string]string{"v": "2"},
	})
	ok(t, err)
	if *re.SourceKeyId != *src.Arn || *re.KeyId != *dst.Arn {
		t.Errorf("ReEncrypt = source %s dest %s", *re.SourceKeyId, *re.KeyId)
	}
	dec, err := c.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: re.CiphertextBlob, EncryptionContext: map[string]string{"v": "2"}})
	ok(t, err)
	if string(dec.Plaintext) != "payload" || *dec.KeyId != *dst.Arn {
		t.Errorf("decrypted %q under %s", dec.Plaintext, *dec.KeyId)
	}

	_, err = c.ReEncrypt(bg, &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, DestinationKeyId: dst.KeyId})
	wantCode(t, err, "InvalidCiphertextException") // source context missing
	_, err = c.ReEncrypt(bg, &kms.ReEncryptInput{
		CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: map[string]string{"v": "1"},
		SourceKeyId: dst.KeyId, DestinationKeyId: dst.KeyId,
	})
	wantCode(t, err, "IncorrectKeyException")
	_, err = c.DisableKey(bg, &kms.DisableKeyInput{KeyId: dst.KeyId})
	ok(t, err)
	_, err = c.ReEncrypt(bg, &kms.ReEncryptInput{
		CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: map[string]string{"v": "1"}, DestinationKeyId: dst.KeyId,
	})
	wantCode(t, err, "DisabledException")
}

func TestCrossRegion_OnlyMultiRegionReplicasDecrypt(t *testing.T) {
	t.Parallel()
	e := setup(t)
	west := e.root()
	east := e.client("us-east-1", akidRoot)

	single := createKey(t, west, nil)
	enc, err := west.Encrypt(bg, &kms.EncryptInput{KeyId: single.KeyId, Plaintext: []byte("regional")})
	ok(t, err)
	_, err = east.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	wantCode(t, err, "InvalidCiphertextException")

	primary := createKey(t, west, &kms.CreateKeyInput{MultiRegion: aws.Bool(true), Description: aws.String("primary")})
	if !mrkPattern.MatchString(*primary.KeyId) || !aws.ToBool(primary.MultiRegion) {
		t.Fatalf("multi-region key id %q", *primary.KeyId)
	}
	cfg := primary.MultiRegionConfiguration
	if cfg.MultiRegionKeyType != types.MultiRegionKeyTypePrimary || *cfg.PrimaryKey.Arn != *primary.Arn ||
		*cfg.PrimaryKey.Region != "us-west-2" || len(cfg.ReplicaKeys) != 0 {
		t.Errorf("primary configuration = %+v", cfg)
	}
	enc, err = west.Encrypt(bg, &kms.EncryptInput{KeyId: primary.KeyId, Plaintext: []byte("everywhere"), EncryptionContext: map[string]string{"a": "b"}})
	ok(t, err)
	_, err = east.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"a": "b"}})
	wantCode(t, err, "InvalidCiphertextException") // not replicated yet

	rep, err := west.ReplicateKey(bg, &kms.ReplicateKeyInput{KeyId: primary.Arn, ReplicaRegion: aws.String("us-east-1"), Description: aws.String("replica")})
	ok(t, err)
	replica := rep.ReplicaKeyMetadata
	wantARN := "arn:aws:kms:us-east-1:111122223333:key/" + *primary.KeyId
	if *replica.KeyId != *primary.KeyId || *replica.Arn != wantARN || *replica.Description != "replica" ||
		replica.MultiRegionConfiguration.MultiRegionKeyType != types.MultiRegionKeyTypeReplica ||
		*replica.MultiRegionConfiguration.PrimaryKey.Arn != *primary.Arn || !strings.Contains(*rep.ReplicaPolicy, "kms:*") {
		t.Errorf("replica = %+v", replica)
	}
	got := describe(t, west, *primary.KeyId)
	if rk := got.MultiRegionConfiguration.ReplicaKeys; len(rk) != 1 || *rk[0].Arn != wantARN || *rk[0].Region != "us-east-1" {
		t.Errorf("primary's replicas = %+v", rk)
	}

	dec, err := east.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"a": "b"}})
	ok(t, err)
	if string(dec.Plaintext) != "everywhere" || *dec.KeyId != wantARN {
		t.Errorf("replica decrypt = %q under %s", dec.Plaintext, *dec.KeyId)
	}
	// And back: the primary opens what the replica sealed.
	back, err := east.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(wantARN), Plaintext: []byte("home")})
	ok(t, err)
	home, err := west.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: back.CiphertextBlob})
	ok(t, err)
	if string(home.Plaintext) != "home" {
		t.Errorf("primary decrypt = %q", home.Plaintext)
	}
	// The replica's state is its own.
	_, err = east.DisableKey(bg, &kms.DisableKeyInput{KeyId: replica.KeyId})
	ok(t, err)
	_, err = east.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"a": "b"}})
	wantCode(t, err, "DisabledException")
	ok(t, roundTrip(west, *primary.Arn, nil))

	_, err = west.ReplicateKey(bg, &kms.ReplicateKeyInput{KeyId: primary.KeyId, ReplicaRegion: aws.String("us-east-1")})
	wantCode(t, err, "AlreadyExistsException")
	_, err = west.ReplicateKey(bg, &kms.ReplicateKeyInput{KeyId: single.KeyId, ReplicaRegion: aws.String("eu-west-1")})
	wantCode(t, err, "UnsupportedOperationException")
	_, err = east.ReplicateKey(bg, &kms.ReplicateKeyInput{KeyId: replica.KeyId, ReplicaRegion: aws.String("eu-west-1")})
	wantCode(t, err, "UnsupportedOperationException")
	_, err = west.ReplicateKey(bg, &kms.ReplicateKeyInput{KeyId: primary.KeyId, ReplicaRegion: aws.String("us-west-2")})
	wantCode(t, err, "ValidationException")
	_, err = west.ReplicateKey(bg, &kms.ReplicateKeyInput{KeyId: primary.KeyId, ReplicaRegion: aws.String("moon")})
	wantCode(t, err, "ValidationException")
}
