// Command terraform-provider-cmekd is cmekd's Terraform provider: organisations, regions,
// collections, webhooks and secret scopes as resources, key policies and key checks as data sources.
// Terraform starts it; run by hand with -debug it serves for a debugger (TF_REATTACH_PROVIDERS).
package main

import (
	"context"
	"flag"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/cmekd/cmekd/internal/tfprovider"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	debug := flag.Bool("debug", false, "serve for a debugger instead of being started by Terraform")
	flag.Parse()
	err := providerserver.Serve(context.Background(), tfprovider.New(version), providerserver.ServeOpts{
		Address: tfprovider.Address,
		Debug:   *debug,
	})
	if err != nil {
		log.Fatal(err)
	}
}
