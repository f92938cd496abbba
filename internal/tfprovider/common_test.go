package tfprovider

import (
	"net/http"
	"testing"

	"github.com/cmekd/cmekd/client"
)

func TestMayPassSoon_RetriesOnlyWhatTimeFixes(t *testing.T) {
	t.Parallel()
	answer := func(status int, body string) (*http.Response, []byte) {
		return &http.Response{StatusCode: status, Header: http.Header{}}, []byte(body)
	}
	failedWith := func(codes ...string) string {
		checks := `{"name":"arn","ok":true}`
		for _, c := range codes {
			checks += `,{"name":"x","ok":false,"code":"` + c + `"}`
		}
		return `{"error":{"code":"key_verification_failed","message":"m","details":{"checks":[` + checks + `]}},"request_id":"r"}`
	}
	for _, c := range []struct {
		name   string
		status int
		body   string
		want   bool
	}{
		{"created", 201, `{}`, false},
		{"policy not applied yet", 422, failedWith("access_denied", "skipped", "skipped"), true},
		{"replica on its way", 422, failedWith("key_not_found", "skipped"), true},
		{"kms unreachable", 422, failedWith("kms_unavailable"), true},
		{"key disabled", 422, failedWith("key_disabled", "skipped"), false},
		{"wrong spec beside a denial", 422, failedWith("wrong_key_spec", "access_denied"), false},
		{"bad arn", 422, `{"error":{"code":"alias_not_supported","message":"m","details":{}},"request_id":"r"}`, false},
		{"name taken", 409, `{"error":{"code":"org_name_taken","message":"m","details":{}},"request_id":"r"}`, false},
	} {
		resp, body := answer(c.status, c.body)
		if got := mayPassSoon(resp, body); got != c.want {
			t.Errorf("%s: mayPassSoon = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestAnswerOf_IsTheGeneratedResponsesHTTPResponse(t *testing.T) {
	t.Parallel()
	want := &http.Response{StatusCode: http.StatusNotFound}
	if got := answerOf(&client.GetOrgResponse{HTTPResponse: want}); got != want {
		t.Errorf("answerOf = %v, want the response's HTTPResponse %v", got, want)
	}
}
