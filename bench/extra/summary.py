#!/usr/bin/env python3
"""Median table of bench/extra/run.sh's RESULT lines (read from stdin).

    sh bench/extra/run.sh 5 | tee /tmp/extra.txt | python3 bench/extra/summary.py

Prints a Markdown table: the median ns per operation of every runtime for
each workload, and our two variants' cost relative to the best peer
measured in the same run (below 1.00 we are faster).
"""
import collections
import statistics
import sys

OURS = ("aio", "aio-eager")
PEERS = ("uvloop", "asyncio", "node")


def main():
    runs = collections.defaultdict(list)
    for line in sys.stdin:
        fields = line.split()
        if len(fields) < 3 or fields[0] != "RESULT":
            continue
        values = dict(f.split("=", 1) for f in fields[3:] if "=" in f)
        runs[(fields[1], fields[2])].append(float(values["ns_per_op"]))
    workloads = []
    for workload, _ in runs:
        if workload not in workloads:
            workloads.append(workload)
    columns = OURS + PEERS
    print("| workload: ns per op (median of n) | " + " | ".join(columns)
          + " | best peer | aio ÷ best | aio-eager ÷ best |")
    print("|---|" + "---:|" * (len(columns) + 3))
    for workload in workloads:
        med = {rt: statistics.median(runs[(workload, rt)])
               for rt in columns if runs.get((workload, rt))}
        cells = ["%.0f" % med[rt] if rt in med else "—" for rt in columns]
        peers = {rt: med[rt] for rt in PEERS if rt in med}
        if peers:
            best = min(peers, key=peers.get)
            ratios = ["%.2f×" % (med[rt] / peers[best]) if rt in med else "—"
                      for rt in OURS]
        else:
            best, ratios = "—", ["—", "—"]
        n = len(runs[(workload, "aio")])
        print("| %s (n=%d) | %s | %s | %s |" % (workload, n, " | ".join(cells),
                                              best, " | ".join(ratios)))


if __name__ == "__main__":
    main()
