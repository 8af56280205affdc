package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/miekg/dns"

	"github.com/sipfed/terraform-provider-sip/proxy/routing"
)

// ednsSize is the UDP payload size advertised with EDNS0: the DNS flag day 2020 value, which
// avoids IP fragmentation; a larger answer comes truncated and is fetched over TCP.
const ednsSize = 1232

// query asks the servers, in order, for name/qtype and returns the first answer that decides:
// NOERROR or NXDOMAIN. A timeout, a network error, SERVFAIL or another rcode moves on to the next
// server; when none decides, the error says what the last one came to.
func (r *Resolver) query(ctx context.Context, name string, qtype uint16) (*dns.Msg, string, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(ednsSize, false)
	var lastErr error
	var lastServer string
	for _, server := range r.servers {
		if ctx.Err() != nil {
			break
		}
		resp, err := r.exchange(ctx, m, server)
		switch {
		case err != nil:
			lastErr, lastServer = err, server
		case resp.Rcode == dns.RcodeSuccess || resp.Rcode == dns.RcodeNameError:
			return resp, server, nil
		case resp.Rcode == dns.RcodeServerFailure:
			lastErr, lastServer = routing.ErrSERVFAIL, server
		case resp.Rcode == dns.RcodeRefused:
			lastErr, lastServer = routing.ErrRefused, server
		default:
			lastErr, lastServer = fmt.Errorf("%w: rcode %s", routing.ErrServer, dns.RcodeToString[resp.Rcode]), server
		}
	}
	if lastErr == nil {
		lastErr = ctx.Err()
	}
	if lastErr == nil {
		lastErr = errors.New("no DNS server configured")
	}
	return nil, lastServer, classify(lastErr)
}

// exchange is one query to one server: over UDP, and again over TCP when the UDP answer is
// truncated. Each exchange has its own timeout.
func (r *Resolver) exchange(ctx context.Context, m *dns.Msg, server string) (*dns.Msg, error) {
	resp, err := r.exchangeOn(ctx, r.udp, m, server)
	if err != nil || !resp.Truncated {
		return resp, err
	}
	r.metrics.truncation()
	return r.exchangeOn(ctx, r.tcp, m, server)
}

func (r *Resolver) exchangeOn(ctx context.Context, c *dns.Client, m *dns.Msg, server string) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	start := time.Now()
	resp, _, err := c.ExchangeContext(ctx, m, server)
	r.metrics.exchange(c.Net, time.Since(start))
	if err == nil && resp.Id != m.Id {
		err = dns.ErrId
	}
	return resp, err
}

// classify maps what went wrong to the vocabulary of routing's explanations. A server that
// cannot be asked (a network error: unreachable, connection refused) is a server error: it says
// nothing about the name, so the request is answered 503, not 404.
func classify(err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, routing.ErrSERVFAIL), errors.Is(err, routing.ErrTimeout), errors.Is(err, routing.ErrRefused),
		errors.Is(err, routing.ErrServer):
		return err
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return routing.ErrTimeout
	case errors.As(err, &ne):
		return fmt.Errorf("%w: %w", routing.ErrServer, err)
	}
	return err
}
