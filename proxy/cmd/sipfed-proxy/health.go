package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

// health asks a running proxy whether it is ready (GET /readyz) and exits 0 only when it is. It
// is the container image's HEALTHCHECK: distroless and scratch images have no curl. /readyz
// needs no token, so health sends none.
func health(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("health", flag.ContinueOnError)
	endpoint := fs.String("endpoint", envOr("SIPFED_ENDPOINT", api.DefaultEndpoint), "admin API of the proxy (env SIPFED_ENDPOINT)")
	caFile := fs.String("ca-cert", "", "PEM CA bundle to verify an HTTPS admin API with (default: the system's)")
	insecure := fs.Bool("insecure", false, "do not verify the HTTPS admin API's certificate (health sends no secret; for a check over loopback)")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("health takes no arguments, got %q", fs.Args())
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: *insecure}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return fmt.Errorf("--ca-cert: %w", err)
		}
		tlsCfg.RootCAs = x509.NewCertPool()
		if !tlsCfg.RootCAs.AppendCertsFromPEM(pem) {
			return fmt.Errorf("--ca-cert: %s holds no PEM certificate", *caFile)
		}
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(*endpoint, "/")+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("not healthy: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Reason string `json:"reason"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("not ready: %d %s %s", resp.StatusCode, body.Status, body.Reason)
	}
	fmt.Fprintln(out, body.Status)
	return nil
}
