package awsemu_test

import (
	"bytes"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// BenchmarkGenerateDataKeyDecrypt measures the envelope round trip cmekd
// makes per data key — GenerateDataKey then Decrypt — through the real SDK
// client over loopback HTTP, with the key policy evaluated on each call.
func BenchmarkGenerateDataKeyDecrypt(b *testing.B) {
	e := setup(b)
	c := e.root()
	out, err := c.CreateKey(bg, &kms.CreateKeyInput{})
	if err != nil {
		b.Fatal(err)
	}
	keyARN := out.KeyMetadata.Arn
	encCtx := map[string]string{"cmekd:org": "org_1", "cmekd:collection": "col_1"}
	b.ReportAllocs()
	for b.Loop() {
		dk, err := c.GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: keyARN, KeySpec: types.DataKeySpecAes256, EncryptionContext: encCtx})
		if err != nil {
			b.Fatal(err)
		}
		dec, err := c.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: encCtx, KeyId: aws.String(*keyARN)})
		if err != nil || !bytes.Equal(dec.Plaintext, dk.Plaintext) {
			b.Fatalf("decrypt: %v", err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "roundtrips/s")
}
