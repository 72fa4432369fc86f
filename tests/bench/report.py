#!/usr/bin/python3
"""Charts and tables of `cargo xtask bench`, from the JSON it wrote.

usage: report.py DIR [--update-doc BENCHMARKS.md]

DIR holds prog_test_run.json, autoban_lab.json, flood_capacity.json, bruteforce.json and
scale.json; a missing file skips its part. Writes one PNG chart per comparison and
DIR/summary.md (the tables, ratios included). With --update-doc, the summary also replaces
the part of BENCHMARKS.md between its "results" markers and the charts are copied to
docs/bench/ next to it, so the published numbers are the measured ones, never typed in.

Runs with Debian's python3-matplotlib (`cargo xtask bench` installs it).
"""
import json
import os
import platform
import shutil
import sys
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"sipguard": "#2a7ab9", "iptables": "#d9822b", "nftables": "#7a9a3a",
          "fail2ban": "#d9822b", "xdp_drop": "#bbbbbb", "no filter": "#777777"}


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
    filters = [f for f in ["xdp_drop", "sipguard", "iptables", "nftables"]
               if any(r["filter"] == f for r in rows)]
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
        label = "bare XDP_DROP (ceiling)" if flt == "xdp_drop" else flt
        bars = ax.bar(xs, ys, width, label=label, color=COLORS.get(flt))
        ax.bar_label(bars, labels, fontsize=8)
    ax.set_xticks(range(len(floods)), floods)
    ax.set_ylabel("million packets dropped per second of receiving CPU (softirq)")
    ax.set_title("Flood capacity, one core, over veth\n(generator: XDP_TX live frames; "
                 "*_af_packet: AF_PACKET sendmmsg)")
    ax.legend()
    save(fig, d, "flood_capacity.png")


def defences(doc):
    """(name, medians, trials) per defence of bruteforce.json, sipguard first."""
    rows = [(name, x["median"], x["trials"]) for name, x in doc["results"].items()]
    return sorted(rows, key=lambda r: r[0] != "sipguard")


def bruteforce(d):
    doc = load(d, "bruteforce.json")
    if not doc:
        return
    rows = defences(doc)
    names = [r[0] for r in rows]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    wrong = [r[1]["wrong_passwords"] or 0 for r in rows]
    cut = [r[1]["cut_off_s"] or 0 for r in rows]
    colors = [COLORS["sipguard"] if n.startswith("sipguard") else COLORS["fail2ban"] for n in names]
    b1 = a1.bar(names, wrong, color=colors)
    a1.bar_label(b1, [f"{w:g}" for w in wrong])
    a1.set_ylabel("wrong passwords that reached Kamailio (median)")
    a1.set_title("svcrack: guesses before the cut-off")
    b2 = a2.bar(names, cut, color=colors)
    a2.bar_label(b2, [f"{c:.3f} s" for c in cut])
    a2.set_ylabel("first to last request reaching Kamailio, s (median)")
    a2.set_title("svcrack: time to cut-off")
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


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def summary(d):
    md = []
    meta = load(d, "prog_test_run.json")
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), "unknown CPU")
    stamps = [os.path.getmtime(os.path.join(d, f)) for f in os.listdir(d) if f.endswith(".json")]
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(max(stamps))) if stamps else "?"
    md.append(f"Machine: {cpu}, {os.cpu_count()} CPUs, Linux {platform.release()}. "
              f"Run finished {when}.\n")
    if meta and meta["results"]:
        md.append(f"### Per-packet cost (BPF_PROG_TEST_RUN, {meta['runs']} runs x "
                  f"{meta['repeat']:,} packets)\n")
        md.append(table(["path", "net ns", "spread (min-max of runs, net)", "verdict"], [
            (f"`{r['path']}`", f"{r['net_ns']:.0f}",
             f"{r['min_ns'] - r['floor_ns']:.0f}-{r['max_ns'] - r['floor_ns']:.0f}", r["verdict"])
            for r in meta["results"]]))
        md.append("![per-packet cost](docs/bench/per_packet.png)\n")
    lab = load(d, "autoban_lab.json")
    if lab:
        b = lab["burst"]
        md.append("### Auto-ban reaction (lab, Kamailio)\n")
        md.append(f"Median time from the 5th failure answer to the first dropped request: "
                  f"**{lab['median_last_answer_to_first_drop_us']:.1f} µs** over "
                  f"{len(lab['trials'])} trials; a burst of {b['sent']} wrong passwords sent back to "
                  f"back: {b['reached_kamailio']} reached Kamailio (ban reason {b['ban_reason']}).\n")
    md.extend(flood_summary(d))
    md.extend(bruteforce_summary(d))
    md.extend(scale_summary(d))
    return "\n".join(md)


def flood_summary(d):
    doc = load(d, "flood_capacity.json")
    if not doc:
        return []
    rows = doc["rows"]
    md = ["### Flood capacity (one core)\n"]
    best = {}
    for r in rows:
        if r["filter"] == "sipguard":
            best[r["flood"]] = r.get("drops_per_softirq_s") or 0
    out = []
    for r in rows:
        dps = r.get("drops_per_softirq_s") or 0
        base = best.get(r["flood"]) or 0
        if r["filter"] == "xdp_drop":
            ratio = "(ceiling: a bare XDP_DROP)"
        elif r["filter"] != "sipguard" and dps:
            ratio = f"{base / dps:.1f}x"
        else:
            ratio = ""
        out.append((r["filter"], r["flood"], f"{r['sent_mpps']:.2f}", f"{r['dropped']:,}",
                    f"{r['softirq_s']:.2f}", f"**{dps / 1e6:.2f}**", ratio,
                    f"{r['honest_registrations_ok']}/{r['honest_registrations_total']}",
                    f"{r['honest_calls_ok']}/{r['honest_calls_total']}"))
    md.append(table(["filter", "flood", "offered Mpps", "dropped", "softirq s",
                     "Mpps dropped per softirq-s", "sipguard drops per CPU-s, times this",
                     "honest REGISTER ok", "honest calls ok"], out))
    floods = {f["flood"]: f for f in doc.get("floods", [])}
    for name, f in floods.items():
        md.append(f"- `{name}` ({f['frame_bytes']}-byte frames): {f['what']}")
    md.append(f"\nGenerator: {doc.get('generator')}.\n")
    md.append("![flood capacity](docs/bench/flood_capacity.png)\n")
    return md


def bruteforce_summary(d):
    doc = load(d, "bruteforce.json")
    if not doc:
        return []
    f2b = doc.get("fail2ban", {})
    md = [f"### Brute force: svcrack against Kamailio\n",
          f"Attack: {doc['attack']}. fail2ban {f2b.get('version')} (backend "
          f"{f2b.get('backend')}), maxretry {f2b.get('maxretry')}, findtime "
          f"{f2b.get('findtime_s')} s, action {f2b.get('action')}.\n"]
    rows = defences(doc)
    base = next((r[1] for r in rows if r[0] == "sipguard"), None)
    out = []
    for name, m, trials in rows:
        ratio = ""
        if base and name != "sipguard" and base["wrong_passwords"]:
            ratio = f"{m['wrong_passwords'] / base['wrong_passwords']:.0f}x the guesses"
            if base["cut_off_s"]:
                ratio += f", {m['cut_off_s'] / base['cut_off_s']:.0f}x the time"
        out.append((name, f"{m['sent']:.0f}", f"{m['reached_kamailio']:.0f}",
                    f"**{m['wrong_passwords']:.0f}**", f"**{m['cut_off_s']:.3f}**",
                    ", ".join(str(t["wrong_passwords"]) for t in trials), ratio))
    md.append(table(["defence", "requests sent (median)", "reached Kamailio",
                     "wrong passwords reaching Kamailio", "seconds to cut-off",
                     "wrong passwords per trial", "against sipguard"], out))
    md.append(f"{doc['definitions']}\n")
    md.append("![brute force](docs/bench/bruteforce.png)\n")
    forged = doc.get("forged_trunk")
    if forged:
        md.append("#### The forged trunk: the same defences, and a forger writing the trunk's "
                  "address\n")
        md.append(f"Attack: {forged['attack']}.\n")
        out = []
        for name in sorted(forged["results"], key=lambda n: n != "sipguard"):
            r = forged["results"][name]
            out.append((name, r["forged_sent"], r["authfail_logged"],
                        f"**{r['ban']}**",
                        f"{r['registrations_ok']}/{r['registrations']}",
                        f"{r['calls_ok']}/{r['calls']}"))
        md.append(table(["defence", "forged packets", "AUTHFAIL lines \"from\" the trunk",
                         "the trunk's ban", "trunk registrations ok after",
                         "trunk calls ok after"], out))
        md.append(f"{forged['definitions']}\n")
    return md


def scale_summary(d):
    doc = load(d, "scale.json")
    if not doc:
        return []
    md = [f"### Scale: {doc['deny_prefixes']:,} deny prefixes, {doc['tracked_sources']:,} "
          f"tracked sources\n"]
    setups = doc["setups"]
    paths = [p["path"] for p in setups[0]["paths"]]
    out = []
    for p in paths:
        vals = [next(x["net_ns"] for x in s["paths"] if x["path"] == p) for s in setups]
        out.append([f"`{p}`"] + [f"{v:.0f}" for v in vals])
    md.append(table(["path (net ns)"] + [
        f"{s['deny_prefixes']:,} prefixes, {s['sources_filled']:,} sources" for s in setups], out))
    mem = [(s["setup"], s["map_memory_bytes"],
            next((m["bytes"] for m in s["map_memory"] if m["map"] == "RATES"), 0)) for s in setups]
    md.append(table(["setup", "all maps (MiB)", "of which the per-source table (MiB)"],
                    [(n, f"{a / 1048576:.1f}", f"{r / 1048576:.1f}") for n, a, r in mem]))
    big = setups[-1]
    ld = doc["load"]
    rows = [("sipguard, in process: parse, compile, write the maps",
             f"{big['load_and_apply_s']:.2f}")]
    if big.get("replace_prefixes"):
        rows.append(("sipguard, in process: replace them by 100k others",
                     f"{big['replace_prefixes']['replace_s']:.2f}"))
    dm = ld.get("sipguard_daemon")
    if dm:
        rows.append(("sipguard daemon: start until /metrics answers", f"{dm['start_s']:.2f}"))
        rows.append(("`sipguard reload` of 100k other prefixes (median)",
                     f"{dm['reload_median_s']:.2f}"))
    if ld.get("nftables"):
        rows.append(("`nft -f`: interval set", f"{ld['nftables']['load_s']:.2f}"))
        rows.append(("`nft -f`: flush set and add 100k others",
                     f"{ld['nftables']['replace_s']:.2f}"))
    if ld.get("iptables"):
        rows.append(("`iptables-legacy-restore`: one rule per prefix",
                     f"{ld['iptables']['load_s']:.2f}"))
    md.append(table(["loading the prefixes", "seconds"], rows))
    if dm:
        md.append(f"Under traffic during the reloads (1 datagram/ms from an honest and a denied "
                  f"LAN source): honest {dm['honest_received']}/{dm['honest_sent']} arrived, "
                  f"the denied source passed {dm['denied_passed']} times.\n")
    md.append("![scale](docs/bench/scale.png)\n")
    return md


BEGIN = "<!-- results: begin (written by tests/bench/report.py --update-doc) -->"
END = "<!-- results: end -->"


def main():
    args = sys.argv[1:]
    d = args[0] if args else "target/bench"
    for chart in (per_packet, flood, bruteforce, scale):
        try:
            chart(d)
        except (KeyError, TypeError, ValueError, StopIteration) as e:
            print(f"plot: {chart.__name__} skipped, unexpected JSON: {e!r}")
    text = summary(d)
    with open(os.path.join(d, "summary.md"), "w") as f:
        f.write(text)
    print(f"summary: {os.path.join(d, 'summary.md')}")
    if "--update-doc" in args:
        doc = args[args.index("--update-doc") + 1]
        body = open(doc).read()
        start, end = body.index(BEGIN) + len(BEGIN), body.index(END)
        with open(doc, "w") as f:
            f.write(body[:start] + "\n" + text + "\n" + body[end:])
        print(f"updated {doc}")
        charts = os.path.join(os.path.dirname(os.path.abspath(doc)), "docs", "bench")
        os.makedirs(charts, exist_ok=True)
        for name in sorted(os.listdir(d)):
            if name.endswith(".png"):
                shutil.copy(os.path.join(d, name), os.path.join(charts, name))
                print(f"PNG: {os.path.join(charts, name)}")


if __name__ == "__main__":
    main()
