package api

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/cmekd/cmekd/internal/api/docsui"
)

// consolePath is where the web console is served (by the console package, ahead of this router);
// a browser that asks for the bare address is sent there.
const consolePath = "/console/"

// browserRoutes serves what a person's browser asks for: the bare address and the rendered OpenAPI
// reference, neither of which needs a token.
func browserRoutes(r chi.Router) {
	r.Get("/", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, consolePath, http.StatusFound)
	})
	r.Get(docsui.PagePath, docsui.Page)
	r.Get(docsui.BundlePath, docsui.Bundle)
}
