"""peers.py - statesnap beside the backup tools an operator would otherwise use
(#18), for make bench: restic (Debian's, repository v2 with its default
compression), borg (lz4 and zstd, no encryption), and tar | pigz -6 -p 2 with
sha256sum. Every tool backs up the same paths (VERSION, config/, state/: what
statesnap's include set takes, .env aside) from the same root, in the same
run, runs alternating; each figure is a median (or a total) of wall time.

  first snapshot            empty store/repository, 100 MB root
  repeat snapshot           after --advance 2000 on the root (a day of trading)
  30 daily snapshots        total time, and store bytes at the end
  restore                   the latest snapshot into an empty directory
  +10,000 small files       in state/, first snapshot
  100,000-file root         statesnap's peak RSS
  1 GB chain, 5 days        repeat after --advance 2000, against restic and
                            against statesnap's own first snapshot of it

bench.py calls run(bench, work) after its own passes; rows go to its table.
"""
import os
import shutil
import statistics
import subprocess
import time

PATHS = ["VERSION", "config", "state"]
ADVANCE = "2000"


class Peers:
    """The four tools on one root, each with its own store or repository."""

    def __init__(self, b, work, root, tag):
        self.b, self.root = b, root
        self.dir = os.path.join(work, "peers-" + tag)
        self.store = os.path.join(self.dir, "statesnap")
        self.restic_repo = os.path.join(self.dir, "restic")
        self.borg_lz4 = os.path.join(self.dir, "borg-lz4")
        self.borg_zstd = os.path.join(self.dir, "borg-zstd")
        self.tarball = os.path.join(self.dir, "snap.tar.gz")
        self.env = dict(os.environ, RESTIC_PASSWORD="bench", RESTIC_CACHE_DIR=os.path.join(self.dir, "rcache"),
                        BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK="yes",
                        BORG_RELOCATED_REPO_ACCESS_IS_OK="yes", BORG_BASE_DIR=os.path.join(self.dir, "bbase"))
        self.n = 0

    def reset(self):
        self.b.drop(self.dir)
        os.makedirs(self.dir)
        self.b.sh(["restic", "-q", "-r", self.restic_repo, "init"], env=self.env)
        for repo in (self.borg_lz4, self.borg_zstd):
            self.b.sh(["borg", "init", "-e", "none", repo], env=self.env)
        self.n = 0

    def _t(self, cmd, shell=False):
        t = time.perf_counter()
        r = subprocess.run(cmd, cwd=self.root, env=self.env, shell=shell, capture_output=True, text=True)
        took = time.perf_counter() - t
        if r.returncode != 0:
            raise SystemExit("bench: %s failed (%d): %s%s" % (cmd, r.returncode, r.stdout, r.stderr))
        return took

    def snapshot(self):
        """One snapshot with every tool: {tool: seconds}."""
        self.n += 1
        name = "day%03d" % self.n
        out = {}
        order = [("statesnap", lambda: self._t(self.b.ss(self.root, self.store, "create", "--name", name))),
                 ("restic", lambda: self._t(["restic", "-q", "-r", self.restic_repo, "backup"] + PATHS)),
                 ("borg lz4", lambda: self._t(["borg", "create", "--compression", "lz4",
                                               "%s::%s" % (self.borg_lz4, name)] + PATHS)),
                 ("borg zstd", lambda: self._t(["borg", "create", "--compression", "zstd,3",
                                                "%s::%s" % (self.borg_zstd, name)] + PATHS)),
                 ("tar+pigz", lambda: self._t("tar cf - %s | pigz -6 -p 2 > %s && sha256sum -b $(find %s "
                                              "-type f) > /dev/null" % (" ".join(PATHS), self.tarball,
                                                                          " ".join(PATHS)), shell=True))]
        # alternate who goes first, so page-cache warmth is shared out
        k = self.n % len(order)
        for tool, run in order[k:] + order[:k]:
            out[tool] = run()
        return out

    def advance(self):
        self.b.sh(["python3", self.b.GEN, "--out", self.root, "--advance", ADVANCE])

    def store_bytes(self):
        return {"statesnap": dir_bytes(self.store), "restic": dir_bytes(self.restic_repo),
                "borg lz4": dir_bytes(self.borg_lz4), "borg zstd": dir_bytes(self.borg_zstd)}


def dir_bytes(top):
    """Bytes of every file under top (what the store or repository costs on disk)."""
    return sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(top) for f in fs)


def first_and_repeat(b, work, root):
    p = Peers(b, work, root, "mid")
    firsts, repeats = [], []
    for _ in range(max(b.RUNS, 3)):
        p.reset()
        firsts.append(p.snapshot())
        p.advance()
        repeats.append(p.snapshot())
    size = b.human(b.tree_bytes(root))
    f = {k: statistics.median([r[k] for r in firsts]) for k in firsts[0]}
    r = {k: statistics.median([x[k] for x in repeats]) for k in repeats[0]}
    b.row("first snapshot %s vs tar|pigz+sha256sum" % size, f["statesnap"], f["tar+pigz"], "s", 1.2)
    b.row("first snapshot %s vs restic" % size, f["statesnap"], f["restic"], "s", None)
    b.row("first snapshot %s vs borg lz4" % size, f["statesnap"], f["borg lz4"], "s", None)
    b.row("repeat snapshot (--advance 2000) vs restic", r["statesnap"], r["restic"], "s", 1.5)
    b.row("repeat snapshot (--advance 2000) vs borg lz4", r["statesnap"], r["borg lz4"], "s", None)
    b.row("repeat snapshot (--advance 2000) vs borg zstd", r["statesnap"], r["borg zstd"], "s", None)
    return p


def thirty_days(b, work, root, days):
    p = Peers(b, work, root, "days")
    p.reset()
    total = {}
    for _ in range(days):
        p.advance()
        for k, v in p.snapshot().items():
            total[k] = total.get(k, 0.0) + v
    b.row("%d daily snapshots, total vs restic" % days, total["statesnap"], total["restic"], "s", 1.2)
    b.row("%d daily snapshots, total vs borg lz4" % days, total["statesnap"], total["borg lz4"], "s", 1.2)
    sizes = p.store_bytes()
    for peer in ("restic", "borg lz4"):
        b.row("store bytes after %d days vs %s" % (days, peer), sizes["statesnap"] / 1e6, sizes[peer] / 1e6, "MB",
              None, higher_is_better=False,
              note="self-contained zips, each restorable alone with unzip: this is what that costs")
    return p


def restore(b, work, p):
    """The latest snapshot of p into an empty directory, each tool; statesnap
    against unzip + sha256sum -c too (what a user checks by hand)."""
    times = {"statesnap": [], "restic": [], "borg lz4": [], "unzip+sha256sum": []}
    target = os.path.join(work, "peers-restore")
    name = "day%03d" % p.n
    z = os.path.join(p.store, name + ".zip")
    for _ in range(max(b.RUNS, 3)):
        for tool, cmd, shell in (
                ("statesnap", b.ss(p.root, p.store, "restore", name, "--target", target, "--yes"), False),
                ("restic", ["restic", "-q", "-r", p.restic_repo, "restore", "latest", "--target", target], False),
                ("borg lz4", "cd %s && borg extract %s::%s" % (target, p.borg_lz4, name), True),
                ("unzip+sha256sum", "cd %s && unzip -q %s && sha256sum -c --quiet SHA256SUMS" % (target, z), True)):
            b.drop(target)
            os.makedirs(target)
            t = time.perf_counter()
            r = subprocess.run(cmd, env=p.env, shell=shell, capture_output=True, text=True)
            times[tool].append(time.perf_counter() - t)
            if r.returncode != 0:
                raise SystemExit("bench: %s failed (%d): %s%s" % (cmd, r.returncode, r.stdout, r.stderr))
    b.drop(target)
    m = {k: statistics.median(v) for k, v in times.items()}
    b.row("restore vs unzip+sha256sum -c", m["statesnap"], m["unzip+sha256sum"], "s", 1.4,
          note="statesnap also verifies, fsyncs and journals")
    b.row("restore vs restic restore", m["statesnap"], m["restic"], "s", None)
    b.row("restore vs borg extract", m["statesnap"], m["borg lz4"], "s", None)


def add_small_files(root, n, start=0):
    for i in range(start, start + n):
        with open(os.path.join(root, "state", "fill_%06d.json" % i), "w") as f:
            f.write('{"fill":%d,"qty":"0.%04d","px":"%d.25","side":"%s"}\n' % (i, i % 9973, 30000 + i % 977,
                                                                            "buy" if i % 2 else "sell"))


def many_files(b, work):
    root = os.path.join(work, "filesroot")
    b.gen_root(root, b.SMALL_BYTES)
    add_small_files(root, 10_000)
    p = Peers(b, work, root, "files")
    runs = []
    for _ in range(max(b.RUNS, 3)):
        p.reset()
        try:
            runs.append(p.snapshot())
        except SystemExit as e:
            why = [ln for ln in str(e).splitlines() if ln.startswith("statesnap:")] or [str(e)]
            b.rows.append(("+10,000 small files vs tar|pigz+sha256sum", "refused", "-", 0, ">= 1", False,
                           why[0][:120]))
            break
    if runs:
        m = {k: statistics.median([r[k] for r in runs]) for k in runs[0]}
        b.row("+10,000 small files vs tar|pigz+sha256sum", m["statesnap"], m["tar+pigz"], "s", 1.0)
        b.row("+10,000 small files vs restic", m["statesnap"], m["restic"], "s", None)
    add_small_files(root, 90_000, start=10_000)
    store = os.path.join(work, "files100k")
    for what, name in (("create", "f100k"), ("repeat create", "f100k_2")):
        r = subprocess.run(["/usr/bin/time", "-f", "%M"] + b.ss(root, store, "create", "--name", name),
                           capture_output=True, text=True)
        label = "peak RSS %s, 100,000-file root" % what
        if r.returncode != 0:
            b.rows.append((label, "refused", "-", 0, "<= 1 (64 MB)", False,
                           (r.stderr.strip().splitlines() or [""])[0][:120]))
            break
        kb = int(r.stderr.strip().splitlines()[-1])
        b.rows.append((label, "%d MB" % (kb // 1024), "-", kb / 1024.0 / 64, "<= 1 (64 MB)", kb <= 64 * 1024, ""))
    b.drop(root)
    b.drop(store)
    shutil.rmtree(p.dir, ignore_errors=True)


def big_chain(b, work, big, days=5):
    p = Peers(b, work, big, "big")
    p.reset()
    first = p.snapshot()
    total = {}
    for _ in range(days):
        p.advance()
        for k, v in p.snapshot().items():
            total.setdefault(k, []).append(v)
    mine = statistics.median(total["statesnap"])
    b.row("1 GB chain: repeat snapshot vs statesnap's first", mine, first["statesnap"], "s", 5.0)
    b.row("1 GB chain: %d daily snapshots vs restic" % days, sum(total["statesnap"]), sum(total["restic"]), "s",
          None)
    shutil.rmtree(p.dir, ignore_errors=True)


def missing():
    return [t for t in ("restic", "borg", "pigz", "tar") if shutil.which(t) is None]


def run(b, work, root):
    """The passes on the 100 MB root (left as it was found: advanced)."""
    first_and_repeat(b, work, root)
    p = thirty_days(b, work, root, 30 if not b.QUICK else 5)
    restore(b, work, p)
    shutil.rmtree(p.dir, ignore_errors=True)
    many_files(b, work)
