package awsemu

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
)

// matchPattern reports whether event (decoded JSON) matches an EventBridge event pattern: every
// field the pattern names must match; an array of a pattern lists alternatives (exact values, or
// the matchers prefix, suffix, anything-but, exists, equals-ignore-case, numeric); an object names
// nested fields; "$or" takes any of its patterns. An event field that is an array matches when any
// of its elements does, an array of objects when one of its objects matches the nested pattern.
func matchPattern(pattern map[string]any, event map[string]any) bool {
	for name, want := range pattern {
		if name == "$or" {
			alts, _ := want.([]any)
			matched := false
			for _, a := range alts {
				if p, ok := a.(map[string]any); ok && matchPattern(p, event) {
					matched = true
					break
				}
			}
			if !matched {
				return false
			}
			continue
		}
		got, present := event[name]
		switch w := want.(type) {
		case map[string]any:
			if arr, ok := got.([]any); ok {
				// An array of objects (a CloudTrail record's detail.resources): the nested pattern
				// matches when one of its objects does.
				if !slices.ContainsFunc(arr, func(v any) bool {
					o, ok := v.(map[string]any)
					return ok && matchPattern(w, o)
				}) {
					return false
				}
				continue
			}
			sub, ok := got.(map[string]any)
			if !ok {
				// A nested pattern of a missing field matches only if all it asks is absence.
				if !present && onlyAbsent(w) {
					continue
				}
				return false
			}
			if !matchPattern(w, sub) {
				return false
			}
		case []any:
			if !matchValues(w, got, present) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// onlyAbsent reports whether a nested pattern asks only for fields that do not exist.
func onlyAbsent(p map[string]any) bool {
	for _, v := range p {
		switch w := v.(type) {
		case map[string]any:
			if !onlyAbsent(w) {
				return false
			}
		case []any:
			if !matchValues(w, nil, false) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// matchValues reports whether a field's value got (present or not) matches any of the alternatives.
func matchValues(alts []any, got any, present bool) bool {
	values := []any{got}
	if arr, ok := got.([]any); ok {
		values = arr
	}
	for _, alt := range alts {
		if m, ok := alt.(map[string]any); ok {
			if e, ok := m["exists"]; ok && len(m) == 1 {
				if want, _ := e.(bool); want == present {
					return true
				}
				continue
			}
		}
		if !present {
			continue
		}
		for _, v := range values {
			if matchOne(alt, v) {
				return true
			}
		}
	}
	return false
}

// matchOne matches one scalar value against one alternative of a pattern.
func matchOne(alt, v any) bool {
	m, ok := alt.(map[string]any)
	if !ok {
		return equalScalar(alt, v)
	}
	s, isString := v.(string)
	for op, arg := range m {
		switch op {
		case "prefix":
			p, _ := arg.(string)
			return isString && strings.HasPrefix(s, p)
		case "suffix":
			p, _ := arg.(string)
			return isString && strings.HasSuffix(s, p)
		case "equals-ignore-case":
			p, _ := arg.(string)
			return isString && strings.EqualFold(s, p)
		case "anything-but":
			switch a := arg.(type) {
			case []any:
				for _, x := range a {
					if equalScalar(x, v) {
						return false
					}
				}
				return true
			case map[string]any:
				return !matchOne(a, v)
			default:
				return !equalScalar(a, v)
			}
		case "numeric":
			return matchNumeric(arg, v)
		}
	}
	return false
}

func equalScalar(a, b any) bool {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case nil:
		return b == nil
	}
	return false
}

// matchNumeric matches a number against ["<", 10, ">=", 1]-style comparisons.
func matchNumeric(arg, v any) bool {
	n, ok := v.(float64)
	ops, _ := arg.([]any)
	if !ok || len(ops)%2 != 0 {
		return false
	}
	for i := 0; i < len(ops); i += 2 {
		op, _ := ops[i].(string)
		x, _ := ops[i+1].(float64)
		var holds bool
		switch op {
		case "<":
			holds = n < x
		case "<=":
			holds = n <= x
		case "=":
			holds = n == x
		case ">":
			holds = n > x
		case ">=":
			holds = n >= x
		}
		if !holds {
			return false
		}
	}
	return true
}

// parsePattern reads an event pattern: a JSON object whose leaves are arrays.
func parsePattern(s string) (map[string]any, error) {
	var p map[string]any
	if err := json.Unmarshal([]byte(s), &p); err != nil || p == nil {
		//lint:ignore ST1005 EventBridge's own message, word for word
		return nil, errors.New("Event pattern is not valid JSON object.")
	}
	if err := checkPattern(p); err != nil {
		return nil, err
	}
	return p, nil
}

func checkPattern(p map[string]any) error {
	for name, v := range p {
		switch w := v.(type) {
		case []any:
			if name == "$or" {
				for _, a := range w {
					sub, ok := a.(map[string]any)
					if !ok {
						//lint:ignore ST1005 EventBridge's own message, word for word
						return errors.New("Event pattern is not valid. Reason: $or must hold objects.")
					}
					if err := checkPattern(sub); err != nil {
						return err
					}
				}
			}
		case map[string]any:
			if err := checkPattern(w); err != nil {
				return err
			}
		default:
			return errors.New("Event pattern is not valid. Reason: \"" + name + "\" must be an object or an array")
		}
	}
	return nil
}
