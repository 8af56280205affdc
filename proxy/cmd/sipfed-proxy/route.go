package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/server"
	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

// route asks a running proxy how it routes a URI and prints the answer for a person.
func route(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("route", flag.ContinueOnError)
	endpoint := fs.String("endpoint", envOr("SIPFED_ENDPOINT", api.DefaultEndpoint), "admin API of the proxy (env SIPFED_ENDPOINT)")
	tokenFile := fs.String("admin-token-file", "", "admin token file (default: env SIPFED_TOKEN, else ./data/admin.token)")
	dataDir := fs.String("data-dir", "./data", "data directory of a proxy that generated its token")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("route takes one SIP URI, e.g. sipfed-proxy route sip:bob@domaina.com")
	}
	token, err := clientToken(*tokenFile, *dataDir)
	if err != nil {
		return err
	}
	c, err := api.NewClient(*endpoint, token)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ex, err := c.ExplainRoute(ctx, fs.Arg(0))
	if err != nil {
		return err
	}
	printExplanation(out, ex)
	if ex.Status != 0 {
		// Scripts check the exit status: only a URI the proxy would forward is a success.
		return fmt.Errorf("%s would not be routed: %d %s", fs.Arg(0), ex.Status, ex.Reason)
	}
	return nil
}

func printExplanation(out io.Writer, ex api.RouteExplanation) {
	fmt.Fprintf(out, "route for %s (revision %d)\n", ex.URI, ex.Revision)
	fmt.Fprintln(out, "steps:")
	for i, s := range ex.Steps {
		line := fmt.Sprintf("  %d. %-9s %-24s %s", i+1, s.Step, s.Domain, s.Outcome)
		if s.Pattern != "" {
			line += " pattern=" + s.Pattern
		}
		if len(s.RouteIDs) > 0 {
			line += " routes=" + strings.Join(s.RouteIDs, ",")
		}
		if s.DNSError != "" {
			line += " dns=" + s.DNSError
		}
		if s.Cached {
			line += " (cached)"
		}
		if s.Detail != "" {
			line += " - " + s.Detail
		}
		fmt.Fprintln(out, line)
		for _, r := range s.SRVRecords {
			fmt.Fprintf(out, "       SRV %d %d %d %s -> %s\n", r.Priority, r.Weight, r.Port, r.Target, strings.Join(r.Addresses, ", "))
		}
	}
	if ex.Status != 0 {
		fmt.Fprintf(out, "result: %d %s\n", ex.Status, ex.Reason)
		if ex.RetryAfter > 0 {
			fmt.Fprintf(out, "retry_after: %ds (DNS failed for a while; the partner may exist)\n", ex.RetryAfter)
		}
		return
	}
	fmt.Fprintln(out, "next hops, in order:")
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	// The column names are the log keys: next_hop is host:port, next_hop_name the name it was
	// found under.
	fmt.Fprintf(tw, "  #\t%s\t%s\t%s\t%s\n", telemetry.KeyNextHop, telemetry.KeyProtocol, telemetry.KeyNextHopName, telemetry.KeyStep)
	for i, h := range ex.NextHops {
		via := h.Step
		if h.RouteID != "" {
			via += " route " + h.RouteID
		}
		fmt.Fprintf(tw, "  %d.\t%s\t%s\t%s\t%s\n", i+1, net.JoinHostPort(h.Address, strconv.Itoa(h.Port)), h.Transport, h.Host, via)
	}
	_ = tw.Flush()
}

// clientToken finds the admin token a CLI call presents.
func clientToken(file, dataDir string) (string, error) {
	if file == "" {
		if tok := os.Getenv("SIPFED_TOKEN"); tok != "" {
			return tok, nil
		}
		file = filepath.Join(dataDir, server.GeneratedTokenFile)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("no admin token: set SIPFED_TOKEN or --admin-token-file (%w)", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if _, tok, ok := strings.Cut(line, ":"); ok {
			return strings.TrimSpace(tok), nil
		}
		return line, nil
	}
	return "", fmt.Errorf("admin token file %s holds no token", file)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
