"""The audit chain after a kill (issue 17 item 1). A SIGKILL just after a
commit leaves the catalog's audit row committed and audit.jsonl without it:
that is a file *behind* the catalog, which `audit verify` reports as such
(exit 0, file.behind = N) and never as tampering, and which any write (or
`audit repair`) catches up. A deleted last line is a file shorter than it
was durably written: reported every time, and never healed by a read or a
write. verify itself writes nothing."""
import hashlib
import json
import os
import random
import signal
import subprocess
import time

import pytest

import snaplib
from snaplib import Statesnap, make_state

SMALL = ["--seed", "5", "--chain-lines", "5", "--idem-keys", "2", "--pnl-days", "2", "--orders", "2",
         "--positions", "2"]
KILLS = 200
RANDOM_KILLS = {"kills": 0, "behind": 0, "tampering": 0}


def files_of(store):
    """What the evidence is: audit.jsonl's bytes, its inode and its times
    (the catalog's WAL may be checkpointed by any opener; that is SQLite's)."""
    p = os.path.join(store, "audit.jsonl")
    if not os.path.exists(p):
        return None
    st = os.stat(p)
    with open(p, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest(), st.st_ino, st.st_mtime_ns, st.st_size


@pytest.fixture
def small(tmp_path):
    root, store = tmp_path / "root", tmp_path / "store"
    make_state(root, *SMALL)
    ss = Statesnap(root, store, tmp_path)
    ss.ok("create", "--name", "a")
    ss.ok("create", "--name", "b")
    return ss


def verify(ss):
    rc, out, err = ss.run("--json", "audit", "verify", root=False)
    try:
        doc = json.loads(out)
    except ValueError:
        doc = None
    return rc, doc, err


def hits(ss, args, point):
    log = os.path.join(ss.tmp, "fp.log")
    if os.path.exists(log):
        os.unlink(log)
    ss.ok(*args, env={"STATESNAP_FAILPOINT_LOG": log})
    with open(log) as f:
        return sum(1 for line in f if line.strip() == point)


OPS = {
    "delete": ["delete", "--name", "a"],
    "restore": ["restore", "--name", "a", "--yes"],
    "prune": ["prune", "--keep-last", "5"],
    "pin": ["pin", "a"],
}


@pytest.mark.parametrize("op", list(OPS))
def test_kill_between_commit_and_flush_is_behind_not_tampering(small, tmp_path, op):
    ss = small
    if op == "prune":
        for i in range(5):
            ss.ok("create", "--name", "p%d" % i)
    # Where the last unlock of the operation is, from a dry run on a copy.
    import shutil
    probe = Statesnap(tmp_path / "probe-root", tmp_path / "probe-store", tmp_path)
    shutil.copytree(ss.root, probe.root, symlinks=True)
    shutil.copytree(ss.store, probe.store, symlinks=True)
    n = hits(probe, OPS[op], "store.before_audit_flush")
    assert n >= 1, "%s never releases the store lock through the engine" % op
    rc, _, _ = ss.run(*OPS[op], env={"STATESNAP_FAILPOINT": "store.before_audit_flush:%d" % n})
    assert rc == -signal.SIGKILL, "the failpoint did not fire (exit %d)" % rc
    before = files_of(ss.store)
    for attempt in (1, 2):
        rc, doc, err = verify(ss)
        assert rc == 0, "verify #%d after a kill just after the commit: exit %d %s" % (attempt, rc, err)
        assert doc["ok"] is True and doc["file"]["ok"] is True, doc
        assert doc["file"]["behind"] >= 1, doc
        assert "crash" in doc["file"]["note"], doc
    out = ss.ok("audit", "verify", root=False)
    assert "WARNING" in out and "behind the catalog" in out, out
    assert files_of(ss.store) == before, "audit verify wrote to the store"
    # list is a read: it catches nothing up either.
    ss.ok("list", root=False)
    assert verify(ss)[1]["file"]["behind"] >= 1
    # A write catches the file up.
    ss.ok("create", "--name", "after")
    rc, doc, err = verify(ss)
    assert rc == 0 and doc["file"]["behind"] == 0, (doc, err)


def test_audit_repair_catches_up_a_crash(small):
    ss = small
    n = hits(Statesnap(ss.root, ss.store, ss.tmp), ["pin", "a"], "store.before_audit_flush")
    rc, _, _ = ss.run("unpin", "a", env={"STATESNAP_FAILPOINT": "store.before_audit_flush:%d" % n})
    assert rc == -signal.SIGKILL
    assert verify(ss)[1]["file"]["behind"] == 1
    doc = ss.json("audit", "repair", root=False)
    assert doc["ok"] is True and doc["appended"] == 1, doc
    rc, doc, _ = verify(ss)
    assert rc == 0 and doc["file"]["behind"] == 0


def drop_last_line(store):
    path = os.path.join(store, "audit.jsonl")
    with open(path) as f:
        lines = f.read().splitlines()
    with open(path, "w") as f:
        f.write("".join(line + "\n" for line in lines[:-1]))
    return len(lines)


def test_deleted_last_line_is_reported_every_time(small):
    ss = small
    ss.ok("pin", "a")
    n = drop_last_line(ss.store)
    before = files_of(ss.store)
    for attempt in (1, 2):
        rc, doc, err = verify(ss)
        assert rc == 1, "verify #%d did not report the deleted last line: %s" % (attempt, doc)
        assert doc["ok"] is False and doc["file"]["ok"] is False
        assert doc["file"]["first_bad"]["line"] == n, doc
        assert "deleted" in doc["file"]["first_bad"]["problem"], doc
        assert "line %d" % n in err
    assert files_of(ss.store) == before, "audit verify rewrote the evidence it checked"
    # Neither a read nor a write heals it.
    ss.ok("list", root=False)
    ss.ok("unpin", "a")
    rc, doc, _ = verify(ss)
    assert rc == 1 and doc["file"]["first_bad"]["line"] == n, doc
    # repair refuses a file that lost lines: it is evidence.
    rc, _, err = ss.run("audit", "repair", root=False)
    assert rc == 1 and "evidence" in err, err
    # Moved aside, it is written anew from the catalog.
    os.rename(os.path.join(ss.store, "audit.jsonl"), os.path.join(ss.tmp, "audit.jsonl.evidence"))
    rc, doc, _ = verify(ss)
    assert rc == 1 and "missing" in doc["file"]["first_bad"]["problem"], doc
    doc = ss.json("audit", "repair", root=False)
    assert doc["rewritten"] is True
    rc, doc, _ = verify(ss)
    assert rc == 0 and doc["file"]["behind"] == 0, doc


def timed(ss, args):
    t0 = time.monotonic()
    ss.ok(*args)
    return time.monotonic() - t0


def test_random_kills_around_commits_never_look_like_tampering(small):
    """KILLS SIGKILLs at random moments of delete, restore, prune and create on
    a small root, each followed by `audit verify`: a kill may leave the file
    behind (reported as behind, exit 0), never as edited or cut."""
    ss = small
    rnd = random.Random(int(os.environ.get("STATESNAP_KILL_SEED", "17")))
    for i in range(4):
        ss.ok("create", "--name", "f%d" % i)
    cycle = [("create", lambda k: ["create", "--name", "k%d" % k]),
             ("delete", lambda k: ["delete", "--name", "k%d" % k]),
             ("restore", lambda k: ["restore", "--name", "a", "--yes"]),
             ("prune", lambda k: ["prune", "--keep-last", "5"])]
    spans = {}
    for op, argf in cycle:
        spans[op] = timed(ss, argf(10000))
    problems = []
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATESNAP_FAILPOINT")}
    for k in range(KILLS):
        op, argf = cycle[k % len(cycle)]
        delay = rnd.uniform(0.0, spans[op] * 1.1)
        p = subprocess.Popen([snaplib.BIN, "--root", ss.root, "--store", ss.store] + argf(k // len(cycle)),
                             cwd=ss.tmp, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        RANDOM_KILLS["kills"] += 1
        rc, doc, err = verify(ss)
        if rc != 0 or doc is None or doc["ok"] is not True:
            RANDOM_KILLS["tampering"] += 1
            problems.append("kill %d (%s after %.3fs): verify exit %d: %s %s" % (k, op, delay, rc, doc, err))
            break
        if doc["file"]["behind"] > 0:
            RANDOM_KILLS["behind"] += 1
    assert not problems, "\n".join(problems)
    # The next write brings the file up to the catalog.
    ss.ok("create", "--name", "after")
    rc, doc, _ = verify(ss)
    assert rc == 0 and doc["file"]["behind"] == 0, doc
