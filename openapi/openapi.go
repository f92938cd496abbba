// Package openapi embeds cmekd's OpenAPI document, so the server can serve it and tests can validate
// traffic against the same bytes.
package openapi

import _ "embed"

// Spec is openapi.yaml: the OpenAPI 3.0.3 description of every route the server serves.
//
//go:embed openapi.yaml
var Spec []byte
