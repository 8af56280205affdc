package discovery

import (
	"context"
	"errors"
)

// ErrWouldBlock is what a lookup under NonBlocking returns when the answer is not cached: the
// lookup has started, and a caller that may wait asks again.
var ErrWouldBlock = errors.New("answer not cached yet")

type nonBlockingKey struct{}

// NonBlocking returns a context under which lookups answer only from the cache: the SIP core
// decides inline on the goroutine that reads a connection, which must never wait for DNS.
func NonBlocking(ctx context.Context) context.Context {
	return context.WithValue(ctx, nonBlockingKey{}, true)
}

func isNonBlocking(ctx context.Context) bool {
	v, _ := ctx.Value(nonBlockingKey{}).(bool)
	return v
}
