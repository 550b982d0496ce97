"""Kill statesnap (SIGKILL via failpoints, test builds only) at every point an
operation passes, run the next command, and check that the store and the state
root are whole (SPEC section 12 "Crash safety"; issue 2, Done means 6).

The points are not hard-coded: each operation first runs once with
STATESNAP_FAILPOINT_LOG to list the points it passes (with repeats: the n-th
hit of restore.after_rename is the n-th file), then each (point, n) becomes one
test that runs the operation again with STATESNAP_FAILPOINT=point:n."""
import atexit
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter

import pytest

import snaplib
from snaplib import Statesnap, make_state, positions_doc, read_zip, tree, tree_diff, write_json

ROOT_ARGS = ["--git", "--seed", "7", "--chain-lines", "400", "--idem-keys", "50", "--pnl-days", "30",
             "--orders", "12"]
TARGET = "base"
# Everything that may sit at the top of an idle store.
STORE_ALLOWED = {"catalog.db", ".lock", ".secret", ".work", "audit.jsonl", "signing_key.pem", "signing_key.pub"}

# op -> (arguments, use an empty store)
OPS = {
    "create": (["create", "--name", "crashme", "--label", "reason=crash-test"], False),
    "create_first": (["create", "--name", "first"], True),
    "delete": (["delete", "--name", TARGET], False),
    "restore": (["restore", "--name", TARGET, "--yes"], False),
    "restore_only": (["restore", "--name", TARGET, "--yes", "--only", "state/positions.json,state/orders.json"],
                     False),
    "reindex": (["reindex"], False),
    "prune": (["prune", "--keep-last", "5"], False),
    "import": (["import", "--allow-unsigned", "{ext}"], False),   # another store's key: not trusted here
    "drill": (["drill", "--name", TARGET], False),
}
FILLERS = ["fill%d" % i for i in range(1, 7)]   # so that prune --keep-last 5 has work
EXT_NAME = "extsnap"                            # exported from another store, then imported


def read_log(path):
    """Point names from a STATESNAP_FAILPOINT_LOG file, in order ([] if none was written)."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


class Template:
    """A state root that moved on after snapshot TARGET was taken, and its store."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="statesnap-crash-")
        atexit.register(shutil.rmtree, self.dir, True)
        self.root = os.path.join(self.dir, "root")
        self.store = os.path.join(self.dir, "store")
        self.error = None
        self.points = {}
        self.after = {}
        self.ops = {}
        try:
            self._build()
        except (AssertionError, OSError, subprocess.SubprocessError, ValueError) as ex:
            self.error = "crash suite setup failed: %s" % (str(ex).splitlines() or [repr(ex)])[0]

    def _build(self):
        assert os.path.isfile(snaplib.BIN), "statesnap binary %s is missing" % snaplib.BIN
        make_state(self.root, *ROOT_ARGS)
        ss = Statesnap(self.root, self.store, self.dir)
        ss.ok("create", "--name", TARGET)
        self.snap = read_zip(os.path.join(self.store, TARGET + ".zip"))
        for name in FILLERS:
            ss.ok("create", "--name", name)
        other = Statesnap(self.root, os.path.join(self.dir, "other-store"), self.dir)
        other.ok("create", "--name", EXT_NAME)
        self.ext = os.path.join(self.dir, EXT_NAME + ".zip")
        other.ok("export", EXT_NAME, "--out", self.ext)
        make_state(self.root, "--advance", "40", "--seed", "7")
        write_json(os.path.join(self.root, "state/positions.json"),
                   positions_doc([("AAPL", "long", 1, 1.0), ("AMD", "short", 2, 2.0)]))
        self.pre = tree(self.root)
        for op, (args, empty) in OPS.items():
            self.ops[op] = ([a.replace("{ext}", self.ext) for a in args], empty)
            case = self.copy("enumerate-" + op, empty)
            log = os.path.join(case.tmp, "failpoints.log")
            rc, out, err = case.run(*self.ops[op][0], env={"STATESNAP_FAILPOINT_LOG": log})
            assert rc == 0, "%s without failpoints: exit %d: %s" % (op, rc, err)
            self.points[op] = read_log(log)
            self.after[op] = sorted(case.names())
            shutil.rmtree(os.path.dirname(case.root))

    def copy(self, label, empty_store=False):
        """A private copy of root and store for one case."""
        base = tempfile.mkdtemp(prefix=label[:40] + "-", dir=self.dir)
        root, store = os.path.join(base, "root"), os.path.join(base, "store")
        shutil.copytree(self.root, root, symlinks=True)
        if not empty_store:
            shutil.copytree(self.store, store, symlinks=True)
        return Statesnap(root, store, base)

    def cases(self):
        """[(op, point, n, index in the op's log)] for every hit of every point."""
        out = []
        for op, log in self.points.items():
            seen = Counter()
            for i, name in enumerate(log):
                seen[name] += 1
                out.append((op, name, seen[name], i))
        return out


_TEMPLATE = None


def template():
    global _TEMPLATE
    if _TEMPLATE is None:
        _TEMPLATE = Template()
    return _TEMPLATE


def pytest_generate_tests(metafunc):
    if "case" in metafunc.fixturenames:
        t = template()
        if t.error:
            metafunc.parametrize("case", [("setup", t.error, 0, 0)], ids=["setup-failed"])
        else:
            cases = t.cases()
            metafunc.parametrize("case", cases, ids=["%s-%s:%d" % (c[0], c[1], c[2]) for c in cases])


def snap_paths(t):
    return sorted(p for p in t.snap
                  if p not in ("manifest.json", "manifest.json.sig", "SHA256SUMS", snaplib.ENV_MASKED))


def restored_paths(t, op):
    if op == "restore_only":
        return ["state/orders.json", "state/positions.json"]
    return snap_paths(t)


def check_store(ss):
    """The store invariants after the command that follows a crash."""
    problems = []
    work = os.path.join(ss.store, ".work")
    for dirpath, _, files in os.walk(work):
        problems += ["leftover in .work: " + os.path.relpath(os.path.join(dirpath, f), ss.store) for f in files]
    for entry in os.listdir(ss.store):
        if entry not in STORE_ALLOWED and not re.fullmatch(snaplib.NAME_RE + r"\.zip", entry):
            problems.append("unexpected file in store: " + entry)
    listed = sorted(ss.names())
    zips = ss.store_zips()
    if listed != zips:
        problems.append("catalog lists %s but the store holds archives %s" % (listed, zips))
    rc, out, err = ss.run("verify", "--all")
    if rc != 0:
        problems.append("verify --all exit %d: %s %s" % (rc, out.strip(), err.strip()))
    leftovers = [p for p in tree(ss.root) if ".statesnap-tmp" in p]
    if leftovers:
        problems.append("temp files left in the state root: %s" % leftovers)
    return problems


def root_state(t, ss, paths):
    """'pre', 'snap' or 'mixed' for the restorable files, plus problems with
    any other file (which must keep its pre-restore bytes)."""
    now = tree(ss.root)
    problems, kinds = [], set()
    for p in paths:
        if now.get(p) == t.snap[p]:
            kinds.add("snap" if t.pre.get(p) != t.snap[p] else "both")
        elif now.get(p) == t.pre.get(p):
            kinds.add("pre")
        else:
            problems.append("%s is neither its pre-restore nor its snapshot version" % p)
    for p, data in t.pre.items():
        if p not in paths and now.get(p) != data:
            problems.append("%s changed, but it is not restored" % p)
    for p in now:
        if p not in t.pre and p not in paths and ".statesnap-tmp" not in p:
            problems.append("new file in the state root: " + p)
    kinds.discard("both")
    state = "mixed" if len(kinds) > 1 else kinds.pop() if kinds else "snap"
    return state, problems


def journal_index(log):
    """Index of the point after which a restore is committed (its journal
    written): restore.after_journal or restore.after_commit_journal."""
    for i, name in enumerate(log):
        if re.fullmatch(r"restore\.after_(commit_)?journal", name):
            return i
    return None


def test_kill_point(case):
    op, point, n, index = case
    assert op != "setup", point
    t = template()
    args, empty = t.ops[op]
    ss = t.copy("%s-%s-%d" % (op, point, n), empty)
    names_before = ss.names() if not empty else []
    rc, out, err = ss.run(*args, env={"STATESNAP_FAILPOINT": "%s:%d" % (point, n)})
    assert rc == -9, "%s was not killed at %s:%d (exit %d): %s" % (op, point, n, rc, err)

    problems = []
    if op.startswith("restore"):
        state, bad = root_state(t, ss, restored_paths(t, op))
        problems += ["right after the kill: " + b for b in bad]

    rc, out, err = ss.run("--json", "list")
    assert rc == 0, "the command after the crash failed: %s" % err
    problems += check_store(ss)
    names = ss.names()

    if op.startswith("create"):
        created = args[2]
        others = [x for x in names if x != created]
        if others != names_before:
            problems.append("snapshots other than %s changed: %s -> %s" % (created, names_before, names))
        if created not in names:
            rc, _, err = ss.run(*args)
            if rc != 0:
                problems.append("%s is absent but creating it again fails: %s" % (created, err.strip()))
    elif op == "delete":
        if sorted(set(names_before) - {TARGET}) != sorted(set(names) - {TARGET}):
            problems.append("delete touched other snapshots: %s -> %s" % (names_before, names))
        if TARGET in names:
            rc, _, err = ss.run(*args)
            if rc != 0:
                problems.append("%s survived but deleting it again fails: %s" % (TARGET, err.strip()))
    elif op == "reindex":
        # Order is compared by the CLI suite (test_catalog); here: nothing lost or invented.
        if sorted(names) != sorted(names_before):
            problems.append("reindex killed mid-way changed the catalog: %s -> %s" % (names_before, names))
    elif op == "prune":
        newest = names_before[:5]
        if not set(newest) <= set(names):
            problems.append("prune killed mid-way lost one of the 5 newest: %s -> %s" % (names_before, names))
        rc, _, err = ss.run(*args)
        if rc != 0 or sorted(ss.names()) != t.after[op]:
            problems.append("prune after recovery: exit %d, left %s, an uninterrupted prune leaves %s: %s"
                            % (rc, sorted(ss.names()), t.after[op], err.strip()))
    elif op == "import":
        if sorted(set(names) - {EXT_NAME}) != sorted(names_before):
            problems.append("import touched other snapshots: %s -> %s" % (names_before, names))
        if EXT_NAME not in names:
            rc, _, err = ss.run(*args)
            if rc != 0 or EXT_NAME not in ss.names():
                problems.append("%s is absent but importing it again fails: %s" % (EXT_NAME, err.strip()))
        if not os.path.isfile(t.ext):
            problems.append("import consumed the source file outside the store")
    elif op == "drill":
        # A drill never touches the root; killed, it leaves only what the next
        # command removes (check_store: nothing in .work), and drilling again works.
        if tree(ss.root) != t.pre:
            problems.append("a drill changed the state root: " + tree_diff(t.pre, tree(ss.root)))
        if names != names_before:
            problems.append("a drill changed the catalog: %s -> %s" % (names_before, names))
        rc, out, err = ss.run("--json", *args)
        if rc != 0 or json.loads(out)["result"] != "ok":
            problems.append("drill after recovery: exit %d: %s" % (rc, err.strip()))
        problems += check_store(ss)
    else:
        paths = restored_paths(t, op)
        state, bad = root_state(t, ss, paths)
        problems += ["after the next command: " + b for b in bad]
        j = journal_index(t.points[op])
        if state == "mixed":
            problems.append("restore was neither rolled forward nor left untouched")
        elif j is not None and index >= j and state != "snap":
            problems.append("killed after the journal was written, but the next command did not complete "
                            "the restore")
        if state == "pre":
            rc, _, err = ss.run(*args)
            state, bad = root_state(t, ss, paths)
            if rc != 0 or state != "snap":
                problems.append("restore after recovery: exit %d, state %s: %s" % (rc, state, err.strip()))
        if tree(ss.root).get(".env") != t.pre[".env"]:
            problems.append(".env was written")
    assert not problems, "killed at %s:%d during %s:\n  %s" % (point, n, op, "\n  ".join(problems))
    shutil.rmtree(ss.tmp, ignore_errors=True)


def test_every_operation_passes_kill_points():
    t = template()
    assert t.error is None, t.error
    for op in OPS:
        assert t.points[op], "%s passes no failpoint: the crash suite cannot test it" % op
    # A restore must be killable between files: some point is hit once per restored file.
    changed = [p for p in snap_paths(t) if t.pre.get(p) != t.snap[p]]
    counts = Counter(x for x in t.points["restore"] if x.startswith("restore."))
    assert counts and max(counts.values()) >= len(changed), counts
    assert journal_index(t.points["restore"]) is not None, "no restore.after_(commit_)journal point: %s" % counts


def test_restore_log_is_deterministic():
    """The kill runs (STATESNAP_FAILPOINT=name:n) rely on the same points on
    every run. A restore extracts on one thread while its safety snapshot
    (the create.* points) is written on another, so the two interleave
    differently from run to run; each thread's own order is fixed."""
    t = template()
    assert t.error is None, t.error
    ss = t.copy("determinism")
    log = os.path.join(ss.tmp, "again.log")
    rc, _, err = ss.run(*t.ops["restore"][0], env={"STATESNAP_FAILPOINT_LOG": log})
    assert rc == 0, err
    again = read_log(log)
    assert Counter(again) == Counter(t.points["restore"])
    for prefix in ("create.", "restore."):
        assert [p for p in again if p.startswith(prefix)] == \
            [p for p in t.points["restore"] if p.startswith(prefix)], prefix
    shutil.rmtree(ss.tmp, ignore_errors=True)
