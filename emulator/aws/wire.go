package awsemu

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"time"
)

// blob is a binary member: base64 (standard alphabet, padded) on the wire.
type blob []byte

// errBadBase64 marks a blob that is not valid base64, which AWS reports as a
// validation problem rather than a serialization one.
var errBadBase64 = errors.New("blob is not valid base64")

// UnmarshalJSON decodes a base64 string strictly.
func (b *blob) UnmarshalJSON(data []byte) error {
	if bytes.Equal(data, []byte("null")) {
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	out, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return errBadBase64
	}
	*b = out
	return nil
}

// epoch is a timestamp, which awsJson1.1 writes as fractional epoch seconds.
type epoch time.Time

// MarshalJSON writes seconds with millisecond precision, as AWS does.
func (t epoch) MarshalJSON() ([]byte, error) {
	ms := time.Time(t).UnixMilli()
	return strconv.AppendFloat(nil, float64(ms)/1000, 'f', 3, 64), nil
}

func epochPtr(t time.Time) *epoch {
	if t.IsZero() {
		return nil
	}
	e := epoch(t)
	return &e
}

// decode reads a request body into in. Malformed JSON and members of the
// wrong type are SerializationException, bad base64 is ValidationException.
func decode(body []byte, in any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	err := json.Unmarshal(body, in)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errBadBase64):
		return newError(errValidation, "1 validation error detected: Value at a blob member failed to satisfy constraint: Member must be valid base64")
	default:
		return newError(errSerialization, "The request body is not valid JSON for this operation: %s", err.Error())
	}
}
