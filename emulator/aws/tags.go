package awsemu

import (
	"slices"
	"strings"
)

// tag is KMS's Tag structure.
type tag struct {
	TagKey   string `json:"TagKey"`
	TagValue string `json:"TagValue"`
}

// maxTags is how many tags KMS lets a key have.
const maxTags = 50

// tags checks a Tags member's shape.
func (v *validator) tags(tags []tag) {
	for _, t := range tags {
		v.required("tags.member.tagKey", t.TagKey != "")
		v.strLen("tags.member.tagKey", t.TagKey, 1, 128)
		v.strLen("tags.member.tagValue", t.TagValue, 0, 256)
	}
}

// checkTags refuses tags KMS refuses: AWS's reserved prefix and too many.
func checkTags(tags []tag) error {
	for _, t := range tags {
		if strings.HasPrefix(t.TagKey, "aws:") {
			return newError("TagException", "Tags beginning with aws: are reserved.")
		}
	}
	if len(tags) > maxTags {
		return newError("LimitExceededException", "A key can have at most %d tags.", maxTags)
	}
	return nil
}

func setTags(k *key, tags []tag) {
	for _, t := range tags {
		k.tags[t.TagKey] = t.TagValue
	}
}

// tagList is a key's tags in key order.
func tagList(k *key) []tag {
	out := make([]tag, 0, len(k.tags))
	for key, val := range k.tags {
		out = append(out, tag{key, val})
	}
	slices.SortFunc(out, func(a, b tag) int { return strings.Compare(a.TagKey, b.TagKey) })
	return out
}

func (c *call) tagResource(body []byte) (any, error) {
	var in struct {
		KeyId string
		Tags  []tag
	}
	if err := decodeValid(body, &in, func(v *validator) {
		v.keyID(in.KeyId)
		v.required("tags", in.Tags != nil)
		v.tags(in.Tags)
	}); err != nil {
		return nil, err
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	return c.withKey(in.KeyId, access{action: "TagResource"}, func(_ *region, k *key) (any, error) {
		if err := checkSettled(k); err != nil {
			return nil, err
		}
		added := 0
		for _, t := range in.Tags {
			if _, ok := k.tags[t.TagKey]; !ok {
				added++
			}
		}
		if len(k.tags)+added > maxTags {
			return nil, newError("LimitExceededException", "A key can have at most %d tags.", maxTags)
		}
		setTags(k, in.Tags)
		return nil, nil
	})
}

func (c *call) untagResource(body []byte) (any, error) {
	var in struct {
		KeyId   string
		TagKeys []string
	}
	if err := decodeValid(body, &in, func(v *validator) {
		v.keyID(in.KeyId)
		v.required("tagKeys", in.TagKeys != nil)
		for _, key := range in.TagKeys {
			v.required("tagKeys.member", key != "")
			v.strLen("tagKeys.member", key, 1, 128)
		}
	}); err != nil {
		return nil, err
	}
	return c.withKey(in.KeyId, access{action: "UntagResource"}, func(_ *region, k *key) (any, error) {
		if err := checkSettled(k); err != nil {
			return nil, err
		}
		for _, key := range in.TagKeys {
			delete(k.tags, key)
		}
		return nil, nil
	})
}

func (c *call) listResourceTags(body []byte) (any, error) {
	return c.withKeyPage(body, tagsPaging, "ListResourceTags", func(k *key, in pageInput) (any, error) {
		return listPage(in, tagsPaging, tagList(k), func(t tag) string { return t.TagKey }, itself)
	})
}
