package kmslocal

import "strings"

func validateTags(tags []tag) *apiError {
	seen := map[string]bool{}
	for _, t := range tags {
		switch {
		case len(t.Key) < 1 || len(t.Key) > 128:
			return newError("TagException", "TagKey must be 1 to 128 characters")
		case len(t.Value) > 256:
			return newError("TagException", "TagValue must be at most 256 characters")
		case strings.HasPrefix(strings.ToLower(t.Key), "aws:"):
			return newError("TagException", "TagKey %q uses the reserved aws: prefix", t.Key)
		case seen[t.Key]:
			return newError("TagException", "duplicate TagKey %q", t.Key)
		}
		seen[t.Key] = true
	}
	return nil
}

// mergeTags sets each new tag, replacing the value of an existing key and
// keeping the order in which keys were first set.
func mergeTags(have, add []tag) []tag {
	out := append([]tag(nil), have...)
	for _, t := range add {
		replaced := false
		for i := range out {
			if out[i].Key == t.Key {
				out[i].Value, replaced = t.Value, true
			}
		}
		if !replaced {
			out = append(out, t)
		}
	}
	return out
}

func nonNilTags(t []tag) []tag {
	if t == nil {
		return []tag{}
	}
	return t
}

func (s *Server) tagResource(c *call, body []byte) (any, *apiError) {
	var in struct {
		KeyId string
		Tags  []tag
	}
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	k, aerr := s.resolveKey(c, in.KeyId, "kms:TagResource")
	if aerr != nil {
		return nil, aerr
	}
	if aerr := checkNotDeleting(k); aerr != nil {
		return nil, aerr
	}
	if aerr := validateTags(in.Tags); aerr != nil {
		return nil, aerr
	}
	tags := mergeTags(k.Tags, in.Tags)
	if len(tags) > 50 {
		return nil, newError("LimitExceededException", "a key can have at most 50 tags")
	}
	k.Tags = tags
	s.dirty = true
	return struct{}{}, nil
}

func (s *Server) untagResource(c *call, body []byte) (any, *apiError) {
	var in struct {
		KeyId   string
		TagKeys []string
	}
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	k, aerr := s.resolveKey(c, in.KeyId, "kms:UntagResource")
	if aerr != nil {
		return nil, aerr
	}
	if aerr := checkNotDeleting(k); aerr != nil {
		return nil, aerr
	}
	drop := map[string]bool{}
	for _, t := range in.TagKeys {
		drop[t] = true
	}
	kept := k.Tags[:0]
	for _, t := range k.Tags {
		if !drop[t.Key] {
			kept = append(kept, t)
		}
	}
	k.Tags = kept
	s.dirty = true
	return struct{}{}, nil
}

func (s *Server) listResourceTags(c *call, body []byte) (any, *apiError) {
	var in struct {
		KeyId string
		page
	}
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	k, aerr := s.resolveKey(c, in.KeyId, "kms:ListResourceTags")
	if aerr != nil {
		return nil, aerr
	}
	items, next, more, aerr := paginate(k.Tags, in.page)
	if aerr != nil {
		return nil, aerr
	}
	return listOutput("Tags", items, next, more), nil
}
