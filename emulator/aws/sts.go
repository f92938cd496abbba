package awsemu

import (
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
)

// serveSTS answers STS's GetCallerIdentity, the one STS call a KMS client needs: Terraform's AWS
// provider asks it for its account, without which it cannot write a key's default policy
// (aws_kms_key_policy's destroy restores that policy). It names the caller as the emulator maps
// its access key. STS speaks the AWS query protocol: a form body in, XML out.
func (c *call) serveSTS(w http.ResponseWriter, r *http.Request) {
	c.op = "sts:GetCallerIdentity"
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	form, formErr := url.ParseQuery(string(body))
	w.Header().Set("Content-Type", "text/xml")
	if r.Method != http.MethodPost || err != nil || formErr != nil || form.Get("Action") != "GetCallerIdentity" {
		w.WriteHeader(http.StatusBadRequest)
		out, _ := xml.Marshal(stsError{Type: "Sender", Code: "InvalidAction",
			Message: "This KMS emulator answers only the STS action GetCallerIdentity.", RequestID: c.requestID})
		_, _ = w.Write(out)
		c.logOutcome("InvalidAction")
		return
	}
	out, _ := xml.Marshal(callerIdentityResponse{
		Result:    callerIdentity{Arn: c.principal.arn, UserID: c.principal.account, Account: c.principal.account},
		RequestID: c.requestID,
	})
	_, _ = w.Write(out)
	c.logOutcome("ok")
}

type callerIdentityResponse struct {
	XMLName   xml.Name       `xml:"https://sts.amazonaws.com/doc/2011-06-15/ GetCallerIdentityResponse"`
	Result    callerIdentity `xml:"GetCallerIdentityResult"`
	RequestID string         `xml:"ResponseMetadata>RequestId"`
}

type callerIdentity struct {
	Arn     string `xml:"Arn"`
	UserID  string `xml:"UserId"`
	Account string `xml:"Account"`
}

type stsError struct {
	XMLName   xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ ErrorResponse"`
	Type      string   `xml:"Error>Type"`
	Code      string   `xml:"Error>Code"`
	Message   string   `xml:"Error>Message"`
	RequestID string   `xml:"RequestId"`
}
