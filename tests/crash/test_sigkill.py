"""SIGKILL from outside, between the failpoints: while the archive of a large
root is being written, while restore temp files are being extracted, while the
safety snapshot is written, and just after visible steps (archive renamed,
first file swapped). The moment is chosen by watching the files the operation
writes, not by a timer, so each case lands where it says on every run. Then
the same checks as the failpoint suite."""
import atexit
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

import snaplib
from snaplib import SAFETY_RE, Statesnap, make_state, read_zip, tree
from test_crash import check_store

CHAIN_BYTES = 24 << 20
CHAIN = "state/hash_chain.jsonl"
ARGS = {"create": ["create", "--name", "killed"], "restore": ["restore", "--name", "big", "--yes"]}


class Big:
    """A root with a large chain, snapshot 'big' of it, the root moved on, and
    the sizes of what create and restore write (from one unkilled run each)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="statesnap-sigkill-")
        atexit.register(shutil.rmtree, self.dir, True)
        self.root = os.path.join(self.dir, "root")
        self.store = os.path.join(self.dir, "store")
        make_state(self.root, "--git", "--seed", "11", "--chain-lines", "100")
        make_state(self.root, "--chain-bytes", str(CHAIN_BYTES), "--seed", "11")
        ss = Statesnap(self.root, self.store, self.dir)
        ss.ok("create", "--name", "big")
        self.snap = read_zip(os.path.join(self.store, "big.zip"))
        make_state(self.root, "--advance", "50", "--seed", "11")
        self.pre = tree(self.root)
        case = self.copy("measure-create")
        case.ok(*ARGS["create"])
        self.create_zip = os.path.getsize(case.archive("killed"))
        case = self.copy("measure-restore")
        case.ok(*ARGS["restore"])
        safety = [n for n in case.names() if SAFETY_RE.match(n)]
        self.safety_zip = os.path.getsize(case.archive(safety[0]))
        self.chain = len(self.snap[CHAIN])

    def copy(self, label):
        base = tempfile.mkdtemp(prefix=label + "-", dir=self.dir)
        root, store = os.path.join(base, "root"), os.path.join(base, "store")
        shutil.copytree(self.root, root, symlinks=True)
        shutil.copytree(self.store, store, symlinks=True)
        return Statesnap(root, store, base)


@pytest.fixture(scope="module")
def big():
    return Big()


def largest_in(d):
    try:
        return max((e.stat().st_size for e in os.scandir(d) if e.is_file()), default=0)
    except OSError:
        return 0


def restore_tmp_size(ss):
    d = os.path.join(ss.root, "state")
    try:
        return max((e.stat().st_size for e in os.scandir(d)
                    if e.name.startswith("hash_chain.jsonl.statesnap-tmp")), default=0)
    except OSError:
        return 0


def safety_archived(ss):
    return any(SAFETY_RE.match(f) and f.endswith(".zip") for f in os.listdir(ss.store))


def chain_swapped(ss, ino):
    try:
        return os.stat(os.path.join(ss.root, CHAIN)).st_ino != ino
    except OSError:
        return False


def kill_when(ss, args, ready, timeout=300):
    """Start the operation, SIGKILL it as soon as ready() holds. Returns
    (exit status, seen) where seen says whether ready() was ever observed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATESNAP_FAILPOINT")}
    p = subprocess.Popen([snaplib.BIN, "--root", ss.root, "--store", ss.store] + args, cwd=ss.tmp, env=env,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, seen = time.monotonic() + timeout, False
    while p.poll() is None and time.monotonic() < deadline:
        if ready():
            seen = True
            p.send_signal(signal.SIGKILL)
            break
        time.sleep(0.001)
    if p.poll() is None and not seen:
        p.kill()
    return p.wait(), seen


# stage -> (predicate factory(big, ss), the kill must land while the operation runs)
CREATE_STAGES = {
    "zip-1%": (lambda b, ss: lambda: largest_in(os.path.join(ss.store, ".work")) >= b.create_zip * 0.01, True),
    "zip-30%": (lambda b, ss: lambda: largest_in(os.path.join(ss.store, ".work")) >= b.create_zip * 0.3, True),
    "zip-60%": (lambda b, ss: lambda: largest_in(os.path.join(ss.store, ".work")) >= b.create_zip * 0.6, True),
    "zip-90%": (lambda b, ss: lambda: largest_in(os.path.join(ss.store, ".work")) >= b.create_zip * 0.9, True),
    "archive-renamed": (lambda b, ss: lambda: os.path.exists(ss.archive("killed")), False),
}
RESTORE_STAGES = {
    "extract-1%": (lambda b, ss: lambda: restore_tmp_size(ss) >= b.chain * 0.01, True),
    "extract-50%": (lambda b, ss: lambda: restore_tmp_size(ss) >= b.chain * 0.5, True),
    "extract-95%": (lambda b, ss: lambda: restore_tmp_size(ss) >= b.chain * 0.95, True),
    "safety-zip-10%": (lambda b, ss: lambda: largest_in(os.path.join(ss.store, ".work")) >= b.safety_zip * 0.1,
                       True),
    "safety-zip-80%": (lambda b, ss: lambda: largest_in(os.path.join(ss.store, ".work")) >= b.safety_zip * 0.8,
                       True),
    "safety-archived": (lambda b, ss: lambda: safety_archived(ss), False),
    "chain-swapped": (None, False),
}


@pytest.mark.parametrize("stage", list(CREATE_STAGES))
def test_create_killed_from_outside(big, stage):
    ss = big.copy("create-" + stage)
    factory, must = CREATE_STAGES[stage]
    rc, seen = kill_when(ss, ARGS["create"], factory(big, ss))
    assert seen, "create never reached %s" % stage
    assert rc == -9 or not must, "create finished before the kill at %s (exit %d)" % (stage, rc)
    ss.ok("--json", "list")
    problems = check_store(ss)
    names = ss.names()
    if not set(names) <= {"big", "killed"} or "big" not in names:
        problems.append("snapshots after the crash: %s" % names)
    if "killed" not in names:
        rc, _, err = ss.run(*ARGS["create"])
        if rc != 0:
            problems.append("creating 'killed' again fails: " + err.strip())
    assert not problems, "killed at %s of create:\n  %s" % (stage, "\n  ".join(problems))
    shutil.rmtree(ss.tmp, ignore_errors=True)


def restore_kinds(big, ss):
    now = tree(ss.root)
    kinds = set()
    for p in (p for p in big.snap if p.startswith(("state/", "config/"))):
        if now.get(p) == big.snap[p] and now.get(p) == big.pre.get(p):
            continue
        kinds.add("snap" if now.get(p) == big.snap[p] else "pre" if now.get(p) == big.pre.get(p) else "other")
    return kinds, now


@pytest.mark.parametrize("stage", list(RESTORE_STAGES))
def test_restore_killed_from_outside(big, stage):
    ss = big.copy("restore-" + stage)
    factory, must = RESTORE_STAGES[stage]
    if factory is None:
        ino = os.stat(os.path.join(ss.root, CHAIN)).st_ino
        ready = lambda: chain_swapped(ss, ino)  # noqa: E731
    else:
        ready = factory(big, ss)
    rc, seen = kill_when(ss, ARGS["restore"], ready)
    assert seen, "restore never reached %s" % stage
    assert rc == -9 or not must, "restore finished before the kill at %s (exit %d)" % (stage, rc)
    problems = []
    kinds, _ = restore_kinds(big, ss)
    if "other" in kinds:
        problems.append("right after the kill a file is neither its old nor its snapshot version")
    ss.ok("--json", "list")
    problems += check_store(ss)
    kinds, now = restore_kinds(big, ss)
    if kinds not in ({"snap"}, {"pre"}):
        problems.append("after the next command the restored files are %s" % sorted(kinds))
    if stage == "chain-swapped" and kinds != {"snap"}:
        problems.append("a restore that had swapped a file in was not completed")
    if now.get(".env") != big.pre[".env"]:
        problems.append(".env was written")
    assert not problems, "killed at %s of restore:\n  %s" % (stage, "\n  ".join(problems))
    shutil.rmtree(ss.tmp, ignore_errors=True)
