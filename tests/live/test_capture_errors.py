"""What a create says when the root is not what it should be, or a hook fails:
exact exit codes and problem documents, and a store left as it was."""
import json
import os
import subprocess
import time

import pytest

import livelib
from livelib import cli


def write_config(path, **cfg):
    with open(path, "w") as f:
        json.dump(cfg, f)
    return str(path)


def store_state(store):
    """Archives, catalog rows and audit lines: what must not change."""
    if not os.path.isdir(store):
        return None
    zips = sorted(n for n in os.listdir(store) if n.endswith(".zip"))
    rc, out, err = cli("/nonexistent", store, "--json", "list", "--limit", "1000")
    rows = sorted(s["name"] for s in json.loads(out)["snapshots"]) if rc == 0 else None
    audit = os.path.join(store, "audit.jsonl")
    lines = open(audit).read().count("\n") if os.path.exists(audit) else 0
    work = sorted(os.listdir(os.path.join(store, ".work")))
    return zips, rows, lines, work


@pytest.fixture
def root(tmp_path):
    return livelib.make_root(tmp_path / "root", "--seed", "3")


@pytest.fixture
def store(tmp_path, root):
    s = str(tmp_path / "store")
    rc, out, err = cli(root, s, "create", "--name", "first")
    assert rc == 0, err
    return s


@pytest.fixture
def server_for(tmp_path):
    made = []

    def start(root, store, config):
        work = tmp_path / ("srv%d" % len(made))
        os.makedirs(work)
        srv = livelib.apilib.Server(work, root, tokens=livelib.apilib.new_tokens(), config=config)
        srv.cmd[srv.cmd.index("--store") + 1] = store
        srv.start()
        made.append(srv)
        return srv
    yield start
    for s in made:
        s.stop()


def test_empty_root_is_refused(tmp_path, store, server_for):
    empty = str(tmp_path / "empty")
    os.makedirs(empty)
    before = store_state(store)
    rc, out, err = cli(empty, store, "create")
    # Not there yet (is the volume mounted?) is "retry later": exit 11 (issue 20), as the API's 503.
    assert rc == 11, (rc, out, err)
    assert "is the volume mounted?" in err and "none of the expected state files" in err
    assert store_state(store) == before
    srv = server_for(empty, store, {})
    r = srv.api(srv.token("writer")).post("/api/v1/snapshots", {})
    assert r.status_code == 503, r.text
    doc = r.json()
    assert doc["type"] == "urn:statesnap:problem:state-missing"
    assert "is the volume mounted?" in doc["detail"]
    assert int(r.headers["Retry-After"]) > 0
    assert store_state(store) == before


def test_require_globs(tmp_path, root, store):
    cfg = write_config(tmp_path / "c.json", capture={"require": ["state/positions.json",
                                                                  "state/risk_state.json"]})
    before = store_state(store)
    rc, out, err = cli(root, store, "create", config=cfg)
    assert rc == 11 and 'no file matching "state/risk_state.json"' in err, err
    assert store_state(store) == before
    with open(os.path.join(root, "state", "risk_state.json"), "w") as f:
        f.write("{}\n")
    rc, out, err = cli(root, store, "create", "--name", "req_ok", config=cfg)
    assert rc == 0, err


def test_a_file_that_vanishes_before_it_is_read(root, store):
    victim = os.path.join(root, "state", "scratch.json")
    with open(victim, "w") as f:
        f.write('{"tmp": true}\n')
    cmd = [livelib.BIN, "--root", root, "--store", store, "--json", "create", "--name", "vanish"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, STATESNAP_FAILPOINT_SLEEP="create.before_cut:700"))
    time.sleep(0.35)
    os.unlink(victim)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    snap = json.loads(out)
    assert "state/scratch.json" in snap["absent"]
    assert any("state/scratch.json vanished before it was read" in w for w in snap["warnings"])
    assert "state/scratch.json" not in [f["path"] for f in snap["files"]]
    rc, out, err = cli(root, store, "verify", "vanish")
    assert rc == 0, out + err


@pytest.mark.parametrize("bad", ["new\nline.json", "tab\there.json", "back\\slash.json",
                                 "ctl\x01.json", "colon:name.json"])
def test_names_an_archive_cannot_hold_are_skipped(root, store, bad):
    with open(os.path.join(root, "state", bad), "w") as f:
        f.write("{}\n")
    rc, out, err = cli(root, store, "--json", "create", "--name", "names")
    assert rc == 0, err
    snap = json.loads(out)
    assert [w for w in snap["warnings"] if "its name cannot go into an archive" in w], snap["warnings"]
    shown = [w for w in snap["warnings"] if "cannot go into an archive" in w][0]
    assert not any(ord(c) < 0x20 for c in shown), repr(shown)
    assert all(f["path"].count("\\") == 0 and "\n" not in f["path"] for f in snap["files"])
    rc, out, err = cli(root, store, "verify", "names")
    assert rc == 0, out + err
    rc, out, err = cli(root, store, "restore", "--name", "names", "--dry-run")
    assert rc == 0, out + err


def test_failing_pre_hook_fails_the_create_and_post_hook_still_runs(tmp_path, root, store,
                                                                     server_for):
    marker = str(tmp_path / "post-ran")
    hooks = {"pre_snapshot": {"argv": ["/bin/sh", "-c", "echo pausing; echo API_KEY=sk_live_abc123; exit 3"]},
             "post_snapshot": {"argv": ["/bin/sh", "-c", 'echo "$STATESNAP_RESULT" > "%s"' % marker]}}
    cfg = write_config(tmp_path / "c.json", hooks=hooks)
    before = store_state(store)
    rc, out, err = cli(root, store, "create", "--name", "hooked", config=cfg)
    assert rc == 1, (out, err)
    assert "hook pre_snapshot failed with exit status 3" in err
    assert "sk_live_abc123" not in err and "API_KEY=***" in err
    assert open(marker).read().strip() == "error"
    assert store_state(store) == before
    os.unlink(marker)
    srv = server_for(root, store, {"hooks": hooks})
    r = srv.api(srv.token("writer")).post("/api/v1/snapshots", {"name": "hooked"})
    assert r.status_code == 409, r.text
    assert r.json()["type"] == "urn:statesnap:problem:hook-failed"
    assert "sk_live_abc123" not in r.text
    assert open(marker).read().strip() == "error"
    assert store_state(store) == before


def test_hook_timeout_kills_the_hook(tmp_path, root, store):
    pidfile = str(tmp_path / "hook.pid")
    hooks = {"pre_snapshot": {"argv": ["/bin/sh", "-c", "echo $$ > %s; sleep 30" % pidfile],
                              "timeout_ms": 300}}
    cfg = write_config(tmp_path / "c.json", hooks=hooks)
    before = store_state(store)
    t0 = time.monotonic()
    rc, out, err = cli(root, store, "create", "--name", "slow", config=cfg)
    took = time.monotonic() - t0
    assert rc == 1 and "hook pre_snapshot timed out after 300 ms" in err, err
    assert took < 20, took
    assert store_state(store) == before
    pid = int(open(pidfile).read())
    # The whole process group went: the shell and its sleep.
    for _ in range(100):
        if not os.path.exists("/proc/%d" % pid):
            break
        time.sleep(0.05)
    assert not os.path.exists("/proc/%d" % pid), "the timed-out hook is still running"


def test_optional_pre_hook_only_warns_and_hooks_are_reported(tmp_path, root, store):
    hooks = {"pre_snapshot": {"argv": ["false"], "optional": True},
             "post_snapshot": {"argv": ["/bin/sh", "-c",
                                        "echo op=$STATESNAP_OP reason=$STATESNAP_REASON "
                                        "result=$STATESNAP_RESULT cut=$STATESNAP_CONSISTENCY "
                                        "admin=${STATESNAP_TOKEN_ADMIN:-none} TOKEN=abcdef"]}}
    cfg = write_config(tmp_path / "c.json", hooks=hooks)
    rc, out, err = cli(root, store, "--json", "create", "--name", "opt", config=cfg,
                       env={"STATESNAP_TOKEN_ADMIN": "a-very-secret-admin-token"})
    assert rc == 0, err
    snap = json.loads(out)
    assert any("hook pre_snapshot failed with exit status 1" in w for w in snap["warnings"])
    pre, post = snap["hooks"]
    assert pre["hook"] == "pre_snapshot" and pre["exit_code"] == 1 and pre["optional"] is True
    assert post["hook"] == "post_snapshot" and post["exit_code"] == 0
    assert "op=create reason=manual result=ok cut=consistent admin=none TOKEN=***" in post["output"]
    assert "a-very-secret-admin-token" not in out
    audit = open(os.path.join(store, "audit.jsonl")).read()
    assert '"hooks"' in audit and "a-very-secret-admin-token" not in audit


@pytest.mark.parametrize("cfg, word", [
    ({"capture": {"max_attempts": 0}}, "capture.max_attempts"),
    ({"capture": {"on_inconsistent": "maybe"}}, "capture.on_inconsistent"),
    ({"capture": {"append_only": ["../x"]}}, "capture.append_only"),
    ({"capture": {"bogus": 1}}, "capture.bogus"),
    ({"capture": {"chain": {"seq_field": ""}}}, "capture.chain.seq_field"),
    ({"hooks": {"pre_snapshot": {"argv": []}}}, "hooks.pre_snapshot.argv"),
    ({"hooks": {"pre_snapshot": {"argv": ["true"], "timeout_ms": 0}}}, "hooks.pre_snapshot.timeout_ms"),
    ({"hooks": {"pre_deploy": {"argv": ["true"]}}}, "hooks.pre_deploy"),
])
def test_bad_capture_and_hook_config_is_refused(tmp_path, root, store, cfg, word):
    path = write_config(tmp_path / "bad.json", **cfg)
    before = store_state(store)
    rc, out, err = cli(root, store, "create", config=path)
    assert rc == 2 and word in err, (rc, err)
    assert store_state(store) == before


def test_a_file_of_zeros_is_stored_so_its_snapshot_verifies(root, store):
    """Deflated, 4 MiB of zeros passes the zip-bomb ratio limit that every read
    of an archive enforces: create stores such a file instead of reporting a
    snapshot that verify and restore would refuse."""
    with open(os.path.join(root, "state", "prealloc.json"), "wb") as f:
        f.write(b'{"pad":"' + b"0" * (4 << 20) + b'"}')
    rc, out, err = cli(root, store, "--json", "create", "--name", "zeros")
    assert rc == 0, err
    rc, out, err = cli(root, store, "verify", "zeros")
    assert rc == 0, out + err
    import zipfile
    with zipfile.ZipFile(os.path.join(store, "zeros.zip")) as z:
        info = z.getinfo("state/prealloc.json")
        assert info.compress_type == zipfile.ZIP_STORED
        assert z.getinfo("state/hash_chain.jsonl").compress_type == zipfile.ZIP_DEFLATED
