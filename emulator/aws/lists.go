package awsemu

import (
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// pageInput holds the paging members of every list operation.
type pageInput struct {
	Limit  *int32
	Marker string
}

// paging is how one list operation pages: the member its entries are
// answered in, its default and largest page, and its longest marker.
type paging struct {
	member   string
	def, max int32
	marker   int
}

var (
	keysPaging        = paging{member: "Keys", def: 100, max: 1000, marker: 1024}
	aliasesPaging     = paging{member: "Aliases", def: 50, max: 100, marker: 1024}
	grantsPaging      = paging{member: "Grants", def: 50, max: 100, marker: 1024}
	keyPoliciesPaging = paging{member: "PolicyNames", def: 100, max: 1000, marker: 320}
	tagsPaging        = paging{member: "Tags", def: 50, max: 50, marker: 1024}
)

// page checks the paging members of a list request.
func (v *validator) page(in pageInput, p paging) {
	v.intRange("limit", in.Limit, 1, p.max)
	v.strLen("marker", in.Marker, 1, p.marker)
}

// listPage is the answer of every list operation: the page of items that
// in.Marker starts, sorted by sortKey (items is sorted in place), each made
// an entry, and the marker of the next page if there is one. Markers are
// opaque to clients: the base64 of the first sort key of the page they start.
func listPage[T, E any](in pageInput, p paging, items []T, sortKey func(T) string, entry func(T) E) (any, error) {
	start := ""
	if in.Marker != "" {
		b, err := base64.RawURLEncoding.DecodeString(in.Marker)
		if err != nil {
			return nil, newError(errInvalidMarker, "The marker is not valid.")
		}
		start = string(b)
	}
	n := int(p.def)
	if in.Limit != nil {
		n = int(*in.Limit)
	}
	slices.SortFunc(items, func(a, b T) int { return strings.Compare(sortKey(a), sortKey(b)) })
	i, _ := slices.BinarySearchFunc(items, start, func(it T, s string) int { return strings.Compare(sortKey(it), s) })
	rest := items[i:]
	out := map[string]any{"Truncated": len(rest) > n}
	if len(rest) > n {
		out["NextMarker"] = base64.RawURLEncoding.EncodeToString([]byte(sortKey(rest[n])))
		rest = rest[:n]
	}
	entries := make([]E, 0, len(rest))
	for _, it := range rest {
		entries = append(entries, entry(it))
	}
	out[p.member] = entries
	return out, nil
}

// itself is the entry of the lists whose items are their entries.
func itself[T any](t T) T { return t }

// seqKey makes creation order sort as text.
func seqKey(seq uint64) string { return fmt.Sprintf("%020d", seq) }

type keyListEntry struct {
	KeyId  string `json:"KeyId"`
	KeyArn string `json:"KeyArn"`
}

func (c *call) listKeys(body []byte) (any, error) {
	var in pageInput
	if err := decodeValid(body, &in, func(v *validator) { v.page(in, keysPaging) }); err != nil {
		return nil, err
	}
	return c.inRegion(func(r *region) (any, error) {
		return listPage(in, keysPaging, slices.Collect(maps.Values(r.keys)), func(k *key) string { return seqKey(k.seq) },
			func(k *key) keyListEntry { return keyListEntry{KeyId: k.id, KeyArn: k.arn} })
	})
}

// keyPageInput is the input of the lists of one key's things.
type keyPageInput struct {
	KeyId string
	pageInput
}

// withKeyPage decodes a keyPageInput and runs fn on its key with e.mu held.
func (c *call) withKeyPage(body []byte, p paging, action string, fn func(k *key, in pageInput) (any, error)) (any, error) {
	var in keyPageInput
	if err := decodeValid(body, &in, func(v *validator) {
		v.keyID(in.KeyId)
		v.page(in.pageInput, p)
	}); err != nil {
		return nil, err
	}
	return c.withKey(in.KeyId, access{action: action}, func(_ *region, k *key) (any, error) { return fn(k, in.pageInput) })
}

func (c *call) listKeyPolicies(body []byte) (any, error) {
	return c.withKeyPage(body, keyPoliciesPaging, "ListKeyPolicies", func(_ *key, in pageInput) (any, error) {
		// A key has exactly one policy, and KMS names it "default".
		return listPage(in, keyPoliciesPaging, []string{"default"}, itself, itself)
	})
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
		KeyId string
		pageInput
	}
	if err := decodeValid(body, &in, func(v *validator) {
		v.strLen("keyId", in.KeyId, 1, 2048)
		v.page(in.pageInput, aliasesPaging)
	}); err != nil {
		return nil, err
	}
	return c.inRegion(func(r *region) (any, error) {
		aliases := slices.Collect(maps.Values(r.aliases))
		if in.KeyId != "" {
			// Listing the aliases of a key needs no permission on it, as on AWS.
			k, err := c.resolveLocked(r, in.KeyId, keyOnly)
			if err != nil {
				return nil, err
			}
			aliases = slices.DeleteFunc(aliases, func(a *alias) bool { return a.keyID != k.id })
		}
		return listPage(in.pageInput, aliasesPaging, aliases, func(a *alias) string { return a.name },
			func(a *alias) aliasListEntry {
				return aliasListEntry{
					AliasName: a.name, AliasArn: aliasARN(r.name, c.e.account, a.name), TargetKeyId: a.keyID,
					CreationDate: epoch(a.created), LastUpdatedDate: epoch(a.updated),
				}
			})
	})
}

// aliasInput is the input of CreateAlias and UpdateAlias.
type aliasInput struct {
	AliasName   string
	TargetKeyId string
}

// decodeAlias reads and checks an alias request; target says whether it names a key.
func decodeAlias(body []byte, target bool) (aliasInput, error) {
	var in aliasInput
	if err := decodeValid(body, &in, func(v *validator) {
		v.required("aliasName", in.AliasName != "")
		v.strLen("aliasName", in.AliasName, 1, 256)
		if target {
			v.required("targetKeyId", in.TargetKeyId != "")
			v.strLen("targetKeyId", in.TargetKeyId, 1, 2048)
		}
	}); err != nil {
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

// withAlias decodes an alias request (target says whether it names a key),
// finds the alias in the call's region and authorizes action on the key it
// names, as AWS does (the permission is on the key); then it runs fn with
// e.mu held.
func (c *call) withAlias(body []byte, target bool, action string, fn func(r *region, a *alias, in aliasInput) (any, error)) (any, error) {
	in, err := decodeAlias(body, target)
	if err != nil {
		return nil, err
	}
	return c.inRegion(func(r *region) (any, error) {
		a, ok := r.aliases[in.AliasName]
		if !ok {
			return nil, newError(errNotFound, "Alias %s is not found.", aliasARN(r.name, c.e.account, in.AliasName))
		}
		k := r.keys[a.keyID]
		c.key = k.arn
		if err := c.authorizeLocked(k, access{action: action}); err != nil {
			return nil, err
		}
		return fn(r, a, in)
	})
}

func (c *call) deleteAlias(body []byte) (any, error) {
	return c.withAlias(body, false, "DeleteAlias", func(r *region, a *alias, _ aliasInput) (any, error) {
		delete(r.aliases, a.name)
		return nil, nil
	})
}

func (c *call) updateAlias(body []byte) (any, error) {
	return c.withAlias(body, true, "UpdateAlias", func(r *region, a *alias, in aliasInput) (any, error) {
		old := r.keys[a.keyID]
		k, err := c.keyLocked(r, in.TargetKeyId, access{action: "UpdateAlias"})
		if err != nil {
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
	})
}

func (c *call) createAlias(body []byte) (any, error) {
	in, err := decodeAlias(body, true)
	if err != nil {
		return nil, err
	}
	return c.withKey(in.TargetKeyId, access{action: "CreateAlias"}, func(r *region, k *key) (any, error) {
		if pendingDeletion(k) {
			return nil, errKeyPendingDeletion(k.arn)
		}
		if _, ok := r.aliases[in.AliasName]; ok {
			return nil, newError(errAlreadyExists, "An alias with the name %s already exists", aliasARN(r.name, c.e.account, in.AliasName))
		}
		r.aliases[in.AliasName] = &alias{name: in.AliasName, keyID: k.id, created: c.now, updated: c.now}
		return nil, nil
	})
}
