#!/usr/bin/env python3
"""Helpers of bench/run.sh: record a row, read a JSON field, describe the
machine, and print the table and write RESULTS.md.

    report.py record ROWS.jsonl key=value ...      append one row
    report.py field JSON_FILE KEY                  print one top-level field ('' if absent)
    report.py pacing LOG                           what ferry's --json says it chose, as key=value words
    report.py samples LOG OUT.jsonl                the controller's changes as the picture's samples
    report.py size BYTES                           a size as the table writes it
    report.py machine                              print the machine as JSON
    report.py report ROWS.jsonl META.json OUT.md   print the table, write OUT.md

A row is one measurement: section, id, label, size (bytes), status ("ok",
"failed", "not run", "not measured"), wall (s, measured by run.sh around the
process), seconds (what the tool itself reported, ferry's --json `seconds`),
instances, parts, rss_kib, note. Only rows of one invocation are compared.
"""
import json
import os
import platform
import subprocess
import sys

MB = 1e6
FC_RATE = 13_000_000
MIB = 1024 * 1024
CAP_CONNS = 100  # bench/run.sh CAP_CONNS: ranged connections of the capped ceiling

# The FC design's published figures (the FC table): size -> (1 instance, 100 instances), seconds.
FC_DESIGN = {
    200_000_000: ("15", 1.0),
    2_000_000_000: ("155", 4.0),
    10_774_000_000: (">600", 11.0),
    14_680_000_000: (">600", 14.0),
}


def coerce(v):
    for f in (int, float):
        try:
            return f(v)
        except ValueError:
            pass
    if v in ("true", "false"):
        return v == "true"
    if v == "":
        return None
    return v


def cmd_record(path, pairs):
    row = {}
    for p in pairs:
        k, _, v = p.partition("=")
        row[k] = v if k in ("note", "label", "id", "section", "status", "comp") else coerce(v)
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")


def cmd_field(path, key):
    try:
        text = open(path).read().strip()
        # ferry --json prints one object; take the first line that parses
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("{"):
                obj = json.loads(line)
                v = obj.get(key)
                print("" if v is None else (json.dumps(v) if isinstance(v, (dict, list, bool)) else v))
                return
    except (OSError, ValueError):
        pass
    print("")


def json_lines(path):
    """The JSON objects of a log, one a line (other lines skipped)."""
    out = []
    try:
        for line in open(path):
            line = line.strip()
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    except OSError:
        pass
    return out


def result(path):
    """ferry's --json result in a log: the object with `ok`."""
    return next((o for o in json_lines(path) if "ok" in o), {})


def pacing(res):
    """How ferry chose its parallelism, from its --json result: the object
    holding `changes` (final, max, cap, changes), or None."""
    for v in res.values():
        if isinstance(v, dict) and isinstance(v.get("changes"), list):
            return v
    return None


def change_fields(c):
    """(seconds, parts in flight, MB/s) of one change of the controller,
    as the --json result or an event line names them."""
    t = next((c[k] for k in ("secs", "t", "seconds", "at") if isinstance(c.get(k), (int, float))), None)
    n = next((c[k] for k in ("parallel", "in_flight", "target") if isinstance(c.get(k), (int, float))), None)
    m = c.get("mbps")
    if t is None or n is None or not isinstance(m, (int, float)):
        return None
    return float(t), int(n), float(m)


def cmd_pacing(path):
    """key=value words for a row: what the controller chose ('' if nothing)."""
    p = pacing(result(path))
    if not p:
        return
    words = [f"par_final={p.get('final', '')}", f"par_max={p.get('max', '')}",
             f"par_changes={len(p['changes']) + int(p.get('changes_dropped') or 0)}"]
    if p.get("cap") is not None:
        words.append(f"par_cap={p['cap']}")
    print(" ".join(words))


def cmd_samples(path, out):
    """The picture's samples ({"t","in_flight","mbps"} lines) of one ferry run:
    from the controller's event lines in the log when there are any, else from
    the changes its --json result lists. Each change is a step: the old target
    up to its time, the new one after; MB/s is what was measured just before."""
    res = result(path)
    changes = [f for f in (change_fields(o) for o in json_lines(path) if o is not res and "event" in o) if f]
    if not changes:
        p = pacing(res) or {}
        changes = [f for f in (change_fields(c) for c in p.get("changes", [])) if f]
    if not changes:
        return
    samples, n, m = [], None, None
    for t, new, m in sorted(changes, key=lambda c: c[0]):
        if n is not None:
            samples.append((t, n, m))
        samples.append((t, new, m))
        n = new
    end = res.get("seconds")
    if isinstance(end, (int, float)) and end > samples[-1][0]:
        # the last stretch: the final target to the end, at the last rate measured
        samples.append((float(end), n, m))
    with open(out, "w") as f:
        for t, n, m in samples:
            f.write(json.dumps({"t": round(t, 3), "in_flight": n, "mbps": round(m, 1)}) + "\n")


def machine():
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "nproc_usable": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "mem_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
    }


def fmt_size(n):
    if n is None:
        return ""
    if n % MIB == 0 and n >= MIB:
        g = n / (1024 * MIB)
        return f"{g:g} GiB" if g >= 1 else f"{n // MIB} MiB"
    if n >= 1e9:
        return f"{n / 1e9:g} GB"
    return f"{n / 1e6:g} MB"


def fnum(x, d=2):
    return "" if x is None else f"{x:.{d}f}"


def mbps(r):
    if r.get("status") == "ok" and r.get("wall"):
        return r["size"] / r["wall"] / MB
    return None


def load(path):
    rows = []
    if os.path.exists(path):
        for line in open(path):
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


def cmd_report(rows_path, meta_path, out_path):
    rows = load(rows_path)
    meta = json.load(open(meta_path))
    ok = [r for r in rows if r.get("status") == "ok"]

    def best(section, size, pred=fixed):
        cands = [r for r in ok if r["section"] == section and r["size"] == size and pred(r)]
        return max(cands, key=mbps) if cands else None

    sizes = sorted({r["size"] for r in rows if r["section"] in ("ferry", "relay", "ceiling", "rclone", "s3relay", "ferry_s3")})
    ceiling = {s: best("ceiling", s) for s in sizes}
    relay = {s: best("relay", s) for s in sizes}
    ferry_best = {s: best("ferry", s) for s in sizes}  # the best fixed --instances
    ferry_auto = {s: best("ferry", s, auto) for s in sizes}
    rclone_best = {s: best("rclone", s) for s in sizes}
    s3relay = {s: best("s3relay", s) for s in sizes}
    ferry_s3 = {s: best("ferry_s3", s) for s in sizes}
    same = {(s, r["id"]): r for r in ok if r["section"] == "same" for s in [r["size"]]}
    plain = {r["size"]: r for r in ok if r["section"] == "plain"}
    capped = {r["id"]: r for r in ok if r["section"] == "capped"}

    table = []  # (section, row, size, wall, MB/s, compared, status)

    def status_of(r):
        s = r.get("status", "?")
        return s + (f": {r['note']}" if r.get("note") else "")

    for r in rows:
        sec, size = r["section"], r.get("size")
        if sec == "cost_run" and r.get("status") == "ok":
            continue  # summed up in the cost row
        comp = ""
        m = mbps(r)
        if sec == "ceiling":
            comp = ""
        elif sec in ("relay", "ferry") and m:
            c = ceiling.get(size)
            parts = []
            if c:
                parts.append(f"{m / mbps(c) * 100:.0f}% of ceiling")
            if sec == "ferry" and relay.get(size):
                parts.append(f"{m / mbps(relay[size]):.2f}x relay")
            if auto(r) and ferry_best.get(size):
                fb = ferry_best[size]
                parts.append(f"{m / mbps(fb) * 100:.0f}% of the best fixed ({fb['instances']} inst.)")
            comp = ", ".join(parts + [chose(r)] if chose(r) else parts)
        elif sec == "rclone" and m and (ferry_s3.get(size) or ferry_best.get(size)):
            fb = ferry_s3.get(size) or ferry_best[size]
            into = "into s3s-fs" if ferry_s3.get(size) else "into the null OSS store"
            comp = f"ferry {into} ({fb.get('instances')} inst.) is {mbps(fb) / m:.2f}x"
            if s3relay.get(size):
                comp += f"; {m / mbps(s3relay[size]) * 100:.0f}% of the relay into s3s-fs"
        elif sec == "ferry_s3" and m:
            parts = []
            if s3relay.get(size):
                parts.append(f"{m / mbps(s3relay[size]):.2f}x the relay into s3s-fs")
            if rclone_best.get(size):
                parts.append(f"{m / mbps(rclone_best[size]):.2f}x rclone into s3s-fs")
            comp = ", ".join(parts)
        elif sec == "same" and m:
            oss = same.get((size, "same-ferry-oss"))
            rc = same.get((size, "same-rclone"))
            parts = []
            if r["id"] == "same-ferry-s3" and oss:
                parts.append(f"{m / mbps(oss) * 100:.0f}% of ferry over OSS")
            if r["id"] != "same-rclone" and rc:
                parts.append(f"{m / mbps(rc):.2f}x rclone into the same store")
            comp = ", ".join(parts)
        elif sec == "capped" and m:
            comp = capped_comp(r, m, capped)
        elif sec == "plain" and m and relay.get(size):
            comp = f"{m / mbps(relay[size]):.2f}x relay"
            if chose(r):
                comp += f", {chose(r)}"
        elif sec == "s3relay" and m and relay.get(size):
            comp = f"{m / mbps(relay[size]) * 100:.0f}% of the relay into the null OSS store"
        elif sec == "fc":
            d1, d100 = FC_DESIGN.get(size, (None, None))
            design = d100 if r.get("instances") in (100, "auto") else d1
            if design is None:
                comp = "no design figure for this size"
            elif isinstance(design, str):
                comp = f"design {design} s"
            elif r.get("status") == "ok":
                comp = f"design {design:g} s; {'at or under' if r['wall'] <= design else 'over'}"
                # the least time the rate cap allows: every part at 13 MB/s, min(instances, parts) at once
                parts, inst = r.get("parts"), r.get("instances")
                if auto(r):
                    inst = r.get("par_max")
                    comp += f"; {chose(r)}" if chose(r) else ""
                if parts and isinstance(inst, int):
                    waves = -(-parts // inst)
                    floor = waves * (size / parts) / FC_RATE
                    comp += f"; rate-cap floor {floor:.1f} s"
            else:
                comp = f"design {design:g} s"
        elif sec == "throttle" and r.get("status") == "ok":
            comp = (f"settled at {r.get('par_final', '?')} in flight (highest {r.get('par_max', '?')}) against "
                    f"K = {r.get('k')}; {r.get('retries', '?')} retries for {r.get('parts', '?')} parts")
        elif sec == "cost":
            comp = r.get("comp", "")
        elif sec == "memory":
            comp = r.get("comp", "")
        label = row_label(r) if sec in ("ferry", "fc", "ferry_s3", "capped", "throttle") else r["label"]
        wall = fnum(r.get("wall")) if r.get("status") == "ok" else ""
        if sec in ("ferry", "capped", "throttle") and r.get("seconds") is not None and r.get("status") == "ok":
            wall += f" ({r['seconds']:.2f})"
        table.append((sec, label, fmt_size(size), wall, fnum(m, 0) if m else "", comp, status_of(r)))

    # goals
    goals = []

    def goal(name, holds, detail):
        goals.append((name, holds, detail))

    main_sizes = [s for s in sizes if any(r["section"] == "ferry" and r["size"] == s for r in rows)]
    # 1. ferry >= 1.5x relay and >= 60% of the ceiling
    det, res = [], []
    for s in main_sizes:
        f, rl, c = ferry_best.get(s), relay.get(s), ceiling.get(s)
        if not (f and rl and c):
            det.append(f"{fmt_size(s)}: not measured (a run failed)")
            res.append(None)
            continue
        xr, pc = mbps(f) / mbps(rl), mbps(f) / mbps(c)
        res.append(xr >= 1.5 and pc >= 0.6)
        det.append(f"{fmt_size(s)}: best ferry ({f['instances']} inst.) {xr:.2f}x relay, {pc * 100:.0f}% of ceiling")
    goal("ferry (CRC-checked) >= 1.5x the naive relay and >= 60% of the curl ceiling", all_or_none(res), "; ".join(det))
    # 2. >= 5x rclone
    det, res = [], []
    for s in main_sizes:
        # Like for like: ferry over S3 and rclone into the same store (the
        # test store speaks S3 too); else into the same S3 server.
        if same.get((s, "same-ferry-s3")) and same.get((s, "same-rclone")):
            f, rc = same[(s, "same-ferry-s3")], same[(s, "same-rclone")]
        else:
            f, rc = ferry_s3.get(s) or ferry_best.get(s), rclone_best.get(s)
        if not (f and rc):
            why = next((r.get("note") for r in rows if r["section"] == "rclone" and r["size"] == s and r.get("note")), "no run")
            det.append(f"{fmt_size(s)}: not measured ({why})")
            res.append(None)
            continue
        x = mbps(f) / mbps(rc)
        res.append(x >= 5)
        det.append(f"{fmt_size(s)}: {f['label']} {x:.2f}x {rc['label']}")
    goal("ferry >= 5x rclone", all_or_none(res), "; ".join(det))
    # 3. FC table, 100 instances at or under the design
    det, res = fc_against_design(rows, lambda r: r.get("instances") == 100, lambda r: "")
    if not res:
        det.append("quick mode: the design's sizes were not run")
    fastest = max((r for r in ok if r["section"] in ("ferry", "fc")), key=mbps, default=None)
    if res and fastest:
        det.append(f"(100 x 13 MB/s asks for 1,300 MB/s; the fastest ferry run of this invocation moved "
                   f"{mbps(fastest):.0f} MB/s: source, ferry and store share {meta['machine']['nproc']} cores)")
    goal("FC table: 100 instances at or under the design's times", all_or_none(res), "; ".join(det))
    # 1b, 2b. the same two goals on the design's source (13 MB/s a connection)
    if any(r["section"] == "capped" for r in rows):
        f, rl, c = capped.get("cap-ferry-oss-100"), capped.get("relay"), capped.get(f"ceiling{CAP_CONNS}")
        if f and rl and c:
            xr, pc = mbps(f) / mbps(rl), mbps(f) / mbps(c)
            goal("on the design's source (13 MB/s a connection): ferry >= 1.5x the naive relay and >= 60% of the "
                 "curl ceiling", xr >= 1.5 and pc >= 0.6,
                 f"ferry over OSS, 100 inst., {xr:.1f}x the relay (one connection), {pc * 100:.0f}% of "
                 f"{CAP_CONNS} ranged curl connections")
        else:
            goal("on the design's source: ferry >= 1.5x the relay and >= 60% of the ceiling", None, "a run failed")
        f = capped.get("cap-ferry-s3-100")
        peers = [capped[k] for k in ("cap-rclone-copyurl", "cap-rclone-copyto") if k in capped]
        if f and peers:
            rc = max(peers, key=mbps)
            det = f"{f['label']} {mbps(f) / mbps(rc):.1f}x {rc['label']} (rclone's defaults, its faster command)"
            t = capped.get("cap-rclone-copyto100")
            if t:
                det += f"; {mbps(f) / mbps(t):.2f}x rclone told to use 100 streams, as many as ferry's instances"
            goal("on the design's source: ferry >= 5x rclone", mbps(f) / mbps(rc) >= 5, det)
        else:
            goal("on the design's source: ferry >= 5x rclone", None, "a run failed or rclone is missing")
    self_tuning_goals(goal, rows, capped, main_sizes, ferry_best, ferry_auto)
    # 3b. client CPU per GB against the relay's: the main source states its
    # CRC-64 (--crc), so ferry hashes nothing; a plain source (every part's
    # CRC-64 computed); S3 (CRC-64/NVME, and CRC-64/XZ against the source's)
    for name, bound, pick, named in (
        ("source offers CRC-64: ferry <= 0.75x the relay's client core-s per GB", 0.75,
         lambda s: ferry_auto.get(s) or ferry_best.get(s), True),
        ("plain source (CRC-64 computed): ferry <= 1.0x the relay's client core-s per GB", 1.0,
         lambda s: plain.get(s), False),
        ("S3 (CRC-64/NVME into the shared store): ferry <= 1.0x the relay's client core-s per GB", 1.0,
         lambda s: same.get((s, "same-ferry-s3")), False),
    ):
        det, res = [], []
        for s in main_sizes:
            f, rl = pick(s), relay.get(s)
            if not (f and rl and cpu(f) and cpu(rl)):
                det.append(f"{fmt_size(s)}: not measured (a run failed or its CPU was not recorded)")
                res.append(None)
                continue
            gb = s / 1e9
            fc, rc = cpu(f)[0] / gb, cpu(rl)[0] / gb
            res.append(fc <= bound * rc)
            who = f"ferry ({f['instances']} inst.)" if named else "ferry"
            det.append(f"{fmt_size(s)}: {who} {fc:.2f} core-s per GB, the relay {rc:.2f}: {fc / rc:.2f}x")
        goal(name, all_or_none(res), "; ".join(det))
    # 4. per-part cost of a fresh instance
    r = next((r for r in rows if r["section"] == "cost" and r.get("per_part_ms") is not None), None)
    if r:
        goal("cost per part of a fresh instance <= 1 ms", r["per_part_ms"] <= 1.0,
             f"{r['per_part_ms']:.3f} ms per extra part (includes its ranged GET, UploadPart and presign; an upper bound)")
    else:
        goal("cost per part of a fresh instance <= 1 ms", None, "not measured (a run failed)")
    # 5. memory
    det, res = [], []
    for r in rows:
        if r["section"] == "memory" and r.get("rss_kib") is not None and r.get("in_flight"):
            budget = 64 + 2 * r["in_flight"]
            mib = r["rss_kib"] / 1024
            res.append(mib <= budget)
            det.append(f"{fmt_size(r['size'])}: {mib:.0f} MiB peak, {r['in_flight']} in flight, budget {budget} MiB")
    goal("peak host memory <= 64 MiB + 2 MiB per part in flight", all_or_none(res) if res else None,
         "; ".join(det) if det else "not measured")

    mach = meta["machine"]
    mline = (f"{mach['nproc']} cores ({mach['nproc_usable']} usable), {mach['cpu']}, "
             f"{mach['mem_gib']} GiB memory, Linux {mach['kernel']}")
    lines = []
    lines.append(f"# ferry benchmark results{' (BENCH_QUICK=1)' if meta.get('quick') else ''}")
    lines.append("")
    lines.append(f"- date: {meta['date']}")
    lines.append(f"- commit: {meta['commit']}{' (work tree had changes)' if meta.get('dirty') else ''}")
    lines.append(f"- machine: {mline}")
    lines.append(f"- binaries and tools: {meta.get('tools', '')}")
    lines.append(f"- run took: {meta.get('elapsed', '?')} s")
    lines.append("")
    lines.append("Everything on loopback: source and store are `ferry-testbed` (store `--null --cheap-etags`:")
    lines.append("no bytes kept, signatures and CRC-64 still checked), sharing the cores with the client.")
    lines.append("Absolute numbers hold for this machine only; the ratios are between runs of this one invocation.")
    lines.append("Wall s is the whole process as timed by bench/run.sh; for ferry, ferry's own `seconds` follows in")
    lines.append("parentheses. MB/s = bytes / wall s / 10^6. See bench/README.md for what each row is.")
    lines.append("")
    if meta.get("picture"):
        lines.append("What ferry's controller did in the no-flag runs (parts in flight and MB/s over time, from each "
                     "run's `--json` changes):")
        lines.append("")
        lines.append(f"![parts in flight and MB/s over time]({meta['picture']})")
        lines.append("")
    lines.append("| section | row | size | wall s | MB/s | compared | status |")
    lines.append("|---|---|---|---|---|---|---|")
    for t in table:
        lines.append("| " + " | ".join(str(x).replace("|", "\\|") for x in t) + " |")
    lines.append("")
    lines.append("## Goals")
    lines.append("")
    for name, holds, det in goals:
        mark = {True: "HOLDS", False: "DOES NOT HOLD", None: "NOT MEASURED", "partial": "HOLDS WHERE MEASURED"}[holds]
        lines.append(f"- **{mark}**: {name}. {det}")
    lines.extend(cpu_section(rows, ok, main_sizes, ceiling, relay, ferry_best, mach["nproc_usable"]))
    notes = meta.get("notes") or []
    if notes:
        lines.append("")
        lines.append("## Not measured / notes")
        lines.append("")
        for n in notes:
            lines.append(f"- {n}")
    text = "\n".join(lines) + "\n"
    with open(out_path, "w") as f:
        f.write(text)
    sys.stdout.write(text)


def fc_against_design(rows, pick, more):
    """The FC table's rows that `pick` selects against the design's 100-instance
    times: (details, holds per size)."""
    det, res = [], []
    for s, (_, d100) in FC_DESIGN.items():
        r = next((r for r in rows if r["section"] == "fc" and r["size"] == s and pick(r)), None)
        if r is None:
            continue
        if r.get("status") != "ok":
            det.append(f"{fmt_size(s)}: {r.get('status')}")
            res.append(False if r.get("status") == "failed" else None)
            continue
        res.append(r["wall"] <= d100)
        det.append(f"{fmt_size(s)}: {r['wall']:.1f} s vs {d100:g} s{more(r)}")
    return det, res


def self_tuning_goals(goal, rows, capped, main_sizes, ferry_best, ferry_auto):
    """The goals of ferry with no flags, where it chooses the parts in flight."""
    if not any(auto(r) for r in rows):
        return
    name = "capped source: no flags >= 90% of the best fixed --instances (1 to 200)"
    f, fb = capped.get("cap-ferry-oss-auto"), best_fixed_capped(capped)
    if f and fb:
        x = mbps(f) / mbps(fb)
        goal(name, x >= 0.9, f"no flags {mbps(f):.0f} MB/s{paren(chose(f))}, best fixed {fb['instances']} inst. "
             f"{mbps(fb):.0f} MB/s: {x * 100:.0f}%")
    else:
        goal(name, None, "a run failed")
    name = "capped source: no flags >= 3x the FC design's own function (Python, Pool of 99)"
    d = capped.get("cap-design")
    if f and d:
        x = mbps(f) / mbps(d)
        det = f"no flags {f['wall']:.2f} s, the design's function {d['wall']:.2f} s: {x:.2f}x"
        h = capped.get("cap-ferry-oss-100")
        if h:
            det += f" (ferry with --instances 100: {mbps(h) / mbps(d):.2f}x)"
        goal(name, x >= 3, det)
    else:
        goal(name, None, "a run failed")
    det, res = fc_against_design(rows, auto, lambda r: f" (highest {r.get('par_max')} in flight)")
    goal("FC table with no flags: 200 MB <= 1 s, 2 GB <= 4 s, 10.774 GB <= 11 s, 14.68 GB <= 14 s",
         all_or_none(res), "; ".join(det) if det else "quick mode: the design's sizes were not run")
    name = "capped source, into the same store over S3: no flags >= 1.5x rclone with 100 streams, >= 20x rclone's defaults"
    f = capped.get("cap-ferry-s3-auto")
    t = capped.get("cap-rclone-copyto100")
    peers = [capped[k] for k in ("cap-rclone-copyurl", "cap-rclone-copyto") if k in capped]
    if f and t and peers:
        rc = max(peers, key=mbps)
        x100, xdef = mbps(f) / mbps(t), mbps(f) / mbps(rc)
        goal(name, x100 >= 1.5 and xdef >= 20,
             f"ferry s3:// no flags {mbps(f):.0f} MB/s: {x100:.2f}x rclone --multi-thread-streams 100 "
             f"--s3-upload-concurrency 100 ({mbps(t):.0f} MB/s), {xdef:.1f}x {rc['label']} (rclone's defaults, "
             f"its faster command, {mbps(rc):.0f} MB/s)")
    else:
        goal(name, None, "a run failed or rclone is missing")
    det, res = [], []
    for s in main_sizes:
        a, fb = ferry_auto.get(s), ferry_best.get(s)
        if not (a and fb):
            det.append(f"{fmt_size(s)}: not measured (a run failed)")
            res.append(None)
            continue
        x = mbps(a) / mbps(fb)
        res.append(x >= 0.9)
        det.append(f"{fmt_size(s)}: no flags {mbps(a):.0f} MB/s{paren(chose(a))}, best fixed {fb['instances']} inst. "
                   f"{mbps(fb):.0f} MB/s: {x * 100:.0f}%")
    goal("uncapped source: no flags within 10% of the best fixed --instances", all_or_none(res), "; ".join(det))
    r = next((r for r in rows if r["section"] == "throttle"), None)
    name = "a store answering 503 beyond K UploadParts at once: no flags settles at or below K, retries bounded"
    if r is None or r.get("status") != "ok" or r.get("par_final") is None:
        why = (r or {}).get("note") or ("the run failed" if r else "not run")
        if r and r.get("status") == "ok":
            why = "ferry's --json reported no parallelism"
        goal(name, None if not r or r.get("status") != "failed" else False, why)
    else:
        k, parts, retries = r["k"], r.get("parts") or 0, r.get("retries") or 0
        top = r.get("par_max") or 0
        goal(name, r["par_final"] <= k and retries <= 2 * top,
             f"K = {k}: settled at {r['par_final']} (highest {top}), {retries} retries for {parts} parts "
             f"(bounded: at most twice the highest parallelism, the overshoot while finding K, not a steady rate)")


def fixed(r):
    """A ferry row with --instances given (or a row of another tool)."""
    return r.get("instances") != "auto"


def auto(r):
    """A ferry row with no --instances: ferry chose the parts in flight."""
    return r.get("instances") == "auto"


def paren(text):
    return f" ({text})" if text else ""


def row_label(r):
    if auto(r):
        return f"{r['label']}, no flags"
    return r["label"] + (f", {r['instances']} inst." if r.get("instances") else "")


def chose(r):
    """What ferry's controller chose in a no-flag row, for the compared cell."""
    if not auto(r) or r.get("par_final") is None:
        return ""
    n = r.get("par_changes")
    return f"chose {r['par_final']} in flight, highest {r.get('par_max')}, {n} change{'' if n == 1 else 's'}"


def capped_comp(r, m, capped):
    """The "compared" cell of a row on the capped source."""
    c = capped.get(f"ceiling{CAP_CONNS}")
    rid = r["id"]
    parts = []
    if c and rid != c["id"]:
        parts.append(f"{m / mbps(c) * 100:.0f}% of ceiling")
    if rid.startswith("cap-ferry-oss") and capped.get("relay"):
        parts.append(f"{m / mbps(capped['relay']):.1f}x relay")
    if rid == "cap-ferry-oss-auto":
        fb = best_fixed_capped(capped)
        if fb:
            parts.append(f"{m / mbps(fb) * 100:.0f}% of the best fixed ({fb['instances']} inst.)")
    if rid.startswith("cap-ferry-oss") and capped.get("cap-design") and capped["cap-design"]["size"] == r["size"]:
        parts.append(f"{m / mbps(capped['cap-design']):.1f}x the design's function")
    if rid.startswith("cap-ferry-s3"):
        for k, name in (("cap-rclone-copyurl", "copyurl"), ("cap-rclone-copyto", "copyto"),
                        ("cap-rclone-copyto100", "copyto, 100 streams")):
            if capped.get(k):
                parts.append(f"{m / mbps(capped[k]):.1f}x rclone {name}")
    if chose(r):
        parts.append(chose(r))
    return ", ".join(parts)


def best_fixed_capped(capped):
    """The fastest ferry run with a fixed --instances on the capped source (any size)."""
    cands = [r for k, r in capped.items() if k.startswith("cap-ferry-oss-") and fixed(r)]
    return max(cands, key=mbps) if cands else None


def cpu(r):
    """(client, sources, stores) core-seconds of a row, or None."""
    if r.get("cpu_client") is None:
        return None
    return r["cpu_client"], r.get("cpu_source") or 0.0, r.get("cpu_store") or 0.0


def cpu_section(rows, ok, main_sizes, ceiling, relay, ferry_best, cores):
    """Where the CPU of each main run went, and what the throughput goals leave a client."""
    picked = [r for r in ok if cpu(r) and (r["section"] == "capped" or (
        r["section"] in ("ceiling", "relay", "ferry", "same") and r["size"] in main_sizes))]
    if not picked:
        return []
    out = ["", "## Where the CPU goes", "",
           f"Core-seconds (user + system) each side spent during the run, from /proc: the client process tree, "
           f"the sources and the stores (`ferry-testbed`, s3s-fs). {cores} cores give {cores} core-seconds a second.", "",
           "| section | row | size | wall s | client | sources | stores | total | cores busy | client core-s per GB |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in picked:
        cl, so, st = cpu(r)
        tot = cl + so + st
        label = row_label(r)
        out.append(f"| {r['section']} | {label.replace('|', chr(92) + '|')} | {fmt_size(r['size'])} | {r['wall']:.2f} | "
                   f"{cl:.2f} | {so:.2f} | {st:.2f} | {tot:.2f} | {tot / r['wall']:.2f} | {cl / (r['size'] / 1e9):.2f} |")
    out.append("")
    out.append("What the two throughput goals leave a client, at each size: the time the goal allows, times the cores, "
               "less what the source and store spent in ferry's best run (their work per byte does not depend on "
               "the client):")
    out.append("")
    for s in main_sizes:
        f, rl, c = ferry_best.get(s), relay.get(s), ceiling.get(s)
        if not (f and rl and c and cpu(f) and cpu(rl)):
            continue
        gb = s / 1e9
        fcl, fso, fst = cpu(f)
        servers = fso + fst
        rcl = cpu(rl)[0]
        for name, t in (("1.5x the relay", rl["wall"] / 1.5), ("60% of the ceiling", s / (0.6 * mbps(c) * MB))):
            budget = cores * t - servers
            out.append(f"- {fmt_size(s)}, {name}: {t:.2f} s, {cores * t:.2f} core-s; the source and store need "
                       f"{servers:.2f}, leaving the client {budget:.2f} core-s ({budget / gb:.2f} per GB). "
                       f"ferry ({f['instances']} inst.) spent {fcl:.2f} ({fcl / gb:.2f} per GB); the relay's two "
                       f"curls, which check nothing, {rcl:.2f} ({rcl / gb:.2f} per GB).")
    return out


def all_or_none(res):
    """True if every measured item holds; False if any measured item fails; None if none measured."""
    measured = [x for x in res if x is not None]
    if not measured:
        return None
    if not all(measured):
        return False
    return True if len(measured) == len(res) else "partial"


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "record":
        cmd_record(sys.argv[2], sys.argv[3:])
    elif cmd == "field":
        cmd_field(sys.argv[2], sys.argv[3])
    elif cmd == "pacing":
        cmd_pacing(sys.argv[2])
    elif cmd == "samples":
        cmd_samples(sys.argv[2], sys.argv[3])
    elif cmd == "size":
        print(fmt_size(int(sys.argv[2])))
    elif cmd == "machine":
        print(json.dumps(machine()))
    elif cmd == "report":
        cmd_report(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
