"""Load: a bounded `wrk` run against the read endpoints (list, latest,
metrics) while a client creates and deletes snapshots in a loop. Zero non-2xx
for the reads, zero 5xx overall, and the server's RSS at the end within 10% of
its RSS after a warm-up. The figures are printed for the README."""
import os
import re
import shutil
import subprocess
import threading
import time

import rellib

HERE = os.path.dirname(os.path.abspath(__file__))
LUA = os.path.join(HERE, "load.lua")
WARMUP_SECONDS = 8
RUN_SECONDS = 30
THREADS, CONNECTIONS = 2, 32
PRELOADED = 30


def wrk(base, token, seconds):
    """Run wrk; returns ({status: count}, {summary key: int}, raw output)."""
    exe = shutil.which("wrk")
    assert exe, "wrk is not installed (tests/reliability/run.sh installs Debian's wrk as root)"
    r = subprocess.run([exe, "-t%d" % THREADS, "-c%d" % CONNECTIONS, "-d%ds" % seconds, "--timeout", "10s",
                        "-s", LUA, base, "--", token],
                       capture_output=True, text=True, timeout=seconds + 60)
    assert r.returncode == 0, r.stdout + r.stderr
    statuses = {int(c): int(n) for c, n in re.findall(r"^STATUS (\d+) (\d+)$", r.stdout, re.M)}
    m = re.search(r"^SUMMARY (.*)$", r.stdout, re.M)
    assert m, r.stdout
    summary = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}
    return statuses, summary, r.stdout


class Churn(threading.Thread):
    """Creates and deletes snapshots in a loop until stopped; counts statuses."""

    def __init__(self, api):
        super().__init__(daemon=True)
        self.api = api
        self.stop = threading.Event()
        self.statuses = {}
        self.cycles = 0
        self.errors = []

    def count(self, r):
        self.statuses[r.status_code] = self.statuses.get(r.status_code, 0) + 1
        if r.status_code >= 300:
            self.errors.append("%s %s -> %d %s" % (r.request.method, r.request.path_url, r.status_code,
                                                   r.text[:200]))

    def run(self):
        i = 0
        while not self.stop.is_set():
            name = "churn_%d" % i
            i += 1
            try:
                self.count(self.api.post("/api/v1/snapshots", {"name": name, "labels": {"reason": "load"}}))
                self.count(self.api.delete("/api/v1/snapshots/" + name))
                self.cycles += 1
            except Exception as ex:   # a schema or connection failure is a finding too
                self.errors.append("churn %s: %s" % (name, str(ex)[:300]))
                time.sleep(0.1)


def test_reads_under_load_with_create_delete_churn(make_server, capsys):
    s = make_server()
    writer = s.api(s.token("admin"))
    for i in range(PRELOADED):
        writer.create("base_%02d" % i, labels={"batch": str(i % 3)})
    token = s.token("reader")
    pid = s.proc.pid

    # Warm-up: the same mix, so caches, pools and arenas reach their size.
    churn = Churn(s.api(s.token("admin")))
    churn.start()
    warm_statuses, warm, _ = wrk(s.base, token, WARMUP_SECONDS)
    churn.stop.set()
    churn.join(60)
    time.sleep(1)
    rss_warm = rellib.vm_rss_kb(pid)

    churn2 = Churn(s.api(s.token("admin")))
    churn2.start()
    statuses, summary, raw = wrk(s.base, token, RUN_SECONDS)
    churn2.stop.set()
    churn2.join(60)
    time.sleep(1)
    rss_end = rellib.vm_rss_kb(pid)

    reads = sum(statuses.values())
    rps = summary["requests"] / (summary["duration_us"] / 1e6)
    figures = ("LOAD: wrk -t%d -c%d -d%ds on list/latest/metrics: %d requests, %.0f req/s, p50 %.1f ms, "
               "p99 %.1f ms; %d create+delete cycles alongside; RSS %d kB after warm-up, %d kB at the end "
               "(%+.1f%%); read statuses %s; write statuses %s"
               % (THREADS, CONNECTIONS, RUN_SECONDS, summary["requests"], rps, summary["p50_us"] / 1000,
                  summary["p99_us"] / 1000, churn2.cycles, rss_warm, rss_end,
                  100.0 * (rss_end - rss_warm) / rss_warm, statuses, churn2.statuses))
    with capsys.disabled():
        print("\n" + figures)
    with open(os.path.join(s.workdir, "load-figures.txt"), "w") as f:
        f.write(figures + "\n")

    assert reads > 0 and churn2.cycles > 0, figures
    bad_reads = {c: n for c, n in list(statuses.items()) + list(warm_statuses.items()) if not 200 <= c < 300}
    assert not bad_reads, "non-2xx reads: %s\n%s" % (bad_reads, figures)
    for k in ("connect", "read", "write", "timeout"):
        assert summary[k] == 0 and warm[k] == 0, "wrk socket errors: %s\n%s" % (summary, raw)
    writes = dict(churn.statuses)
    for c, n in churn2.statuses.items():
        writes[c] = writes.get(c, 0) + n
    assert not [c for c in writes if c >= 500], "5xx while churning: %s\n%s" % (
        writes, "\n".join(churn.errors + churn2.errors)[:3000])
    assert not churn.errors and not churn2.errors, "\n".join(churn.errors + churn2.errors)[:3000]
    # Under ASan the allocator quarantines freed memory, so RSS grows by design
    # there; the plain test build is where this bound means something.
    assert rellib.SANITIZED or rss_end <= rss_warm * 1.10, \
        "RSS grew from %d kB to %d kB\n%s" % (rss_warm, rss_end, figures)
    # The store is whole afterwards.
    rc, out, err = s.cli("verify", "--all")
    assert rc == 0, out + err
    assert len(writer.get("/api/v1/snapshots?limit=100", expect=200).json()["snapshots"]) == PRELOADED
    rellib.healthz_ok(s.port)
