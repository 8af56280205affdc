package main

import (
	"flag"
	"io"
	"os"
	"regexp"
	"testing"
)

// The README's table of limits names real flags with the defaults --help gives, and every
// operations flag (shutdown, admin HTTP, DNS, the SIP relay's limits and timers) is in it.
func TestREADMEFlagTableMatchesHelp(t *testing.T) {
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile("(?m)^\\| `--([a-z-]+)` \\| `([^`]*)` \\|").FindAllSubmatch(readme, -1)
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, err := parseServeFlagsInto(fs, nil); err != nil {
		t.Fatal(err)
	}
	inTable := map[string]bool{}
	for _, r := range rows {
		name, def := string(r[1]), string(r[2])
		inTable[name] = true
		f := fs.Lookup(name)
		if f == nil {
			t.Errorf("README lists --%s, which serve does not have", name)
			continue
		}
		if f.DefValue != def {
			t.Errorf("README says --%s defaults to %q; --help says %q", name, def, f.DefValue)
		}
	}
	ops := regexp.MustCompile(`^(shutdown-|admin-(read|write|idle|max|live)|dns-(timeout|negative|max|cache)|` +
		`topology-hiding|hop-timeout|invite-timeout|max-in-flight|overload-|next-hop-backoff|max-message-size|` +
		`message-timeout|idle-timeout-|handshake-timeout|max-connections|partial-bytes-limit|write-queue-limit|dial-timeout|next-hop-connections)`)
	fs.VisitAll(func(f *flag.Flag) {
		if ops.MatchString(f.Name) && !inTable[f.Name] {
			t.Errorf("--%s is not in the README's table of limits", f.Name)
		}
	})
	if len(rows) < 10 {
		t.Fatalf("found %d rows in the README's table", len(rows))
	}
}
