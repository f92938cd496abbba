package awsemu_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

const testAuth = "AWS4-HMAC-SHA256 Credential=AKIDROOT/20260301/us-west-2/kms/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"

// post sends one raw KMS request and returns the status, the error type
// (body __type and X-Amzn-ErrorType, which must agree) and the body.
func post(t *testing.T, url, target, auth, body string) (int, string, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	ok(t, err)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if target != "" {
		req.Header.Set("X-Amz-Target", "TrentService."+target)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	ok(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	ok(t, err)
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		t.Errorf("Content-Type = %q", ct)
	}
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("body is not JSON: %q", raw)
		}
	}
	typ, _ := out["__type"].(string)
	if h := resp.Header.Get("X-Amzn-ErrorType"); h != typ {
		t.Errorf("X-Amzn-ErrorType %q, body __type %q", h, typ)
	}
	if typ != "" {
		if msg, _ := out["message"].(string); msg == "" {
			t.Errorf("%s without a message", typ)
		}
	}
	return resp.StatusCode, typ, out
}

func TestRawHTTP_ErrorsAsAWS(t *testing.T) {
	t.Parallel()
	e := setup(t)
	cases := []struct {
		name, target, auth, body string
		status                   int
		want                     string
	}{
		{"no authorization", "DescribeKey", "", `{"KeyId":"alias/aws/cmekd-test"}`, 400, "MissingAuthenticationTokenException"},
		{"not SigV4", "DescribeKey", "Bearer x", `{}`, 400, "IncompleteSignatureException"},
		{"no signature", "DescribeKey", "AWS4-HMAC-SHA256 Credential=A/20260301/us-west-2/kms/aws4_request, SignedHeaders=host", `{}`, 400, "IncompleteSignatureException"},
		{"short scope", "DescribeKey", "AWS4-HMAC-SHA256 Credential=A/us-west-2/kms, SignedHeaders=host, Signature=0", `{}`, 400, "IncompleteSignatureException"},
		{"other service", "DescribeKey", "AWS4-HMAC-SHA256 Credential=A/20260301/us-west-2/s3/aws4_request, SignedHeaders=host, Signature=0", `{}`, 400, "InvalidSignatureException"},
		{"bad region", "DescribeKey", "AWS4-HMAC-SHA256 Credential=A/20260301/Mars/kms/aws4_request, SignedHeaders=host, Signature=0", `{}`, 400, "InvalidSignatureException"},
		{"unknown target", "Frobnicate", testAuth, `{}`, 400, "UnknownOperationException"},
		{"no target", "", testAuth, `{}`, 400, "UnknownOperationException"},
		{"unmodelled KMS operation", "Sign", testAuth, `{}`, 400, "UnsupportedOperationException"},
		{"malformed JSON", "DescribeKey", testAuth, `{"KeyId":`, 400, "SerializationException"},
		{"JSON array", "DescribeKey", testAuth, `[]`, 400, "SerializationException"},
		{"wrong member type", "DescribeKey", testAuth, `{"KeyId":42}`, 400, "SerializationException"},
		{"trailing garbage", "DescribeKey", testAuth, `{"KeyId":"alias/aws/cmekd-test"} x`, 400, "SerializationException"},
		{"missing KeyId", "DescribeKey", testAuth, `{}`, 400, "ValidationException"},
		{"empty body", "Encrypt", testAuth, ``, 400, "ValidationException"},
		{"bad base64", "Encrypt", testAuth, `{"KeyId":"alias/aws/cmekd-test","Plaintext":"***"}`, 400, "ValidationException"},
		{"unpadded base64", "Decrypt", testAuth, `{"CiphertextBlob":"QUJD"}`, 400, "InvalidCiphertextException"},
		{"empty plaintext", "Encrypt", testAuth, `{"KeyId":"alias/aws/cmekd-test","Plaintext":""}`, 400, "ValidationException"},
		{"KeyId too long", "DescribeKey", testAuth, `{"KeyId":"` + strings.Repeat("k", 2049) + `"}`, 400, "ValidationException"},
		{"grant without operations", "CreateGrant", testAuth, `{"KeyId":"alias/aws/cmekd-test","GranteePrincipal":"111122223333"}`, 400, "ValidationException"},
		{"unknown enum", "CreateKey", testAuth, `{"KeyUsage":"DESTROY"}`, 400, "ValidationException"},
		{"ok", "DescribeKey", testAuth, `{"KeyId":"alias/aws/cmekd-test","Unknown":"members are ignored"}`, 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status, typ, _ := post(t, e.url, tc.target, tc.auth, tc.body)
			if status != tc.status || typ != tc.want {
				t.Errorf("got %d %q, want %d %q", status, typ, tc.status, tc.want)
			}
		})
	}
}

func TestRawHTTP_ValidationListsEveryProblem(t *testing.T) {
	t.Parallel()
	e := setup(t)
	_, typ, body := post(t, e.url, "GenerateDataKey", testAuth, `{"NumberOfBytes":2000,"KeySpec":"AES_999"}`)
	msg, _ := body["message"].(string)
	if typ != "ValidationException" || !strings.HasPrefix(msg, "3 validation errors detected: ") ||
		!strings.Contains(msg, "Value null at 'keyId' failed to satisfy constraint: Member must not be null") ||
		!strings.Contains(msg, "'numberOfBytes'") || !strings.Contains(msg, "'keySpec'") {
		t.Errorf("%s: %q", typ, msg)
	}
}

func TestRawHTTP_TimestampsAreEpochSeconds(t *testing.T) {
	t.Parallel()
	e := setup(t)
	status, _, body := post(t, e.url, "CreateKey", testAuth, `{}`)
	md, _ := body["KeyMetadata"].(map[string]any)
	created, isNumber := md["CreationDate"].(float64)
	if status != 200 || !isNumber || int64(created) != e.clock.Now().Unix() {
		t.Errorf("CreationDate = %#v (%T)", md["CreationDate"], md["CreationDate"])
	}
	if _, isBool := md["MultiRegion"].(bool); !isBool {
		t.Errorf("MultiRegion = %#v", md["MultiRegion"])
	}
}

func TestRawHTTP_STSGetCallerIdentityNamesTheMappedPrincipal(t *testing.T) {
	t.Parallel()
	e := setup(t)
	stsAuth := func(akid string) string {
		return "AWS4-HMAC-SHA256 Credential=" + akid + "/20260301/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=00"
	}
	for _, tc := range []struct {
		akid, body string
		status     int
		want       []string
	}{
		{akidPlatform, "Action=GetCallerIdentity&Version=2011-06-15", 200,
			[]string{"<Arn>" + platformRole + "</Arn>", "<Account>999988887777</Account>"}},
		{akidRoot, "Action=GetCallerIdentity&Version=2011-06-15", 200,
			[]string{"<Arn>arn:aws:iam::111122223333:root</Arn>", "<Account>111122223333</Account>"}},
		{akidRoot, "Action=AssumeRole&Version=2011-06-15", 400, []string{"<Code>InvalidAction</Code>"}},
	} {
		req, err := http.NewRequest(http.MethodPost, e.url, strings.NewReader(tc.body))
		ok(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", stsAuth(tc.akid))
		resp, err := http.DefaultClient.Do(req)
		ok(t, err)
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: status %d: %s", tc.akid, tc.body, resp.StatusCode, raw)
		}
		for _, w := range tc.want {
			if !strings.Contains(string(raw), w) {
				t.Errorf("%s %s: %s lacks %s", tc.akid, tc.body, raw, w)
			}
		}
	}
}
