// Command analyze summarises a benchmark run of the Terraform provider:
//
//	analyze rpcs TF_LOG_FILE   time spent inside the provider, from the "Received request" and
//	                           "Served request" lines terraform-plugin-go logs for each RPC
//	analyze api METRICS_URL    time spent inside the admin API, from the proxy's
//	                           sipfed_admin_request_duration_seconds histogram
//	analyze freeport           a free TCP port on 127.0.0.1, for the proxy's admin API
package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == "freeport" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, "analyze:", err)
			os.Exit(1)
		}
		fmt.Println(ln.Addr().(*net.TCPAddr).Port)
		ln.Close()
		return
	}
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: analyze rpcs TF_LOG_FILE | analyze api METRICS_URL | analyze freeport")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "rpcs":
		err = rpcs(os.Args[2])
	case "api":
		err = apiTime(os.Args[2])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "analyze:", err)
		os.Exit(1)
	}
}

var (
	reqID = regexp.MustCompile(`\btf_req_id=(\S+)`)
	rpc   = regexp.MustCompile(`\btf_rpc=(\S+)`)
	stamp = regexp.MustCompile(`\btimestamp=(\S+)`)
)

type call struct {
	rpc        string
	start, end time.Time
}

// rpcs prints, per RPC, how many calls and how long they took in the provider (API calls
// included), and the time during which at least one RPC was in flight: with Terraform's
// parallelism the sum exceeds the wall time, the union does not.
func rpcs(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	calls := map[string]*call{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		received := strings.Contains(line, "Received request:")
		if !received && !strings.Contains(line, "Served request:") {
			continue
		}
		id, r, ts := reqID.FindStringSubmatch(line), rpc.FindStringSubmatch(line), stamp.FindStringSubmatch(line)
		if id == nil || r == nil || ts == nil {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, ts[1])
		if err != nil {
			return fmt.Errorf("timestamp %q: %w", ts[1], err)
		}
		c := calls[id[1]]
		if c == nil {
			c = &call{rpc: r[1]}
			calls[id[1]] = c
		}
		if received {
			c.start = t
		} else {
			c.end = t
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	type agg struct {
		n   int
		sum time.Duration
	}
	per := map[string]*agg{}
	var ivs []call
	var total time.Duration
	for _, c := range calls {
		if c.start.IsZero() || c.end.IsZero() {
			continue
		}
		a := per[c.rpc]
		if a == nil {
			a = &agg{}
			per[c.rpc] = a
		}
		d := c.end.Sub(c.start)
		a.n++
		a.sum += d
		total += d
		ivs = append(ivs, *c)
	}
	names := make([]string, 0, len(per))
	for n := range per {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return per[names[i]].sum > per[names[j]].sum })
	fmt.Printf("  %-28s %7s %10s %9s\n", "provider RPC", "calls", "sum", "mean")
	for _, n := range names {
		a := per[n]
		fmt.Printf("  %-28s %7d %10s %9s\n", n, a.n, round(a.sum), round(a.sum/time.Duration(a.n)))
	}
	sort.Slice(ivs, func(i, j int) bool { return ivs[i].start.Before(ivs[j].start) })
	var busy time.Duration
	var cur call
	for i, c := range ivs {
		if i == 0 || c.start.After(cur.end) {
			busy += cur.end.Sub(cur.start)
			cur = c
			continue
		}
		if c.end.After(cur.end) {
			cur.end = c.end
		}
	}
	busy += cur.end.Sub(cur.start)
	fmt.Printf("  provider RPC time, summed:             %s\n", round(total))
	fmt.Printf("  time with a provider RPC in flight:    %s\n", round(busy))
	fmt.Printf("PROVIDER_BUSY_SECONDS=%.3f\n", busy.Seconds())
	fmt.Printf("PROVIDER_SUM_SECONDS=%.3f\n", total.Seconds())
	return nil
}

// apiTime prints the admin API's request count and summed latency so far.
func apiTime(url string) error {
	resp, err := http.Get(url) //nolint:gosec,noctx // the benchmark's own local proxy
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var sum, count float64
	seen := false
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		var dst *float64
		switch {
		case strings.HasPrefix(line, telemetry.MetricAdminRequestDuration+"_sum"):
			dst = &sum
		case strings.HasPrefix(line, telemetry.MetricAdminRequestDuration+"_count"):
			dst = &count
		default:
			continue
		}
		seen = true
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			return fmt.Errorf("metric line %q: %w", line, err)
		}
		*dst += v
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if !seen {
		// A renamed metric must stop the benchmark, not print zeros.
		return fmt.Errorf("%s: no %s", url, telemetry.MetricAdminRequestDuration)
	}
	fmt.Printf("%.6f %.0f\n", sum, count)
	return nil
}

func round(d time.Duration) time.Duration {
	if d > time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Microsecond)
}
