// Command providerschema writes the provider's schema as `terraform providers schema -json` would,
// without Terraform, for tfplugindocs --providers-schema (see scripts/docs.sh).
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"path/filepath"

	"github.com/sipfed/terraform-provider-sip/provider"
)

func main() {
	out := flag.String("o", "", "file to write (default: standard output)")
	flag.Parse()
	b, err := provider.ProvidersSchemaJSON(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	b = append(b, '\n')
	if *out == "" {
		_, err = os.Stdout.Write(b)
	} else {
		if err = os.MkdirAll(filepath.Dir(*out), 0o755); err == nil {
			err = os.WriteFile(*out, b, 0o644)
		}
	}
	if err != nil {
		log.Fatal(err)
	}
}
