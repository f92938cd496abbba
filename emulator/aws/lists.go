package awsemu

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
)

// paginate returns one page of items, which are sorted by sortKey, starting at
// marker, and the marker of the next page ("" on the last). Markers are
// opaque to clients: the base64 of the first sort key of the page they start.
func paginate[T any](items []T, sortKey func(T) string, limit *int32, def int, marker string) ([]T, string, error) {
	start := ""
	if marker != "" {
		b, err := base64.RawURLEncoding.DecodeString(marker)
		if err != nil {
			return nil, "", newError(errInvalidMarker, "The marker is not valid.")
		}
		start = string(b)
	}
	n := def
	if limit != nil {
		n = int(*limit)
	}
	i, _ := slices.BinarySearchFunc(items, start, func(it T, s string) int { return strings.Compare(sortKey(it), s) })
	rest := items[i:]
	if len(rest) > n {
		return rest[:n], base64.RawURLEncoding.EncodeToString([]byte(sortKey(rest[n]))), nil
	}
	return rest, "", nil
}

// seqKey makes creation order sort as text.
func seqKey(seq uint64) string { return fmt.Sprintf("%020d", seq) }

// listOutput is the shape of every paginated KMS list.
func listOutput[T any](member string, entries []T, next string) map[string]any {
	out := map[string]any{member: entries, "Truncated": next != ""}
	if next != "" {
		out["NextMarker"] = next
	}
	return out
}

type keyListEntry struct {
	KeyId  string `json:"KeyId"`
	KeyArn string `json:"KeyArn"`
}

func (c *call) listKeys(body []byte) (any, error) {
	var in struct {
		Limit  *int32
		Marker string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.intRange("limit", in.Limit, 1, 1000)
	v.strLen("marker", in.Marker, 1, 1024)
	if err := v.err(); err != nil {
		return nil, err
	}
	c.e.mu.Lock()
	r := c.e.regionLocked(c.region, c.now)
	entries := make([]*key, 0, len(r.keys))
	for _, k := range r.keys {
		entries = append(entries, k)
	}
	c.e.mu.Unlock()
	slices.SortFunc(entries, func(a, b *key) int { return cmp.Compare(a.seq, b.seq) })
	page, next, err := paginate(entries, func(k *key) string { return seqKey(k.seq) }, in.Limit, 100, in.Marker)
	if err != nil {
		return nil, err
	}
	out := make([]keyListEntry, 0, len(page))
	for _, k := range page {
		out = append(out, keyListEntry{KeyId: k.id, KeyArn: k.arn})
	}
	return listOutput("Keys", out, next), nil
}

type aliasListEntry struct {
	AliasName       string `json:"AliasName"`
	AliasArn        string `json:"AliasArn"`
	TargetKeyId     string `json:"TargetKeyId"`
	CreationDate    epoch  `json:"CreationDate"`
	LastUpdatedDate epoch  `json:"LastUpdatedDate"`
}

func (c *call) listAliases(body []byte) (any, error) {
	var in struct {
		KeyId  string
		Limit  *int32
		Marker string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.strLen("keyId", in.KeyId, 1, 2048)
	v.intRange("limit", in.Limit, 1, 100)
	v.strLen("marker", in.Marker, 1, 1024)
	if err := v.err(); err != nil {
		return nil, err
	}
	c.e.mu.Lock()
	r := c.e.regionLocked(c.region, c.now)
	target := ""
	if in.KeyId != "" {
		k, err := c.resolveLocked(r, in.KeyId, keyOnly)
		if err != nil {
			c.e.mu.Unlock()
			return nil, err
		}
		target = k.id
	}
	var entries []aliasListEntry
	for _, a := range r.aliases {
		if target == "" || a.keyID == target {
			entries = append(entries, aliasListEntry{
				AliasName: a.name, AliasArn: aliasARN(r.name, c.e.account, a.name), TargetKeyId: a.keyID,
				CreationDate: epoch(a.created), LastUpdatedDate: epoch(a.updated),
			})
		}
	}
	c.e.mu.Unlock()
	slices.SortFunc(entries, func(a, b aliasListEntry) int { return strings.Compare(a.AliasName, b.AliasName) })
	page, next, err := paginate(entries, func(a aliasListEntry) string { return a.AliasName }, in.Limit, 50, in.Marker)
	if err != nil {
		return nil, err
	}
	return listOutput("Aliases", page, next), nil
}

// aliasInput is the input of CreateAlias and UpdateAlias.
type aliasInput struct {
	AliasName   string
	TargetKeyId string
}

// decodeAlias reads and checks an alias request; target says whether it names a key.
func decodeAlias(body []byte, target bool) (aliasInput, error) {
	var in aliasInput
	if err := decode(body, &in); err != nil {
		return in, err
	}
	var v validator
	v.required("aliasName", in.AliasName != "")
	v.strLen("aliasName", in.AliasName, 1, 256)
	if target {
		v.required("targetKeyId", in.TargetKeyId != "")
		v.strLen("targetKeyId", in.TargetKeyId, 1, 2048)
	}
	if err := v.err(); err != nil {
		return in, err
	}
	switch {
	case !aliasNamePattern.MatchString(in.AliasName):
		return in, newError(errValidation, "1 validation error detected: Value '%s' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^alias/[a-zA-Z0-9/_-]+$", in.AliasName)
	case strings.HasPrefix(in.AliasName, "alias/aws/"):
		return in, newError("InvalidAliasNameException", "Alias must not begin with 'alias/aws/'. The alias/aws/ prefix is reserved for AWS managed keys.")
	}
	return in, nil
}

// aliasLocked finds an alias of the call's region and authorizes action on
// the key it names, as AWS does (the permission is on the key).
func (c *call) aliasLocked(r *region, name, action string) (*alias, error) {
	a, ok := r.aliases[name]
	if !ok {
		return nil, newError(errNotFound, "Alias %s is not found.", aliasARN(r.name, c.e.account, name))
	}
	k := r.keys[a.keyID]
	c.key = k.arn
	if err := c.authorizeLocked(k, action, nil, nil); err != nil {
		return nil, err
	}
	return a, nil
}

func (c *call) deleteAlias(body []byte) (any, error) {
	in, err := decodeAlias(body, false)
	if err != nil {
		return nil, err
	}
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	r := c.e.regionLocked(c.region, c.now)
	if _, err := c.aliasLocked(r, in.AliasName, "DeleteAlias"); err != nil {
		return nil, err
	}
	delete(r.aliases, in.AliasName)
	return nil, nil
}

func (c *call) updateAlias(body []byte) (any, error) {
	in, err := decodeAlias(body, true)
	if err != nil {
		return nil, err
	}
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	r := c.e.regionLocked(c.region, c.now)
	a, err := c.aliasLocked(r, in.AliasName, "UpdateAlias")
	if err != nil {
		return nil, err
	}
	old := r.keys[a.keyID]
	k, err := c.resolveLocked(r, in.TargetKeyId, keyOnly)
	if err != nil {
		return nil, err
	}
	if err := c.authorizeLocked(k, "UpdateAlias", nil, nil); err != nil {
		return nil, err
	}
	switch {
	case pendingDeletion(k):
		return nil, errKeyPendingDeletion(k.arn)
	case k.manager != managerCustomer:
		return nil, newError(errNotFound, "Alias cannot point to an AWS managed key.")
	case k.spec != old.spec || k.usage != old.usage:
		// AWS keeps an alias on keys of one type, so that code using it keeps working.
		return nil, newError(errValidation, "The new target key %s has key spec %s and usage %s; the current one has %s and %s.",
			k.arn, k.spec, k.usage, old.spec, old.usage)
	}
	a.keyID, a.updated = k.id, c.now
	return nil, nil
}

func (c *call) createAlias(body []byte) (any, error) {
	in, err := decodeAlias(body, true)
	if err != nil {
		return nil, err
	}
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	r := c.e.regionLocked(c.region, c.now)
	k, err := c.resolveLocked(r, in.TargetKeyId, keyOnly)
	if err != nil {
		return nil, err
	}
	if err := c.authorizeLocked(k, "CreateAlias", nil, nil); err != nil {
		return nil, err
	}
	if pendingDeletion(k) {
		return nil, errKeyPendingDeletion(k.arn)
	}
	if _, ok := r.aliases[in.AliasName]; ok {
		return nil, newError(errAlreadyExists, "An alias with the name %s already exists", aliasARN(r.name, c.e.account, in.AliasName))
	}
	r.aliases[in.AliasName] = &alias{name: in.AliasName, keyID: k.id, created: c.now, updated: c.now}
	return nil, nil
}
