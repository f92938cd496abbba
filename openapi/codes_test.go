package openapi_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/cmekd/cmekd/internal/domain"
)

// TestSpec_ErrorCodeIsExactlyTheServersCodes holds the document's ErrorCode enum to the codes the
// server can answer: each code domain lists is documented, and the document lists no code the server
// never answers.
func TestSpec_ErrorCodeIsExactlyTheServersCodes(t *testing.T) {
	t.Parallel()
	var enum []string
	for _, v := range load(t).Components.Schemas["ErrorCode"].Value.Enum {
		enum = append(enum, v.(string))
	}
	for _, c := range domain.ErrorCodes {
		if !slices.Contains(enum, c) {
			t.Errorf("the server can answer %q, which ErrorCode does not list", c)
		}
	}
	for _, c := range enum {
		if !slices.Contains(domain.ErrorCodes, c) {
			t.Errorf("ErrorCode lists %q, which the server never answers", c)
		}
	}
}

// TestSpec_CheckCodesAreDocumented holds the description of a check's code to every code a check can
// carry.
func TestSpec_CheckCodesAreDocumented(t *testing.T) {
	t.Parallel()
	desc := load(t).Components.Schemas["Check"].Value.Properties["code"].Value.Description
	for _, c := range domain.CheckCodes {
		if !arnRule(c) && !strings.Contains(desc, "`"+c+"`") {
			t.Errorf("a check can fail with %q, which the Check schema's code does not name", c)
		}
	}
}

// arnRule reports whether c is a key ARN rule's code, which the description names as a group.
func arnRule(c string) bool {
	return slices.Contains([]string{domain.CodeInvalidKeyARN, domain.CodeAliasNotSupported, domain.CodeKeyARNRequired,
		domain.CodeKeyRegionMismatch, domain.CodeUnsupportedRegion, domain.CodeMultiRegionKeyRequired,
		domain.CodeMultiRegionKeyNotSupported}, c)
}

// TestSpec_EventTypeIsExactlyTheServersEvents holds the EventType enum to the event types the
// server writes.
func TestSpec_EventTypeIsExactlyTheServersEvents(t *testing.T) {
	t.Parallel()
	var enum []string
	for _, v := range load(t).Components.Schemas["EventType"].Value.Enum {
		enum = append(enum, v.(string))
	}
	slices.Sort(enum)
	want := slices.Sorted(slices.Values(domain.EventTypes))
	if !slices.Equal(enum, want) {
		t.Errorf("EventType lists %v; the server writes %v", enum, want)
	}
}
