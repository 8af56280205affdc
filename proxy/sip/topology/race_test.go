//go:build race

package topology

// Under the race detector sync.Pool drops a share of what is put back, on purpose: a pooled
// buffer is then made anew, so counting allocations says nothing there.
const raceEnabled = true
