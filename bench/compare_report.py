#!/usr/bin/env python3
"""Helper of bench/compare.sh: parses `/usr/bin/time -v` output and prints the comparison table.

  compare_report.py parse-time KEY TIMEFILE     -> TSV lines KEY.wall/.user/.sys/.cpu/.rss_kb
  compare_report.py summary-field FIELD LOGFILE -> FIELD of repo's --json summary line
  compare_report.py report RESULTS_TSV          -> the table, each figure beside its target

Units: s = seconds of wall or CPU (user+sys) time; MB = 10^6 bytes (RSS from time's KiB).
"""
import json
import re
import sys


def parse_time(key, path):
    text = open(path).read()

    def field(label):
        m = re.search(re.escape(label) + r"[^:]*:\s*(\S+)\s*$", text, re.M)
        if not m:
            sys.exit(f"compare_report: no '{label}' in {path}")
        return m.group(1)

    wall = 0.0
    for part in field("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":"):
        wall = wall * 60 + float(part)
    user = float(field("User time (seconds)"))
    system = float(field("System time (seconds)"))
    rss_kb = int(field("Maximum resident set size (kbytes)"))
    disk_read = int(field("File system inputs")) * 512  # 512-byte units
    for name, value in (("wall", f"{wall:.2f}"), ("user", f"{user:.2f}"),
                        ("sys", f"{system:.2f}"), ("cpu", f"{user + system:.2f}"),
                        ("rss_kb", str(rss_kb)), ("disk_read", str(disk_read))):
        print(f"{key}.{name}\t{value}\t")


def summary_field(field, path):
    for line in open(path):
        line = line.strip()
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if obj.get("message_type") == "summary":
                print(obj.get(field, ""))
                return
    print("")


def report(path):
    r = {}
    notes = {}
    for line in open(path):
        parts = line.rstrip("\n").split("\t")
        if len(parts) >= 2:
            r[parts[0]] = parts[1]
        if len(parts) >= 3:
            notes[parts[0]] = parts[2]

    def num(key):
        return float(r[key])

    tools = ("restic", "borg", "repo")
    fields = ("wall", "user", "sys", "cpu", "rss_kb", "disk_read")
    # No-op: the run with the median wall time of three stands for the tool.
    for t in tools:
        runs = sorted((num(f"{t}.noop{i}.wall"), i) for i in (1, 2, 3))
        median = runs[1][1]
        for f in fields:
            r[f"{t}.noop.{f}"] = r[f"{t}.noop{median}.{f}"]
        r[f"{t}.noop.all"] = " / ".join(f"{num(f'{t}.noop{i}.wall'):.2f}" for i in (1, 2, 3))
    mb = 1e6
    tree = num("tree.distinct_bytes")  # file bytes, hard links once (as every tool stores them)
    rows = []  # (figure, restic, borg, repo, ratio, target, verdict)

    def speed(ratio):
        return f"{ratio:.2f}x speed"

    def verdict(ok):
        return "MET" if ok else "NOT MET"

    def cpu_rss_rows(op, label):
        walls = {t: num(f"{t}.{op}.wall") for t in tools}
        cpus = {t: num(f"{t}.{op}.cpu") for t in tools}
        rows.append((f"{label}: CPU s (user+sys)", *(f"{cpus[t]:.1f}" for t in tools),
                     f"{cpus['repo'] / cpus['restic']:.2f}x CPU", "", ""))
        rows.append((f"{label}: user / sys s",
                     *(f"{num(f'{t}.{op}.user'):.1f} / {num(f'{t}.{op}.sys'):.1f}" for t in tools),
                     "", "", ""))
        rows.append((f"{label}: CPU/wall (cores busy)",
                     *(f"{cpus[t] / walls[t]:.2f}" for t in tools), "", "", ""))
        rss = {t: num(f"{t}.{op}.rss_kb") * 1024 / mb for t in tools}
        rows.append((f"{label}: peak RSS MB", *(f"{rss[t]:.0f}" for t in tools),
                     f"{rss['repo'] / rss['restic']:.2f}x", "", ""))

    def time_rows(op, label, target_speed=None, data_bytes=None):
        walls = {t: num(f"{t}.{op}.wall") for t in tools}
        ratio = walls["restic"] / walls["repo"]
        tgt, ok = "", ""
        if target_speed:
            tgt, ok = f">= {target_speed:g}x restic's speed", verdict(ratio >= target_speed)
        rows.append((f"{label}: wall s", *(f"{walls[t]:.2f}" for t in tools), speed(ratio), tgt,
                     ok))
        if data_bytes:
            rows.append((f"{label}: MB/s", *(f"{data_bytes / walls[t] / mb:.0f}" for t in tools),
                         "", "", ""))
        cpu_rss_rows(op, label)

    time_rows("initial", "initial snapshot", 2, tree)
    sizes = {t: num(f"{t}.initial.repo_bytes") for t in tools}
    rows.append(("repository size after initial, MB", *(f"{sizes[t] / mb:.0f}" for t in tools),
                 f"{sizes['repo'] / sizes['restic']:.2f}x", "", ""))
    time_rows("noop", "no-op snapshot (median of 3)", 3)

    # repo against the cp -a runs just before and after it.
    cp = (num("cp.restore2.wall") + num("cp.restore3.wall")) / 2
    cp_cpu = (num("cp.restore2.cpu") + num("cp.restore3.cpu")) / 2
    walls = {t: num(f"{t}.restore.wall") for t in tools}
    rows.append(("restore: wall s", *(f"{walls[t]:.2f}" for t in tools),
                 speed(walls["restic"] / walls["repo"]),
                 f"<= 1.2x cp -a ({cp:.2f} s): {walls['repo'] / cp:.2f}x",
                 verdict(walls["repo"] <= 1.2 * cp)))
    rows.append(("restore: MB/s", *(f"{tree / walls[t] / mb:.0f}" for t in tools), "",
                 f"(cp -a: {tree / cp / mb:.0f})", ""))
    rows.append(("restore: x cp -a time", *(f"{walls[t] / cp:.2f}" for t in tools), "", "", ""))
    cpu_rss_rows("restore", "restore")
    rows.append(("cp -a: 1st / before repo / after repo", "", "", "",
                 " / ".join(f"{num(f'cp.restore{i}.wall'):.2f}" for i in (1, 2, 3)) + " s",
                 f"CPU {cp_cpu:.1f} s (mean of the last two)", ""))

    for n in (1, 2):
        walls = {t: num(f"{t}.dump{n}.wall") for t in tools}
        cpus = {t: num(f"{t}.dump{n}.cpu") for t in tools}
        rows.append((f"dump{n} snapshot: wall s", *(f"{walls[t]:.2f}" for t in tools),
                     speed(walls["restic"] / walls["repo"]), "", ""))
        rows.append((f"dump{n} snapshot: CPU s", *(f"{cpus[t]:.2f}" for t in tools),
                     f"{cpus['repo'] / cpus['restic']:.2f}x CPU", "", ""))
    rss = {t: max(num(f"{t}.dump{n}.rss_kb") for n in (1, 2)) * 1024 / mb for t in tools}
    rows.append(("dump snapshots: peak RSS MB", *(f"{rss[t]:.0f}" for t in tools),
                 f"{rss['repo'] / rss['restic']:.2f}x", "", ""))
    added1 = {t: num(f"{t}.dump1.added") for t in tools}
    rows.append(("dump1 stored, MB (du -sb delta)", *(f"{added1[t] / mb:.2f}" for t in tools),
                 f"{added1['repo'] / added1['restic']:.2f}x", "", ""))
    added = {t: num(f"{t}.dump2.added") for t in tools}
    rows.append(("dump2 adds, MB (du -sb delta)", *(f"{added[t] / mb:.2f}" for t in tools),
                 f"{added['repo'] / added['restic']:.2f}x",
                 f"<= 0.5x borg's: {added['repo'] / added['borg']:.2f}x",
                 verdict(added["repo"] <= 0.5 * added["borg"])))
    rows.append(("dump2 adds, % of dump1 stored",
                 *(f"{100 * added[t] / added1[t]:.0f}%" for t in tools), "", "", ""))

    ops = ("initial", "noop1", "noop2", "noop3", "restore", "dump1", "dump2")
    peak = {t: max(num(f"{t}.{op}.rss_kb") for op in ops) * 1024 / mb for t in tools}
    rows.append(("peak RSS over all commands, MB", *(f"{peak[t]:.0f}" for t in tools),
                 f"{peak['repo'] / peak['restic']:.2f}x", "< 200 MB", verdict(peak["repo"] < 200)))

    disk = {k[:-len(".disk_read")]: float(v) for k, v in r.items() if k.endswith(".disk_read")}
    worst = max(disk, key=disk.get)

    print()
    print(f"Machine: {r['machine.cpu']}, {r['machine.cores']} cores, {r['machine.mem_gib']} GiB, "
          f"{r['machine.os']}; load at start {r['machine.load_start']}, at end "
          f"{r['machine.load_end']}")
    print(f"Versions: {r['version.restic']}; {r['version.borg']}; {r['version.repo']} at "
          f"{r['version.repo_commit']}; {r['version.postgres']}")
    print(f"Compression: restic auto ({r['restic.compression']}), borg lz4 (default), "
          f"repo zstd {r.get('repo.compression', '?')} (default). Encryption on for all.")
    print(f"Tree: {tree / mb:.0f} MB in files ({num('tree.file_bytes') / mb:.0f} MB counting each "
          f"hard link again; du -sb {num('tree.du_bytes') / mb:.0f} MB) in {r['tree.files']} "
          f"files, {r['tree.dirs']} dirs, "
          f"{r['tree.symlinks']} symlinks; /usr/share, /usr/include, ... in name order up to "
          f"{r['tree.last_entry']}")
    print(f"Dumps: pgbench scale {r['pg.scale']}, pg_dump -Fc -Z0: {num('pg.dump1_bytes') / mb:.1f} "
          f"MB, then {num('pg.dump2_bytes') / mb:.1f} MB after updating {r['pg.rows_updated']} "
          f"random accounts")
    print(f"Restore targets: {r.get('restore.targets', 'directories on the scratch disk')}"
          + (f" ({notes['restore.targets']})" if notes.get("restore.targets") else ""))
    cp_checks = " / ".join(r.get(f"cp.restore{i}.check", "?") for i in (1, 2, 3))
    print(f"Restored trees identical to the source (diff -r): restic {r['restic.restore.check']}, "
          f"borg {r['borg.restore.check']}, repo {r['repo.restore.check']}, "
          f"cp -a {cp_checks}")
    print(f"No-op runs (wall s): " + "; ".join(f"{t} {r[f'{t}.noop.all']}" for t in tools))
    print(f"Cache: largest disk read during a timed command {disk[worst] / mb:.1f} MB ({worst})")
    print(f"repo's initial snapshot: {r.get('repo.initial.data_blobs', '?')} data blobs; "
          f"its own bytes_added: initial {r.get('repo.initial.bytes_added_json', '?')}, "
          f"dump2 {r.get('repo.dump2.bytes_added_json', '?')}")
    print()
    header = ("figure", "restic", "borg", "repo", "repo vs restic", "target", "")
    widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(7)]
    fmt = "  ".join(f"{{:{'<' if i in (0, 5, 6) else '>'}{w}}}" for i, w in enumerate(widths))
    print(fmt.format(*header))
    print(fmt.format(*("-" * w for w in widths)))
    for row in rows:
        print(fmt.format(*row).rstrip())
    print()
    print("'x speed' = restic's wall time / repo's (above 1: repo is faster); other ratios are "
          "repo / restic. MB = 10^6 bytes.")


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "parse-time":
        parse_time(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "summary-field":
        summary_field(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "report":
        report(sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
