#!/usr/bin/python3
"""One PNG chart per comparison of `cargo xtask bench`, from the JSON it wrote.

usage: plot.py DIR   (DIR holds prog_test_run.json, flood_capacity.json, bruteforce.json,
                      scale.json; a missing file skips its chart)

Runs with Debian's python3-matplotlib (`cargo xtask bench` installs it).
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"sipguard": "#2a7ab9", "iptables": "#d9822b", "nftables": "#7a9a3a",
          "fail2ban": "#d9822b", "none": "#999999"}


def load(d, name):
    path = os.path.join(d, name)
    if not os.path.exists(path):
        print(f"plot: no {name}, its chart is skipped")
        return None
    with open(path) as f:
        return json.load(f)


def save(fig, d, name):
    path = os.path.join(d, name)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"PNG: {path}")


def per_packet(d):
    doc = load(d, "prog_test_run.json")
    if not doc:
        return
    rows = doc["results"]
    names = [r["path"] for r in rows]
    net = [max(r["net_ns"], 0) for r in rows]
    lo = [max(r["net_ns"] - (r["min_ns"] - r["floor_ns"]), 0) for r in rows]
    hi = [max((r["max_ns"] - r["floor_ns"]) - r["net_ns"], 0) for r in rows]
    colors = ["#c0392b" if r["verdict"] == "drop" else "#2a7ab9" for r in rows]
    fig, ax = plt.subplots(figsize=(10, 0.28 * len(rows) + 1.5))
    ax.barh(names, net, xerr=[lo, hi], color=colors, capsize=2)
    ax.invert_yaxis()
    ax.set_xlabel("ns per packet over the no-op floor (median; whiskers: min-max of runs)")
    ax.set_title(f"sipguard per-packet cost by verdict path\n(BPF_PROG_TEST_RUN, "
                 f"{doc['runs']} runs x {doc['repeat']:,}; red = drop, blue = pass)")
    ax.tick_params(axis="y", labelsize=7)
    save(fig, d, "per_packet.png")


def flood(d):
    doc = load(d, "flood_capacity.json")
    if not doc:
        return
    rows = [r for r in doc["rows"] if r.get("drops_per_softirq_s")]
    floods = sorted({r["flood"] for r in rows}, key=lambda f: [r["flood"] for r in rows].index(f))
    filters = [f for f in ["sipguard", "iptables", "nftables"] if any(r["filter"] == f for r in rows)]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / max(len(filters), 1)
    for i, flt in enumerate(filters):
        xs, ys, labels = [], [], []
        for j, fl in enumerate(floods):
            r = next((r for r in rows if r["filter"] == flt and r["flood"] == fl), None)
            if r is None:
                continue
            xs.append(j + (i - (len(filters) - 1) / 2) * width)
            ys.append(r["drops_per_softirq_s"] / 1e6)
            labels.append(f"{r['drops_per_softirq_s'] / 1e6:.2f}")
        bars = ax.bar(xs, ys, width, label=flt, color=COLORS.get(flt))
        ax.bar_label(bars, labels, fontsize=8)
    ax.set_xticks(range(len(floods)), floods)
    ax.set_ylabel("million packets dropped per second of receiving CPU (softirq)")
    ax.set_title("Flood capacity, one core (XDP_TX live-frames generator over veth)")
    ax.legend()
    save(fig, d, "flood_capacity.png")


def bruteforce(d):
    doc = load(d, "bruteforce.json")
    if not doc:
        return
    defences = doc["defences"]
    names = [x["defence"] for x in defences]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    wrong = [x["median_wrong_passwords"] for x in defences]
    cut = [x["median_cutoff_s"] for x in defences]
    colors = ["#2a7ab9" if n.startswith("sipguard") else "#d9822b" for n in names]
    b1 = a1.bar(names, wrong, color=colors)
    a1.bar_label(b1, [f"{w:g}" for w in wrong])
    a1.set_ylabel("wrong passwords that reached Kamailio (median)")
    a1.set_title("svcrack: guesses before the cut-off")
    b2 = a2.bar(names, cut, color=colors)
    a2.bar_label(b2, [f"{c:.3f} s" for c in cut])
    a2.set_ylabel("seconds from first to last request reaching Kamailio (median)")
    a2.set_title("svcrack: time to cut-off")
    for a in (a1, a2):
        a.tick_params(axis="x", labelsize=8)
    save(fig, d, "bruteforce.png")


def scale(d):
    doc = load(d, "scale.json")
    if not doc:
        return
    setups = doc["setups"]
    paths = [p["path"] for p in setups[0]["paths"]]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.38
    for i, s in enumerate(setups):
        by = {p["path"]: p["net_ns"] for p in s["paths"]}
        label = (f"{s['deny_prefixes']:,} deny prefixes, {s['sources_filled']:,} of "
                 f"{s['tracked_sources']:,} sources")
        bars = a1.bar([j + (i - 0.5) * width for j in range(len(paths))],
                      [by.get(p, 0) for p in paths], width, label=label)
        a1.bar_label(bars, [f"{by.get(p, 0):.0f}" for p in paths], fontsize=8)
    a1.set_xticks(range(len(paths)), [p.replace("_", "\n", 2) for p in paths], fontsize=7)
    a1.set_ylabel("ns per packet over the no-op floor")
    a1.set_title("sipguard per-packet cost at scale")
    a1.legend(fontsize=7)
    load_rows = []
    big = setups[-1]
    load_rows.append(("sipguard: write maps", big["load_and_apply_s"]))
    if big.get("replace_prefixes"):
        load_rows.append(("sipguard: replace", big["replace_prefixes"]["replace_s"]))
    dm = doc["load"].get("sipguard_daemon")
    if dm:
        load_rows.append(("sipguard daemon: start", dm["start_s"]))
        load_rows.append(("sipguard daemon: reload", dm["reload_median_s"]))
    nft = doc["load"].get("nftables")
    if nft:
        load_rows.append(("nft -f: load set", nft["load_s"]))
        load_rows.append(("nft -f: replace set", nft["replace_s"]))
    ipt = doc["load"].get("iptables")
    if ipt:
        load_rows.append(("iptables-restore: rules", ipt["load_s"]))
    names = [r[0] for r in load_rows]
    secs = [r[1] for r in load_rows]
    colors = [COLORS["sipguard"] if n.startswith("sipguard") else
              COLORS["nftables"] if n.startswith("nft") else COLORS["iptables"] for n in names]
    bars = a2.barh(names, secs, color=colors)
    a2.bar_label(bars, [f"{s:.2f} s" for s in secs], fontsize=8)
    a2.invert_yaxis()
    a2.set_xlabel("seconds")
    a2.set_title(f"Loading {doc['deny_prefixes']:,} deny prefixes")
    save(fig, d, "scale.png")


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "target/bench"
    for chart in (per_packet, flood, bruteforce, scale):
        try:
            chart(d)
        except (KeyError, TypeError, ValueError) as e:
            print(f"plot: {chart.__name__} skipped, unexpected JSON: {e!r}")


if __name__ == "__main__":
    main()
