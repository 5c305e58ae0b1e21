"""Plots of bench/scaling.sh's results: one PNG per workload (CPU per unit of work, peak RSS,
the latency users feel, each against the size), log-log, alertd and the stack on the same axes,
with the date, the machine and the load in the title. The last row of a (workload, size, peer)
wins, so a re-run of one size replaces it.

    /usr/bin/python3 bench/plot.py bench/results/scaling.tsv bench/plots

Needs matplotlib (Debian: apt-get install python3-matplotlib).
"""
import csv, math, os, sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

TITLES = {
    "probes": "HTTP probes every 15 s",
    "series": "scraped series every 15 s",
    "rules": "alerting rules every 15 s over 10,000 series",
    "alerts": "alerts through the notifier",
    "silences": "active silences (10,000 alerts)",
    "status": "status page (90 days of history per probe)",
}
UNITS = {"probes": "targets", "series": "series", "rules": "rules", "alerts": "alerts",
         "silences": "silences", "status": "probes"}
STYLE = {"alertd": dict(color="tab:blue", marker="o"), "stack": dict(color="tab:orange", marker="s")}
LABEL = {"alertd": "alertd", "stack": "Prometheus stack"}


def num(v):
    try:
        x = float(v)
    except ValueError:
        return math.nan
    return x


def main(tsv, outdir):
    rows = {}
    with open(tsv, newline="") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            rows[(r["workload"], int(r["size"]), r["peer"])] = r
    os.makedirs(outdir, exist_ok=True)
    written = []
    for w in TITLES:
        mine = [r for (wl, _, _), r in rows.items() if wl == w]
        if not mine:
            continue
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.9))
        panels = [("cpu_per_unit", "cpu_unit"), ("peak_rss_mib", None), ("latency", "latency_unit")]
        for ax, (key, unit_key) in zip(axes, panels):
            for peer in ("alertd", "stack"):
                pts = sorted((int(r["size"]), num(r[key]), r["keeps_up"]) for r in mine if r["peer"] == peer)
                pts = [p for p in pts if not math.isnan(p[1]) and p[1] > 0]
                if not pts:
                    continue
                xs, ys = [p[0] for p in pts], [p[1] for p in pts]
                ax.plot(xs, ys, label=LABEL[peer], **STYLE[peer])
                bad = [(x, y) for x, y, ok in pts if ok != "yes"]
                if bad:
                    ax.scatter([b[0] for b in bad], [b[1] for b in bad], s=160, facecolors="none",
                               edgecolors="red", zorder=3, label=f"{LABEL[peer]}: does not keep up")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(UNITS[w])
            unit = mine[0][unit_key] if unit_key else "peak RSS, MiB"
            ax.set_ylabel(unit if unit_key else unit)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
        dates = sorted(r["date"] for r in mine)
        loads = [num(r[k]) for r in mine for k in ("load_before", "load_after")]
        loads = [x for x in loads if not math.isnan(x)]
        fig.suptitle(f"{TITLES[w]} — {dates[0][:10]}, {mine[0]['machine']}, load average "
                     f"{min(loads):.1f}–{max(loads):.1f}", fontsize=10)
        fig.tight_layout()
        path = os.path.join(outdir, f"{w}.png")
        fig.savefig(path, dpi=72)
        plt.close(fig)
        written.append(path)
    print("plots:", " ".join(written))
    table(rows)


def table(rows):
    """The results as a Markdown table (for the README), workload by workload."""
    print("| workload | size | peer | CPU per unit | peak RSS | on disk | latency | keeps up | load |")
    print("|---|---|---|---|---|---|---|---|---|")
    order = list(TITLES)
    for (w, n, peer), r in sorted(rows.items(), key=lambda kv: (order.index(kv[0][0]) if kv[0][0] in order else 99, kv[0][1], kv[0][2])):
        disk = f"{int(r['disk_bytes']) / 1e6:.1f} MB" if r["disk_bytes"] else ""
        print(f"| {w} | {n:,} | {LABEL.get(peer, peer)} | {r['cpu_per_unit']} {r['cpu_unit']} | "
              f"{r['peak_rss_mib']} MiB | {disk} | {r['latency']} {r['latency_unit']} | {r['keeps_up']} | "
              f"{r['load_before']}→{r['load_after']} |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
