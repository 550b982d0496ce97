#!/usr/bin/env python3
"""make bench - statesnap measured side by side with what an operator would
otherwise run, in the same run on the same machine; prints a table of ratios
and writes bench/RESULTS.md.

  create   vs  zip -r -6 + sha256sum           (100 MB root; a 10 MB root reported too)
  verify   vs  unzip -t + sha256sum -c          (same archive / extracted tree)
  restore  vs  unzip -o                         (in place, so statesnap also takes a safety
                                                 snapshot, fsyncs and journals; judged with the
                                                 quiet period at 0, the default's 2 s reported)
  peak RSS of create / verify / restore on a root with a ~1 GB hash_chain.jsonl
  HTTP req/s and p99 of /api/v1/snapshots/latest, /metrics and the first list
       page under wrk, beside nginx serving a static file of the same size
  list first page and latest with 100,000 catalogued snapshots vs 100
  capture window (first open to last check of the cut) on the 100 MB and 1 GB-chain
       roots while tests/fixtures/bot.py writes 100 events a second: median and max
  beside restic, borg and tar|pigz (bench/peers.py): first and repeat snapshots,
       30 daily snapshots (time and store bytes), restore, +10,000 small files,
       a 100,000-file root's RSS, 5 daily snapshots of the 1 GB-chain root

Environment: BENCH_RUNS (default 3), BENCH_BIG_BYTES (default 1e9),
BENCH_WRK_SECONDS (default 8), BENCH_QUICK=1 (small sizes, for trying it out),
BENCH_ONLY=files,window,http,catalog,peers,big (some passes only; the table
goes to bench/RESULTS-partial.md, RESULTS.md is kept for whole runs).
Stdlib only; needs zip, unzip, sha256sum, wrk, nginx, sqlite3, restic, borg, pigz
(make bench installs them).
"""
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

import peers

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
BIN = os.environ.get("STATESNAP_BIN", os.path.join(TOP, "build", "statesnap"))
GEN = os.path.join(TOP, "tests", "fixtures", "make_state.py")
BOT = os.path.join(TOP, "tests", "fixtures", "bot.py")
WINDOW_TARGET_MS = 50.0
QUICK = os.environ.get("BENCH_QUICK") == "1"
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
PARTS = {"files", "window", "http", "catalog", "peers", "big"}
ONLY = {p for p in os.environ.get("BENCH_ONLY", "").split(",") if p}
SMALL_BYTES = 2_000_000 if QUICK else 10_000_000
MID_BYTES = 10_000_000 if QUICK else 100_000_000
BIG_BYTES = int(os.environ.get("BENCH_BIG_BYTES", 50_000_000 if QUICK else 1_000_000_000))
WRK_SECONDS = int(os.environ.get("BENCH_WRK_SECONDS", "3" if QUICK else "8"))
WRK_CONNS = 64

rows = []      # (what, statesnap, baseline, ratio, target, ok, note)


def sh(cmd, cwd=None, env=None, check=True):
    r = subprocess.run(cmd, cwd=cwd, env=env, shell=isinstance(cmd, str), capture_output=True, text=True)
    if check and r.returncode != 0:
        raise SystemExit("bench: %s failed (%d):\n%s%s" % (cmd, r.returncode, r.stdout, r.stderr))
    return r


def timed(cmd, cwd=None, before=None):
    """Median wall seconds of RUNS runs; before() runs untimed before each."""
    times = []
    for _ in range(RUNS):
        if before:
            before()
        t = time.perf_counter()
        sh(cmd, cwd=cwd)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def peak_rss_kb(cmd, cwd=None):
    r = sh(["/usr/bin/time", "-f", "%M"] + cmd, cwd=cwd)
    return int(r.stderr.strip().splitlines()[-1])


def drop(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)


def gen_root(path, chain_bytes):
    sh([sys.executable, GEN, "--out", path, "--git", "--seed", "5", "--chain-bytes", str(chain_bytes)])


def ss(root, store, *args):
    return [BIN, "--root", root, "--store", store] + list(args)


def row(what, mine, base, unit, target, higher_is_better=True, note=""):
    """One result; target None reports the ratio without judging it."""
    if higher_is_better:
        ratio = base / mine if unit == "s" else mine / base
    else:
        ratio = mine / base
    if target is None:
        rows.append((what, "%.3g %s" % (mine, unit), "%.3g %s" % (base, unit), ratio, "(report)", True, note))
        return
    ok = ratio >= target if higher_is_better else ratio <= target
    rows.append((what, "%.3g %s" % (mine, unit), "%.3g %s" % (base, unit), ratio,
                 (">= " if higher_is_better else "<= ") + "%.2g" % target, ok, note))


def files_pass(work, root, store, name, judged=True):
    """create / verify / restore against their shell baselines on one root;
    judged=False reports the ratios without targets (the targets are set on
    the 100 MB root)."""
    size = human(tree_bytes(root))
    z = os.path.join(work, "b.zip")
    ext = os.path.join(work, "ext")
    mine = timed(ss(root, store, "create", "--name", name),
                 before=lambda: sh(ss(root, store, "delete", name, "--force"), check=False))
    base = timed("zip -qr -6 %s state config && sha256sum state/* config/* > /dev/null" % z, cwd=root,
                 before=lambda: drop(z))
    row("create %s" % size, mine, base, "s", 1.0 if judged else None)
    drop(ext)
    os.makedirs(ext)
    sh(["unzip", "-q", os.path.join(store, name + ".zip"), "-d", ext])
    mine = timed(ss(root, store, "verify", name))
    base = timed("unzip -tq %s > /dev/null && sha256sum -c --quiet SHA256SUMS" % os.path.join(store, name + ".zip"),
                 cwd=ext)
    row("verify %s" % size, mine, base, "s", 1.0 if judged else None)
    # Restore onto a state that differs in every big file, so both write everything.
    target = os.path.join(work, "target")

    def fresh_target():
        drop(target)
        shutil.copytree(root, target, symlinks=True)
        with open(os.path.join(target, "state", "hash_chain.jsonl"), "r+b") as f:
            f.write(b"X")

    # An in-place restore first waits for the root to stay unchanged for
    # restore_quiet_ms (2000 by default: README, "Restore and the bot"), a
    # wait unzip does not make. The judged row is the restore's
    # own work (quiet period 0); the default's total is reported beside it.
    quiet0 = os.path.join(work, "quiet0.json")
    with open(quiet0, "w") as f:
        f.write('{"restore_quiet_ms": 0}\n')
    mine = timed(ss(target, store, "--config", quiet0, "restore", name, "--yes"), before=fresh_target)
    base = timed("unzip -qo %s -d %s" % (os.path.join(store, name + ".zip"), target), before=fresh_target)
    row("restore %s in place, quiet period 0" % size, mine, base, "s", 0.8 if judged else None,
        note="statesnap also verifies, fsyncs, journals and takes a safety snapshot")
    mine = timed(ss(target, store, "restore", name, "--yes"), before=fresh_target)
    row("restore %s in place, default 2 s quiet period" % size, mine, base, "s", None,
        note="the wait for a root that stays unchanged is the restore's safety, not its work")
    drop(ext)
    drop(target)


def window_pass(root, store, label, runs):
    """Creates of a root a bot is writing: the consistency window of each."""
    stop = os.path.join(os.path.dirname(root), "bot.stop")
    bot = subprocess.Popen([sys.executable, BOT, "--root", root, "--rate", "100", "--style", "mixed",
                            "--stop-file", stop, "--seconds", "3600"], stdout=subprocess.DEVNULL)
    windows, attempts = [], []
    try:
        time.sleep(0.5)
        for i in range(runs):
            name = "win%d" % i
            out = subprocess.run(ss(root, store, "--json", "create", "--name", name),
                                 capture_output=True, text=True)
            if out.returncode != 0:
                continue
            cons = json.loads(out.stdout)["consistency"]
            windows.append(cons["window_ms"])
            attempts.append(cons["attempts"])
            sh(ss(root, store, "delete", name, "--force"), check=False)
    finally:
        with open(stop, "w"):
            pass
        bot.wait()
        os.unlink(stop)
    if not windows:
        rows.append(("capture window %s" % label, "no cut", "-", 0, "<= 50 ms", False, ""))
        return
    med, worst = statistics.median(windows), max(windows)
    rows.append(("capture window %s (median)" % label, "%.2f ms" % med, "-", med / WINDOW_TARGET_MS,
                 "<= 1 (50 ms)", med <= WINDOW_TARGET_MS, "bot at 100 events/s"))
    rows.append(("capture window %s (max)" % label, "%.2f ms" % worst, "-", worst / WINDOW_TARGET_MS,
                 "<= 1 (50 ms)", worst <= WINDOW_TARGET_MS,
                 "%d creates, %.1f cuts each on average" % (len(windows), statistics.mean(attempts))))


def tree_bytes(root):
    total = 0
    for d in ("state", "config"):
        for dp, _, fs in os.walk(os.path.join(root, d)):
            total += sum(os.path.getsize(os.path.join(dp, f)) for f in fs)
    return total


def human(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return "%.0f %s" % (n, unit)
        n /= 1000.0


def rss_pass(work, root, store):
    name = "big"
    sh(ss(root, store, "delete", name, "--force"), check=False)
    kb = peak_rss_kb(ss(root, store, "create", "--name", name))
    rows.append(("peak RSS create (%s chain)" % human(BIG_BYTES), "%d MB" % (kb // 1024), "-", kb / 1024.0 / 64,
                 "<= 1 (64 MB)", kb <= 64 * 1024, ""))
    kb = peak_rss_kb(ss(root, store, "verify", name))
    rows.append(("peak RSS verify", "%d MB" % (kb // 1024), "-", kb / 1024.0 / 64, "<= 1 (64 MB)", kb <= 64 * 1024, ""))
    target = os.path.join(work, "bigtarget")
    drop(target)
    shutil.copytree(root, target, symlinks=True)
    with open(os.path.join(target, "state", "hash_chain.jsonl"), "r+b") as f:
        f.write(b"X")
    kb = peak_rss_kb(ss(target, store, "restore", name, "--yes"))
    rows.append(("peak RSS restore", "%d MB" % (kb // 1024), "-", kb / 1024.0 / 64, "<= 1 (64 MB)", kb <= 64 * 1024, ""))
    drop(target)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, proc, what):
    for _ in range(200):
        if proc.poll() is not None:
            raise SystemExit("bench: %s exited early" % what)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("bench: %s did not listen" % what)


def wrk(url, script_args=None):
    """(req/s, p99 ms, non-2xx) of a bounded wrk run on url. script_args:
    run bench/vary.lua with them (a different query on every request)."""
    extra = ["-s", os.path.join(HERE, "vary.lua"), url, "--"] + script_args if script_args else [url]
    # One second unmeasured first, for both servers: connections open, and
    # statesnap's worker threads open their store handles on first use.
    sh(["wrk", "-t2", "-c%d" % WRK_CONNS, "-d1s"] + extra)
    r = sh(["wrk", "-t2", "-c%d" % WRK_CONNS, "-d%ds" % WRK_SECONDS, "--latency"] + extra)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", r.stdout).group(1))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)", r.stdout)
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", r.stdout)
    return rps, p99, int(bad.group(1)) if bad else 0


def http_pass(work, root, store):
    # The file passes leave gigabytes of dirty pages; writeback then stalls
    # any process that writes (the server's log lines), not the test.
    os.sync()
    port = free_port()
    log = open(os.path.join(work, "server.log"), "w")
    srv = subprocess.Popen(ss(root, store, "serve", "--listen", "127.0.0.1:%d" % port), stdout=log, stderr=log)
    ngx = None
    try:
        wait_port(port, srv, "statesnap serve")
        base = "http://127.0.0.1:%d" % port
        docroot = os.path.join(work, "www")
        os.makedirs(docroot, exist_ok=True)
        paths = {"latest": "/api/v1/snapshots/latest", "metrics": "/metrics",
                 "list first page": "/api/v1/snapshots?limit=50"}
        import urllib.request
        for key, p in paths.items():
            with urllib.request.urlopen(base + p) as resp:
                body = resp.read()
            with open(os.path.join(docroot, key.replace(" ", "_")), "wb") as f:
                f.write(body)
        nport = free_port()
        conf = os.path.join(work, "nginx.conf")
        with open(conf, "w") as f:
            f.write("""worker_processes 2; pid %s/nginx.pid; error_log %s/nginx-error.log; daemon off;
events { worker_connections 1024; }
http { access_log off; default_type application/json;
  server { listen 127.0.0.1:%d; root %s; } }
""" % (work, work, nport, docroot))
        ngx = subprocess.Popen(["nginx", "-c", conf, "-p", work], stdout=log, stderr=log)
        wait_port(nport, ngx, "nginx")
        for key, p in paths.items():
            # RUNS rounds, statesnap then nginx in each, so both see the same
            # moments of a shared machine; the median of each.
            mine, theirs = [], []
            for _ in range(RUNS):
                mine.append(wrk(base + p))
                theirs.append(wrk("http://127.0.0.1:%d/%s" % (nport, key.replace(" ", "_"))))
            rps = statistics.median(m[0] for m in mine)
            p99 = statistics.median(m[1] for m in mine)
            bad = sum(m[2] for m in mine)
            nrps = statistics.median(t[0] for t in theirs)
            np99 = statistics.median(t[1] for t in theirs)
            target = 0.5
            rows.append(("HTTP %s req/s (%d conns)" % (key, WRK_CONNS), "%.0f" % rps, "%.0f (nginx)" % nrps, rps / nrps,
                         ">= %.1f" % target, rps / nrps >= target and bad == 0,
                         "%d non-2xx" % bad if bad else ""))
            rows.append(("HTTP %s p99" % key, "%.2f ms" % p99, "%.2f ms (nginx)" % np99, p99 / 10.0, "<= 1 (10 ms)",
                         p99 <= 10.0, ""))
    finally:
        for p in (srv, ngx):
            if p is not None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
        log.close()


def fill_catalog(store, n):
    """n synthetic catalogue rows (list and latest read only the catalog)."""
    db = sqlite3.connect(os.path.join(store, "catalog.db"))
    db.execute("PRAGMA busy_timeout=10000")
    db.execute("""WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ?)
                  INSERT INTO snapshots (name, created_at, size, file_count, version, git_commit, host, created_by,
                                         archive_sha256, labels, pinned)
                  SELECT printf('synthetic_%07d', i), 1600000000 + i, 1000000, 9, '1.2.0', NULL, 'bench', 'bench',
                         printf('%064d', i), '{"reason":"bench"}', 0 FROM c""", (n,))
    db.commit()
    db.close()


def catalog_pass(work, root):
    """Both catalogs served at once; RUNS rounds alternate between them, so
    the 100 and 100,000 figures see the same moments of a shared machine."""
    os.sync()
    sizes = (100, 100_000)
    servers, stores = {}, []
    runs = {}
    try:
        for n in sizes:
            store = os.path.join(work, "cat%d" % n)
            drop(store)
            stores.append(store)
            sh(ss(root, store, "init"))   # creates the store and catalog (list no longer does, #20)
            fill_catalog(store, n)
            port = free_port()
            servers[n] = (port, subprocess.Popen(ss(root, store, "serve", "--listen", "127.0.0.1:%d" % port),
                                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait_port(port, servers[n][1], "statesnap serve")
        for _ in range(RUNS):
            for key, p in (("list first page", "/api/v1/snapshots?limit=50"), ("latest", "/api/v1/snapshots/latest")):
                for n in sizes:
                    port = servers[n][0]
                    runs.setdefault((key, n), []).append(wrk("http://127.0.0.1:%d%s" % (port, p))[0])
                    # Answers are reused while the catalog stands still; these
                    # runs vary the query so every request runs its query.
                    path = p.split("?")[0] + ("?x=1" if "?" in p else "")
                    runs.setdefault((key + ", not reused", n), []).append(
                        wrk("http://127.0.0.1:%d%s" % (port, path), [path])[0])
    finally:
        for port, srv in servers.values():
            srv.send_signal(signal.SIGTERM)
            srv.wait(timeout=20)
        for store in stores:
            drop(store)
    for key in ("list first page", "latest", "list first page, not reused", "latest, not reused"):
        small, big = statistics.median(runs[(key, 100)]), statistics.median(runs[(key, 100_000)])
        # "within 2x of the time at 100": time per request ratio = small rps / big rps.
        rows.append(("%s time, 100k vs 100 snapshots" % key, "%.0f req/s" % big, "%.0f req/s (100)" % small,
                     small / big, "<= 2", small / big <= 2.0, ""))


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    return "%s, %d cores, %.0f GiB RAM, %s %s" % (model, os.cpu_count(), mem, platform.system(), platform.release())


def wanted(part):
    """BENCH_ONLY=peers,big (say) runs only those passes; the table then
    holds only their rows."""
    return not ONLY or part in ONLY


def main():
    if not os.access(BIN, os.X_OK):
        raise SystemExit("bench: build %s first (make build/statesnap)" % BIN)
    unknown = ONLY - PARTS
    if unknown:
        raise SystemExit("bench: BENCH_ONLY names unknown passes %s (known: %s)" % (
            ", ".join(sorted(unknown)), ", ".join(sorted(PARTS))))
    work = tempfile.mkdtemp(prefix="statesnap-bench-", dir=os.environ.get("BENCH_TMP", "/var/tmp"))
    try:
        root = os.path.join(work, "root")
        store = os.path.join(work, "store")
        small = os.path.join(work, "smallroot")
        if wanted("files"):
            print("bench: generating a %s root" % human(SMALL_BYTES), flush=True)
            gen_root(small, SMALL_BYTES)
            files_pass(work, small, os.path.join(work, "smallstore"), "small", judged=False)
            drop(small)
        if any(wanted(p) for p in PARTS - {"big"}):
            print("bench: generating a %s root" % human(MID_BYTES), flush=True)
            gen_root(root, MID_BYTES)
        if wanted("files"):
            files_pass(work, root, store, "mid")
        if wanted("window"):
            print("bench: capture window on the %s root under a writer" % human(MID_BYTES), flush=True)
            window_pass(root, store, human(MID_BYTES), max(RUNS, 5))
        # HTTP before the 1 GB root: its gigabytes of writes and the page
        # cache churn after them are noise for latencies in milliseconds.
        if wanted("http"):
            print("bench: HTTP under wrk beside nginx", flush=True)
            http_pass(work, root, store)
        if wanted("catalog"):
            print("bench: catalog at 100 and 100,000 snapshots", flush=True)
            catalog_pass(work, root)
        if wanted("peers") or wanted("big"):
            if peers.missing():
                raise SystemExit("bench: %s missing (make bench installs them)" % ", ".join(peers.missing()))
        if wanted("peers"):
            print("bench: beside restic, borg and tar|pigz: first, repeat, daily, restore, many files", flush=True)
            peers.run(sys.modules[__name__], work, root)
        if wanted("big"):
            print("bench: generating a root with a %s hash_chain.jsonl" % human(BIG_BYTES), flush=True)
            big = os.path.join(work, "bigroot")
            gen_root(big, BIG_BYTES)
            rss_pass(work, big, store)
            print("bench: the %s-chain root, 5 daily snapshots beside restic" % human(BIG_BYTES), flush=True)
            peers.big_chain(sys.modules[__name__], work, big)
            print("bench: capture window on the %s-chain root under a writer" % human(BIG_BYTES), flush=True)
            window_pass(big, store, "%s chain" % human(BIG_BYTES), RUNS)
            drop(big)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    lines = ["| %-*s | %-16s | %-22s | %-6s | %-12s | %-4s |" % (width, "measure", "statesnap", "baseline", "ratio", "target", "met"),
             "|%s|%s|%s|%s|%s|%s|" % ("-" * (width + 2), "-" * 18, "-" * 24, "-" * 8, "-" * 14, "-" * 6)]
    for what, mine, base, ratio, target, ok, note in rows:
        lines.append("| %-*s | %-16s | %-22s | %-6.2f | %-12s | %-4s |%s" % (
            width, what, mine, base, ratio, target, "yes" if ok else "NO", (" " + note) if note else ""))
    table = "\n".join(lines)
    print("\n" + table)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = "RESULTS-partial.md" if ONLY else "RESULTS.md"
    with open(os.path.join(HERE, out), "w") as f:
        f.write("# statesnap bench results\n\n%s on %s; median of %d runs%s%s.\n\n" % (stamp, machine(), RUNS,
                " (BENCH_QUICK: small sizes)" if QUICK else "",
                ("; only the passes " + ", ".join(sorted(ONLY))) if ONLY else ""))
        f.write("Ratios: for times, baseline/statesnap (higher is better); for req/s, statesnap/baseline; "
                "for RSS and p99, value/limit and for catalog growth, time at 100k / time at 100 "
                "(lower is better).\n\n")
        f.write(table + "\n")
    missed = [r[0] for r in rows if not r[5]]
    print("\nbench: %d measures, %d targets missed%s" % (len(rows), len(missed),
          (": " + ", ".join(missed)) if missed else ""))
    print("bench: wrote bench/%s" % out)


if __name__ == "__main__":
    main()
