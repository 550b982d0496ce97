"""drill: a restore rehearsed in a scratch directory under the store's .work,
every byte checked, hooks.drill_check run against it, the result recorded in
the catalog (last_drill), the audit chain, and cleaned up; a corrupted
archive fails it; a drill killed with SIGKILL leaves nothing after the next
command (issue 15, restore drills)."""
import glob
import json
import os
import signal
import sqlite3
import subprocess
import time

from snaplib import BIN, tree
from test_verify import flip_byte_in_entry

# The check sees the scratch copy: it must hold the state and no .env.
CHECK = ("test \"$STATESNAP_OP\" = drill && test -n \"$STATESNAP_SNAPSHOT\" && "
         "test -f \"$STATESNAP_DRILL_DIR/state/positions.json\" && "
         "test ! -e \"$STATESNAP_DRILL_DIR/env\" && test ! -e \"$STATESNAP_DRILL_DIR/.env\" && "
         "test -d \"$STATESNAP_STORE\" && test -z \"$STATESNAP_TOKEN_ADMIN\" && "
         "echo checked \"$STATESNAP_SNAPSHOT\" in \"$STATESNAP_DRILL_DIR\"; exit ${DRILL_EXIT:-0}")


def config(tmp, **extra):
    doc = {"hooks": {"drill_check": {"argv": ["/bin/sh", "-c", CHECK], "timeout_ms": 10000}}}
    doc.update(extra)
    path = os.path.join(str(tmp), "drill.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    return path


def drill_dirs(ss):
    return glob.glob(os.path.join(ss.store, ".work", "drill-*"))


def drill_rows(ss):
    db = sqlite3.connect(os.path.join(ss.store, "catalog.db"))
    try:
        return db.execute("SELECT snapshot, result, files_checked, error FROM drills "
                          "ORDER BY id").fetchall()
    finally:
        db.close()


def audit_drills(ss):
    page = ss.json("audit", "--limit", "1000")
    return [(e["snapshot"], e["result"]) for e in page["entries"] if e["op"] == "drill"]


def test_drill_passes_and_is_recorded_and_leaves_nothing(ss, tmp_path):
    cfg = config(tmp_path)
    snap = ss.create("good")
    assert snap["last_drill"] is None
    before = tree(ss.root)
    rc, out, err = ss.run("--config", cfg, "drill", "good", env={"STATESNAP_TOKEN_ADMIN": "s3cr3t"})
    assert rc == 0, (out, err)
    assert "RESTORE DRILL" in out and "[OK] DRILL PASSED" in out, out
    assert "Check: exit 0" in out and "checked good in " in out, out
    rep = ss.json("--config", cfg, "drill", "--name", "good")
    assert rep["snapshot"] == "good" and rep["result"] == "ok" and rep["error"] is None
    # Every entry checked (the masked .env too, without being written).
    assert rep["files_checked"] == len(snap["files"]), rep
    assert rep["bytes"] == sum(f["size"] for f in snap["files"] if f["path"] != "env/.env.masked")
    assert rep["check"]["exit_code"] == 0 and rep["check"]["hook"] == "drill_check"
    assert rep["duration_ms"] >= 0 and rep["drilled_at"].endswith("Z")
    # The state root is never touched; the scratch is gone.
    assert tree(ss.root) == before
    assert drill_dirs(ss) == [] and os.listdir(os.path.join(ss.store, ".work")) == []
    shown = ss.json("show", "good")
    assert shown["last_drill"] == {"at": rep["drilled_at"], "result": "ok"}
    assert ss.json("list")["snapshots"][0]["last_drill"]["result"] == "ok"
    assert "Last drill: ok at " in ss.ok("show", "good")
    assert drill_rows(ss) == [("good", "ok", len(snap["files"]), None)] * 2
    assert audit_drills(ss) == [("good", "ok")] * 2
    ss.ok("audit", "verify")


def test_drill_latest_and_usage(ss, tmp_path):
    rc, out, err = ss.run("drill", "--latest")
    assert rc == 1 and "no snapshot to drill" in err, (out, err)
    assert drill_rows(ss) == []
    ss.create("older")
    ss.create("newer")
    assert ss.json("drill", "--latest")["snapshot"] == "newer"
    assert ss.run("drill")[0] == 2
    assert ss.run("drill", "older", "--latest")[0] == 2
    assert ss.run("drill", "no/such")[0] == 2
    rc, out, err = ss.run("drill", "missing")
    assert rc == 1 and "missing" in err
    assert [r[0] for r in drill_rows(ss)] == ["newer"]


def test_failing_drill_check_fails_the_drill(ss, tmp_path):
    cfg = config(tmp_path)
    ss.create("snap")
    rc, out, err = ss.run("--config", cfg, "--json", "drill", "snap", env={"DRILL_EXIT": "3"})
    assert rc == 1, (out, err)
    rep = json.loads(out)
    assert rep["result"] == "failed" and rep["check"]["exit_code"] == 3, rep
    assert "drill_check" in rep["error"] and "exit status 3" in rep["error"]
    assert "exit status 3" in err
    rc, out, err = ss.run("--config", cfg, "drill", "snap", env={"DRILL_EXIT": "4"})
    assert rc == 1 and "Check: exit 4" in out and "[FAILED] DRILL FAILED" in out, out
    assert drill_dirs(ss) == []
    assert ss.json("show", "snap")["last_drill"]["result"] == "failed"
    assert "Last drill: [!] FAILED at " in ss.ok("show", "snap")
    assert audit_drills(ss) == [("snap", "error")] * 2
    # An optional check that fails leaves the drill passed, its result reported.
    opt = config(tmp_path, hooks={"drill_check": {"argv": ["/bin/sh", "-c", "exit 5"],
                                                  "optional": True}})
    rep = ss.json("--config", opt, "drill", "snap")
    assert rep["result"] == "ok" and rep["check"]["exit_code"] == 5 and rep["check"]["optional"]
    assert ss.json("show", "snap")["last_drill"]["result"] == "ok"


def test_corrupted_archive_fails_the_drill(ss, tmp_path):
    ss.create("bad")
    flip_byte_in_entry(ss.archive("bad"), "state/positions.json")
    rc, out, err = ss.run("--json", "drill", "bad")
    assert rc == 1, (out, err)
    rep = json.loads(out)
    assert rep["result"] == "failed" and rep["check"] is None, rep
    assert rep["error"].startswith("state/positions.json"), rep["error"]
    assert "state/positions.json" in err
    assert drill_dirs(ss) == []
    assert drill_rows(ss)[-1][:2] == ("bad", "failed")
    assert audit_drills(ss) == [("bad", "error")]
    # The check never runs on a copy that did not check out.
    marker = tmp_path / "ran"
    cfg = config(tmp_path, hooks={"drill_check": {"argv": ["touch", str(marker)]}})
    assert ss.run("--config", cfg, "drill", "bad")[0] == 1
    assert not marker.exists()


def test_byte_outside_file_data_fails_the_drill(ss):
    # A changed byte the entries do not cover (the zip's comment) shows in the
    # archive's own SHA-256, which the catalog recorded at creation.
    ss.create("c")
    with open(ss.archive("c"), "r+b") as f:
        data = f.read()
        at = data.rindex(b"PK\x05\x06")
        f.seek(at + 20)
        f.write(b"\x01\x00x")
    rc, out, err = ss.run("--json", "drill", "c")
    assert rc == 1, (out, err)
    assert "SHA-256" in json.loads(out)["error"]


def test_missing_archive_fails_the_drill(ss):
    ss.create("gone")
    os.unlink(ss.archive("gone"))
    rc, out, err = ss.run("--json", "drill", "gone")
    assert rc == 1 and json.loads(out)["result"] == "failed"
    assert "missing" in json.loads(out)["error"]


def test_sigkilled_drill_leaves_nothing_after_the_next_command(ss, tmp_path):
    ss.create("k")
    env = dict(os.environ, STATESNAP_FAILPOINT_SLEEP="drill.after_extract:20000")
    env.pop("STATESNAP_FAILPOINT", None)
    p = subprocess.Popen([BIN, "--root", ss.root, "--store", ss.store, "drill", "k"], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ss.tmp)
    try:
        for _ in range(400):
            dirs = drill_dirs(ss)
            if dirs and os.path.isfile(os.path.join(dirs[0], "state", "positions.json")) and \
                    os.path.isfile(os.path.join(dirs[0], "state", "hash_chain.jsonl")):
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the drill never extracted into .work/drill-*")
        assert not os.path.exists(os.path.join(dirs[0], "env")), os.listdir(dirs[0])
        # A live drill's scratch is left alone by another command's recovery.
        ss.ok("list")
        assert drill_dirs(ss) == dirs
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert drill_dirs(ss) == dirs, "killed drill left no scratch: the test proves nothing"
    # A symlink planted in the leftover is removed, not followed.
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("x")
    os.symlink(str(outside), os.path.join(dirs[0], "state", "link"))
    ss.ok("list")
    assert drill_dirs(ss) == [] and os.listdir(os.path.join(ss.store, ".work")) == []
    assert (outside / "keep").read_text() == "x"
    # Killed before recording: no drill row, and the next drill works.
    assert drill_rows(ss) == []
    assert ss.json("drill", "k")["result"] == "ok"


def test_busy_store_runs_no_drill_and_records_nothing(ss, tmp_path):
    import fcntl
    ss.create("busy")
    cfg = config(tmp_path, lock_timeout_ms=200)
    with open(os.path.join(ss.store, ".lock"), "a") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        rc, out, err = ss.run("--config", cfg, "drill", "busy")
        fcntl.flock(lk, fcntl.LOCK_UN)
    # A busy store is "retry later" (exit 11, issue 20), not a failed drill (1).
    assert rc == 11 and "busy" in err, (out, err)
    assert out == "" and drill_dirs(ss) == [] and drill_rows(ss) == []
    assert ss.json("show", "busy")["last_drill"] is None
