#!/usr/bin/env python3
"""bench/lib/result.py: one step's result from a load generator's output, for bench/compare.sh.

    result.py sipp DIR        sipp UAC files in DIR: screen.txt (counts, response time
                              repartition), stat.csv (offered rate), *_rtt.csv (percentiles)
    result.py tlsload FILE    tlsload uac's JSON summary

Prints one line, fields separated by spaces, in this order:

    sent ok late shed other unanswered bad_pct shed_pct goodput achieved p50_ms p99_ms

sent: requests offered; ok: 200s (late ones included); late: 200s after 1 s or more; shed: 503s;
other: other final responses and unexpected messages; unanswered: the rest; bad_pct: share of
requests that did not get a 200 within 1 s; goodput: 200s within 1 s per second of the sending
window; achieved: requests offered per second of the sending window. sipp measures response times
in whole milliseconds, tlsload in microseconds.
"""

import glob
import json
import os
import re
import sys


def pct(values, q):
    if not values:
        return "NA"
    v = values[min(len(values) - 1, int(len(values) * q))]
    return f"{v:g}"


def out(sent, ok, late, shed, other, achieved, p50, p99):
    unanswered = max(0, sent - ok - shed - other)
    good = ok - late
    bad = 100.0 * (sent - good) / sent if sent else 100.0
    shed_pct = 100.0 * shed / sent if sent else 0.0
    window = sent / achieved if achieved > 0 else 0
    goodput = good / window if window > 0 else 0.0
    print(sent, ok, late, shed, other, unanswered, f"{bad:.3f}", f"{shed_pct:.2f}",
          f"{goodput:.0f}", f"{achieved:.0f}", p50, p99)


LATE = re.compile(r"^\s*n >=\s*1000 ms :\s*(\d+)")
MSG = re.compile(r"^\s*(\d{3}|[A-Z]+)\s+(<-+|-+>)\s+(?:[BE]-RTD\d+\s+)?(\d+)(?:\s+(\d+))?(?:\s+(\d+))?(?:\s+(\d+))?")


def sipp(d):
    # The scenario screen, last dump: per message line, Messages Retrans Timeout Unexpected.
    # The response time repartition (of 200s: only they carry an rtd), last dump: its last bucket
    # counts the 200s that took 1 s or more.
    counts = {}
    late = None
    try:
        with open(os.path.join(d, "screen.txt"), errors="replace") as f:
            for line in f:
                m = MSG.match(line)
                if m:
                    counts[m.group(1)] = [int(x) if x else 0 for x in m.groups()[2:]]
                m = LATE.match(line)
                if m:
                    late = int(m.group(1))
    except OSError:
        pass
    sent = counts.get("MESSAGE", [0])[0]
    shed = counts.get("503", [0])[0]
    unexpected = sum(c[3] for c in counts.values() if len(c) > 3)

    # Offered rate: calls created per second while sipp was still creating them (periodic
    # statistics every second; the last dump before the count was reached).
    achieved = 0.0
    try:
        with open(os.path.join(d, "stat.csv"), errors="replace") as f:
            rows = [line.rstrip("\n").split(";") for line in f]
        head = rows[0]
        i_start, i_now, i_tot = head.index("StartTime"), head.index("CurrentTime"), head.index("TotalCallCreated")
        rows = [r for r in rows[1:] if len(r) > max(i_start, i_now, i_tot)]

        def epoch(s):
            return float(s.split("\t")[-1])

        pts = [(epoch(r[i_now]) - epoch(r[i_start]), int(r[i_tot])) for r in rows]
        total = max((c for _, c in pts), default=0)
        sent = max(sent, total)
        before = [(t, c) for t, c in pts if c < total and t >= 0.9]
        if before:
            t, c = before[-1]
            achieved = c / t
        else:
            reached = [t for t, c in pts if c >= total and t > 0]
            if reached:
                achieved = total / reached[0]
    except (OSError, ValueError, IndexError):
        pass

    rtts = []
    for p in glob.glob(os.path.join(d, "*_rtt.csv")):
        with open(p, errors="replace") as f:
            for line in f:
                parts = line.split(";")
                if len(parts) >= 2:
                    try:
                        rtts.append(float(parts[1]))
                    except ValueError:
                        pass
    rtts.sort()
    # Counts from the screen; the response times file holds all but the last few (sipp writes
    # it every -rtt_freq answers), enough for percentiles.
    ok = counts.get("200", [len(rtts)])[0]
    if late is None:
        late = sum(1 for v in rtts if v >= 1000)
    out(sent, ok, late, shed, unexpected, achieved, pct(rtts, 0.5), pct(rtts, 0.99))


def tlsload(path):
    try:
        with open(path) as f:
            s = json.load(f)
    except (OSError, ValueError):
        out(0, 0, 0, 0, 0, 0.0, "NA", "NA")
        return
    codes = {int(k): v for k, v in (s.get("codes") or {}).items()}
    shed = codes.get(503, 0)
    other = s.get("failed", 0) - shed
    p50 = f"{s['p50_ms']:g}" if s.get("ok") else "NA"
    p99 = f"{s['p99_ms']:g}" if s.get("ok") else "NA"
    out(s.get("sent", 0), s.get("ok", 0), s.get("late", 0), shed, other, s.get("achieved", 0.0), p50, p99)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("sipp", "tlsload"):
        sys.exit(__doc__)
    {"sipp": sipp, "tlsload": tlsload}[sys.argv[1]](sys.argv[2])
