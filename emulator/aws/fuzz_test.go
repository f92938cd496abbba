package awsemu_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	awsemu "github.com/cmekd/cmekd/emulator/aws"
)

// errorNames are every error the emulator may answer; anything else in
// __type is a bug.
var errorNames = []string{
	"AccessDeniedException", "AlreadyExistsException", "DisabledException", "DryRunOperationException",
	"IncompleteSignatureException", "IncorrectKeyException", "InvalidAliasNameException",
	"InvalidCiphertextException", "InvalidGrantIdException", "InvalidGrantTokenException",
	"InvalidKeyUsageException", "InvalidMarkerException", "InvalidSignatureException",
	"KMSInvalidStateException", "LimitExceededException", "MalformedPolicyDocumentException",
	"MissingAuthenticationTokenException", "NotFoundException", "SerializationException", "TagException",
	"UnknownOperationException", "UnsupportedOperationException", "ValidationException",
}

// call sends one request straight to the handler (no network: fuzzing wants
// many executions per second) and checks what every answer must satisfy.
func call(t testing.TB, h http.Handler, target, body string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	req.Header.Set("X-Amz-Target", "TrentService."+target)
	req.Header.Set("Authorization", testAuth)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out map[string]any
	if rec.Body.Len() > 0 {
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s: body is not a JSON object: %q", target, rec.Body.Bytes())
		}
	}
	switch rec.Code {
	case http.StatusOK:
	case http.StatusBadRequest:
		if typ, _ := out["__type"].(string); !slices.Contains(errorNames, typ) || rec.Header().Get("X-Amzn-ErrorType") != typ {
			t.Fatalf("%s %q: unexpected error %q", target, body, rec.Body.Bytes())
		}
	default:
		t.Fatalf("%s %q: status %d: %s", target, body, rec.Code, rec.Body.Bytes())
	}
	return rec.Code, out
}

// fuzzFixture is a fresh emulator holding one customer key (its id and ARN
// replace $KEY and $ARN in fuzzed bodies) and a ciphertext under it ($BLOB,
// encryption context {"a":"b"}), so that fuzzing reaches past key lookup.
func fuzzFixture(t testing.TB) (http.Handler, *strings.Replacer) {
	em := awsemu.New(awsemu.Options{})
	_, created := call(t, em, "CreateKey", `{}`)
	md := created["KeyMetadata"].(map[string]any)
	id, arn := md["KeyId"].(string), md["Arn"].(string)
	_, enc := call(t, em, "Encrypt", `{"KeyId":"`+id+`","Plaintext":"aGVsbG8=","EncryptionContext":{"a":"b"}}`)
	return em, strings.NewReplacer("$KEY", id, "$ARN", arn, "$BLOB", enc["CiphertextBlob"].(string))
}

// fuzzTargets are the operations FuzzRequest drives, indexed by its first
// argument; "Frobnicate" is not an operation at all. New operations go at the
// end, so that the corpus in testdata keeps meaning what it meant.
var fuzzTargets = []string{"CancelKeyDeletion", "CreateAlias", "CreateGrant", "CreateKey", "Decrypt",
	"DescribeKey", "DisableKey", "EnableKey", "EnableKeyRotation", "Encrypt", "GenerateDataKey",
	"GenerateDataKeyWithoutPlaintext", "GetKeyPolicy", "GetKeyRotationStatus", "ListAliases", "ListGrants",
	"ListKeys", "PutKeyPolicy", "ReEncrypt", "ReplicateKey", "RetireGrant", "RevokeGrant",
	"ScheduleKeyDeletion", "Frobnicate", "TagResource", "UntagResource", "ListResourceTags", "DeleteAlias",
	"UpdateAlias", "DisableKeyRotation", "ListKeyPolicies", "UpdateKeyDescription", "UpdatePrimaryRegion"}

func FuzzRequest(f *testing.F) {
	seeds := map[string][]string{
		"CreateKey": {`{}`, `{"KeySpec":"HMAC_256","KeyUsage":"GENERATE_VERIFY_MAC","MultiRegion":true}`,
			`{"Policy":"{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"kms:*\",\"Resource\":\"*\"}}"}`},
		"DescribeKey":                     {`{"KeyId":"$KEY"}`, `{"KeyId":"alias/aws/cmekd-test"}`, `{"KeyId":"arn:aws:kms:us-west-2:111122223333:alias/x"}`},
		"ListKeys":                        {`{"Limit":1}`, `{"Marker":"MDAwMDAwMDAwMDAwMDAwMDAwMDI"}`},
		"EnableKey":                       {`{"KeyId":"$ARN"}`},
		"DisableKey":                      {`{"KeyId":"$KEY"}`},
		"ScheduleKeyDeletion":             {`{"KeyId":"$KEY","PendingWindowInDays":7}`},
		"CancelKeyDeletion":               {`{"KeyId":"$KEY"}`},
		"ReplicateKey":                    {`{"KeyId":"$KEY","ReplicaRegion":"eu-west-1"}`},
		"CreateAlias":                     {`{"AliasName":"alias/a","TargetKeyId":"$KEY"}`},
		"ListAliases":                     {`{"KeyId":"$KEY","Limit":1}`},
		"GetKeyPolicy":                    {`{"KeyId":"$KEY","PolicyName":"default"}`},
		"PutKeyPolicy":                    {`{"KeyId":"$KEY","Policy":"{\"Statement\":[{\"Effect\":\"Deny\",\"NotPrincipal\":{\"AWS\":[\"111122223333\"]},\"NotAction\":\"kms:Get*\",\"NotResource\":\"x\",\"Condition\":{\"ForAnyValue:StringLikeIfExists\":{\"kms:EncryptionContextKeys\":[\"a*\"]}}}]}","BypassPolicyLockoutSafetyCheck":true}`},
		"Encrypt":                         {`{"KeyId":"$KEY","Plaintext":"aGk=","EncryptionContext":{"a":"b"}}`},
		"Decrypt":                         {`{"CiphertextBlob":"$BLOB","EncryptionContext":{"a":"b"}}`, `{"CiphertextBlob":"$BLOB","KeyId":"$ARN"}`},
		"ReEncrypt":                       {`{"CiphertextBlob":"$BLOB","SourceEncryptionContext":{"a":"b"},"DestinationKeyId":"alias/aws/cmekd-test"}`},
		"GenerateDataKey":                 {`{"KeyId":"$KEY","KeySpec":"AES_256"}`, `{"KeyId":"$ARN","NumberOfBytes":7,"DryRun":true}`},
		"CreateGrant":                     {`{"KeyId":"$KEY","GranteePrincipal":"arn:aws:iam::999988887777:root","Operations":["Decrypt"],"Name":"n","Constraints":{"EncryptionContextSubset":{"a":"b"}}}`},
		"ListGrants":                      {`{"KeyId":"$KEY","Limit":1}`},
		"RetireGrant":                     {`{"GrantToken":"abc"}`, `{"KeyId":"$KEY","GrantId":"0000000000000000000000000000000000000000000000000000000000000000"}`},
		"RevokeGrant":                     {`{"KeyId":"$KEY","GrantId":"x"}`},
		"EnableKeyRotation":               {`{"KeyId":"$KEY","RotationPeriodInDays":100}`},
		"GetKeyRotationStatus":            {`{"KeyId":"$KEY"}`},
		"GenerateDataKeyWithoutPlaintext": {`{"KeyId":"$KEY","KeySpec":"AES_128"}`},
		"Frobnicate":                      {`{}`},
		"TagResource":                     {`{"KeyId":"$KEY","Tags":[{"TagKey":"a","TagValue":"b"},{"TagKey":"aws:x","TagValue":""}]}`},
		"UntagResource":                   {`{"KeyId":"$ARN","TagKeys":["a",""]}`},
		"ListResourceTags":                {`{"KeyId":"$KEY","Limit":1,"Marker":"YQ"}`},
		"DeleteAlias":                     {`{"AliasName":"alias/aws/cmekd-test"}`, `{"AliasName":"alias/none"}`},
		"UpdateAlias":                     {`{"AliasName":"alias/aws/cmekd-test","TargetKeyId":"$KEY"}`},
		"DisableKeyRotation":              {`{"KeyId":"$KEY"}`},
		"ListKeyPolicies":                 {`{"KeyId":"$ARN","Limit":1}`},
		"UpdateKeyDescription":            {`{"KeyId":"$KEY","Description":""}`, `{"KeyId":"$KEY"}`},
		"UpdatePrimaryRegion":             {`{"KeyId":"$KEY","PrimaryRegion":"eu-west-1"}`},
	}
	for op, bodies := range seeds {
		i := slices.Index(fuzzTargets, op)
		for _, b := range bodies {
			f.Add(uint8(i), []byte(b))
		}
	}
	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		h, vars := fuzzFixture(t)
		call(t, h, fuzzTargets[int(op)%len(fuzzTargets)], vars.Replace(string(body)))
	})
}

func FuzzCiphertext(f *testing.F) {
	em := awsemu.New(awsemu.Options{})
	_, enc := call(f, em, "Encrypt", `{"KeyId":"alias/aws/cmekd-test","Plaintext":"c2VjcmV0"}`)
	genuine, _ := base64.StdEncoding.DecodeString(enc["CiphertextBlob"].(string))
	f.Add(genuine)
	f.Add(append(awsemu.EncodeBlobHeader("us-west-2", "mrk-00000000000000000000000000000000"), make([]byte, 28)...))
	f.Add([]byte{1, 0, 0})
	f.Fuzz(func(t *testing.T, blob []byte) {
		region, keyID, header, nonce, sealed, parsed := awsemu.ParseBlob(blob)
		if parsed {
			if !bytes.Equal(awsemu.EncodeBlobHeader(region, keyID), header) ||
				!bytes.Equal(slices.Concat(header, nonce, sealed), blob) || len(nonce) != 12 || len(sealed) < 16 {
				t.Fatalf("parse of %x does not round-trip: %q %q", blob, region, keyID)
			}
		}
		if len(blob) == 0 || len(blob) > 6144 {
			return
		}
		status, out := call(t, em, "Decrypt", `{"CiphertextBlob":"`+base64.StdEncoding.EncodeToString(blob)+`"}`)
		switch {
		case bytes.Equal(blob, genuine):
			if status != http.StatusOK || out["Plaintext"] != "c2VjcmV0" {
				t.Fatalf("genuine ciphertext: %d %v", status, out)
			}
		case status == http.StatusOK:
			t.Fatalf("forged ciphertext %x decrypted to %v", blob, out["Plaintext"])
		case out["__type"] != "InvalidCiphertextException":
			t.Fatalf("ciphertext %x: %v, want InvalidCiphertextException", blob, out["__type"])
		}
	})
}
