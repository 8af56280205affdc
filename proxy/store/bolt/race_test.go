//go:build race

package bolt

// The race detector slows the single-threaded check tenfold; the random rounds find nothing new
// there, so fewer of them run.
const raceEnabled = true
