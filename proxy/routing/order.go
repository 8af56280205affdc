package routing

// Weighted ordering of RFC 2782, shared by static routes and SRV records.
//
// rfc2782 orders items of one priority into the order they are tried. The items come sorted so that
// weight-0 items are first, as the RFC's selection procedure requires. Weight-0 items are placed in
// random order among themselves (the RFC allows any order): several weight-0 servers then share the
// load instead of the first one always winning.
//
// It works in place and does not allocate. Each selection moves the chosen item forward and keeps
// the rest in order (weight-0 items stay first), so it is O(n²) per priority: fine for the handful
// of servers a priority holds.
func rfc2782[T any](items []T, weight func(T) uint64, rnd func() uint64) {
	n := len(items)
	if n < 2 {
		return
	}
	zeros := 0
	for zeros < n && weight(items[zeros]) == 0 {
		zeros++
	}
	for i := zeros - 1; i > 0; i-- { // Fisher-Yates over the weight-0 run
		j := int(rnd() % uint64(i+1))
		items[i], items[j] = items[j], items[i]
	}
	var sum uint64
	for _, it := range items {
		sum += weight(it)
	}
	for i := 0; i < n-1; i++ {
		// A uniform number in [0, sum], and the first item whose running sum reaches it.
		r := rnd() % (sum + 1)
		j, run := i, weight(items[i])
		for run < r {
			j++
			run += weight(items[j])
		}
		chosen := items[j]
		copy(items[i+1:j+1], items[i:j])
		items[i] = chosen
		sum -= weight(chosen)
	}
}

// orderByPriority orders items, sorted by priority (and weight-0 first within one), into the order
// they are tried: lowest priority first, RFC 2782 weighted random within a priority.
func orderByPriority[T any](items []T, priority func(T) uint16, weight func(T) uint64, rnd func() uint64) {
	for start := 0; start < len(items); {
		end := start + 1
		for end < len(items) && priority(items[end]) == priority(items[start]) {
			end++
		}
		rfc2782(items[start:end], weight, rnd)
		start = end
	}
}
