// Command sipfed-proxy is the SIP federation proxy: `serve` runs it, `route` asks a running proxy
// to explain a routing decision, `health` whether it is ready, `store` checks, backs up and
// restores its embedded store.
package main

import (
	"fmt"
	"os"
)

const usage = `sipfed-proxy: a SIP federation proxy configured through its REST admin API.

Usage:
  sipfed-proxy serve [flags]        run the proxy (sipfed-proxy serve -h for flags)
  sipfed-proxy route [flags] URI    explain how a running proxy routes a SIP URI (exit 1 unless routed)
  sipfed-proxy health [flags]       exit 0 when a running proxy is ready (GET /readyz), else 1
  sipfed-proxy store check|backup|restore [flags]
                                    check, back up or restore the embedded store
  sipfed-proxy store copy --from bolt:DIR --to etcd:URL
                                    move a single node's configuration into a cluster on etcd
  sipfed-proxy version              print the version
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "route":
		err = route(os.Args[2:], os.Stdout)
	case "health":
		err = health(os.Args[2:], os.Stdout)
	case "store":
		err = storeCmd(os.Args[2:], os.Stdout)
	case "version":
		fmt.Println(version)
	case "-h", "--help", "help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "sipfed-proxy: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "sipfed-proxy: %v\n", err)
		os.Exit(1)
	}
}
