package keyevents

import (
	"cmp"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/keyarn"
)

// Event is what cmekd reads of one EventBridge event: who it says it is, and the keys it names.
type Event struct {
	ID         string
	DetailType string
	Source     string
	Account    string
	Region     string
	// Name is the CloudTrail event name (DisableKey, …), or the detail type of an event without one
	// (KMS CMK Deletion).
	Name string
	// Keys are the key ARNs or key ids the event names: its resources, the request's keyId, the
	// detail's key-id and the ARNs of the detail's resources, as written.
	Keys []string
}

// maxField bounds what of an event's strings cmekd keeps (its id and name, on record).
const maxField = 256

// errMalformed is a body that is not one EventBridge event.
var errMalformed = domain.Errorf(domain.KindMalformed, domain.CodeInvalidJSON,
	"the body must be one EventBridge event: a JSON object with string id, source and detail-type")

// Parse reads one EventBridge event. It is strict about the fields it uses (strings, text, bounded)
// and ignores the rest, as a receiver of events that grow new fields must.
func Parse(body []byte) (Event, error) {
	if !utf8.Valid(body) {
		return Event{}, errMalformed
	}
	var raw struct {
		ID         string          `json:"id"`
		DetailType string          `json:"detail-type"`
		Source     string          `json:"source"`
		Account    string          `json:"account"`
		Region     string          `json:"region"`
		Resources  []string        `json:"resources"`
		Detail     json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return Event{}, errMalformed
	}
	ev := Event{ID: raw.ID, DetailType: raw.DetailType, Source: raw.Source, Account: raw.Account, Region: raw.Region}
	if ev.ID == "" || ev.DetailType == "" || ev.Source == "" {
		return Event{}, errMalformed
	}
	ev.Keys = append(ev.Keys, raw.Resources...)
	var detail struct {
		EventName         string `json:"eventName"`
		KeyID             string `json:"key-id"`
		RequestParameters struct {
			KeyID string `json:"keyId"`
		} `json:"requestParameters"`
		// A CloudTrail record names the key here (its top-level resources is empty).
		Resources []struct {
			ARN string `json:"ARN"`
		} `json:"resources"`
	}
	if len(raw.Detail) > 0 && string(raw.Detail) != "null" {
		if err := json.Unmarshal(raw.Detail, &detail); err != nil {
			return Event{}, errMalformed
		}
	}
	for _, s := range []string{ev.ID, ev.DetailType, ev.Source, ev.Account, ev.Region, detail.EventName} {
		if !text(s) {
			return Event{}, errMalformed
		}
	}
	ev.Name = cmp.Or(detail.EventName, ev.DetailType)
	keys := []string{detail.RequestParameters.KeyID, detail.KeyID}
	for _, r := range detail.Resources {
		keys = append(keys, r.ARN)
	}
	for _, k := range keys {
		if k != "" {
			ev.Keys = append(ev.Keys, k)
		}
	}
	return ev, nil
}

// text reports whether s is a string cmekd may keep: bounded, without NUL (which PostgreSQL refuses).
func text(s string) bool { return len(s) <= maxField && !strings.ContainsRune(s, 0) }

// Match returns the links whose key the event names: a key ARN as is, or a bare key id in the
// event's own account and region. An alias, or a key of another account or region, names no link.
func Match(ev Event, links []domain.KeyLink) []domain.KeyLink {
	named := map[string]bool{}
	for _, k := range ev.Keys {
		if arn, ok := keyARN(k, ev.Account, ev.Region); ok {
			named[arn] = true
		}
	}
	var out []domain.KeyLink
	for _, l := range links {
		if named[l.KeyARN] {
			out = append(out, l)
		}
	}
	return out
}

// keyARN is the key ARN that k names in an event of account and region: k itself when it is a key
// ARN, or the ARN of key id k there.
func keyARN(k, account, region string) (string, bool) {
	if strings.HasPrefix(k, "arn:") {
		parts := strings.SplitN(k, ":", 6)
		return k, len(parts) == 6 && parts[2] == "kms" && strings.HasPrefix(parts[5], "key/")
	}
	if k == "" || strings.ContainsAny(k, ":/") || account == "" || region == "" {
		return "", false // an alias, or an id without the place to read it in
	}
	return "arn:" + keyarn.PartitionOf(region) + ":kms:" + region + ":" + account + ":key/" + k, true
}
