"""A restore that knows the bot: lock and pid files, a quiet period, changes
seen after the swap, stop/start hooks, restore elsewhere, the kill switch
option and special files at targets. The writer is tests/fixtures/bot.py."""
import hashlib
import json
import os
import subprocess
import sys
import time
import zipfile

import pytest

import livelib
from livelib import Bot, cli


def write_config(path, **cfg):
    with open(path, "w") as f:
        json.dump(cfg, f)
    return str(path)


def tree(root):
    out = {}
    for d, _, fs in os.walk(root):
        for f in fs:
            p = os.path.join(d, f)
            if os.path.islink(p) or not os.path.isfile(p):
                out[os.path.relpath(p, root)] = "special"
                continue
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def snapshot_files(store, name):
    with zipfile.ZipFile(os.path.join(store, name + ".zip")) as z:
        m = json.loads(z.read("manifest.json"))
    return {f["path"]: f["sha256"] for f in m["files"] if not f["path"].startswith("env/")}


def names(root, store):
    rc, out, err = cli(root, store, "--json", "list", "--limit", "1000")
    return sorted(s["name"] for s in json.loads(out)["snapshots"])


@pytest.fixture
def setup(tmp_path):
    """A root with snapshot 'good', then moved on (so a restore changes files)."""
    root = livelib.make_root(tmp_path / "root", "--seed", "8")
    store = str(tmp_path / "store")
    rc, out, err = cli(root, store, "create", "--name", "good")
    assert rc == 0, err
    subprocess.run([sys.executable, livelib.MAKE_STATE, "--out", root, "--advance", "20"],
                   check=True, stdout=subprocess.DEVNULL)
    return tmp_path, root, store


def restore(root, store, *args, config=None, env=None):
    return cli(root, store, "restore", "--name", "good", "--yes", *args, config=config,
               env=dict({"STATESNAP_TEST_RESTORE_QUIET_MS": "0"}, **(env or {})))


@pytest.mark.parametrize("rate", [5, 200])
def test_lock_and_pid_files_refuse_while_the_bot_runs(setup, rate):
    """Refused, naming the bot, however fast it writes: at 200 events/s
    the root also changes between `restore --yes`'s own preview and its
    apply, and the refusal still names the running bot, not the token."""
    tmp, root, store = setup
    lock, pid = str(tmp / "bot.lock"), str(tmp / "bot.pid")
    for which in ("lock", "pid"):
        cfg = write_config(tmp / "c.json", bot={"lock_file": lock} if which == "lock"
                           else {"pid_file": pid})
        bot = Bot(root, rate=rate, lock_file=lock if which == "lock" else None,
                  pid_file=pid if which == "pid" else None)
        try:
            before = tree(root)
            rc, out, err = restore(root, store, config=cfg)
            assert rc == 1 and "the bot is running" in err, (rc, err)
            assert ("locked" in err) if which == "lock" else ("is alive" in err), err
            rc, out, err = cli(root, store, "restore", "--name", "good", "--dry-run", config=cfg)
            assert rc == 0 and "the bot is running" in out, out
        finally:
            bot.stop()
        # Only the bot's own writes: nothing of the snapshot went in.
        assert all(tree(root).get(p) != h or before.get(p) == h
                   for p, h in snapshot_files(store, "good").items())
        rc, out, err = restore(root, store, config=cfg)
        assert rc == 0, err
        assert {p: tree(root)[p] for p in snapshot_files(store, "good")} == snapshot_files(store, "good")


@pytest.mark.parametrize("rate", [1, 5, 20])
def test_a_writer_is_refused_or_reported_never_a_silent_ok(setup, rate):
    """No lock or pid file configured: the quiet period (default 2 s) or the
    look after the swap catches a writer at 1-20 events/s."""
    tmp, root, store = setup
    cfg = write_config(tmp / "c.json")
    bot = Bot(root, rate=rate, style="rename")
    try:
        rc, out, err = cli(root, store, "restore", "--name", "good", "--yes", config=cfg,
                           env={"STATESNAP_TEST_RESTORE_QUIET_MS": ""})
    finally:
        bot.stop()
    assert rc == 1, (out, err)
    assert ("quiet period" in err or "changed while the restore was prepared" in err or
            "changed since the preview" in err or "CHANGED DURING RESTORE" in out), (out, err)
    assert "RESTORE COMPLETE" not in out


def test_while_running_goes_ahead_and_reports_changes(setup):
    tmp, root, store = setup
    pid = str(tmp / "bot.pid")
    cfg = write_config(tmp / "c.json", bot={"pid_file": pid}, restore_quiet_ms=400)
    bot = Bot(root, rate=50, pid_file=pid)
    try:
        rc, out, err = cli(root, store, "--json", "restore", "--name", "good", "--yes",
                           "--while-running", config=cfg)
    finally:
        bot.stop()
    report = json.loads(out)
    assert report["changed_during_restore"], report
    assert rc == 1 and "changed right after it" in err, err


def test_stop_and_start_hooks_restore_exactly_the_snapshot(setup):
    tmp, root, store = setup
    pid, stop, listing = str(tmp / "bot.pid"), str(tmp / "bot.stop"), str(tmp / "at-start.txt")
    bot_cmd = "%s %s --root %s --rate 20 --pid-file %s --stop-file %s --seconds 60" % (
        sys.executable, livelib.BOT, root, pid, stop)
    hooks = {
        "pre_restore": {"argv": ["/bin/sh", "-c",
                                 "touch %s; i=0; while [ -e %s ]; do i=$((i+1)); [ $i -gt 1000 ] && "
                                 "exit 4; sleep 0.01; done; rm -f %s" % (stop, pid, stop)]},
        # Before the bot starts again: what the root holds, for the test to compare.
        "post_restore": {"argv": ["/bin/sh", "-c",
                                  "cd %s && sha256sum state/*.json state/*.jsonl config/*.json > %s; "
                                  "echo result=$STATESNAP_RESULT safety=$STATESNAP_SAFETY_SNAPSHOT >> %s; "
                                  "setsid %s > /dev/null 2>&1 &" % (root, listing, listing, bot_cmd)]},
    }
    cfg = write_config(tmp / "c.json", bot={"pid_file": pid}, hooks=hooks, restore_quiet_ms=300)
    p = subprocess.Popen(bot_cmd.split(), stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    rc, out, err = cli(root, store, "--json", "restore", "--name", "good", "--yes", config=cfg)
    p.wait(timeout=30)
    try:
        assert rc == 0, (out, err)
        report = json.loads(out)
        assert [h["hook"] for h in report["hooks"]] == ["pre_restore", "post_restore"]
        assert all(h["exit_code"] == 0 for h in report["hooks"])
        assert report["changed_during_restore"] == []
        text = open(listing).read()
        got = {line.split()[1]: line.split()[0] for line in text.splitlines() if "  " in line}
        want = {p: h for p, h in snapshot_files(store, "good").items() if p in got or p.endswith(("json", "jsonl"))}
        assert {k: got.get(k) for k in want} == want
        assert "result=ok safety=pre_restore_" in text
        audit = open(os.path.join(store, "audit.jsonl")).read()
        assert '"pre_restore"' in audit and '"post_restore"' in audit
    finally:
        with open(stop, "w"):
            pass
        for _ in range(200):
            if not os.path.exists(pid):
                break
            time.sleep(0.05)


def test_failing_pre_hook_writes_nothing_and_post_hook_runs(setup):
    tmp, root, store = setup
    marker = str(tmp / "post")
    for pre, word in ((["false"], "exit status 1"),
                      (["sleep", "30"], "timed out after 300 ms")):
        hooks = {"pre_restore": {"argv": pre, "timeout_ms": 300},
                 "post_restore": {"argv": ["/bin/sh", "-c", "echo $STATESNAP_RESULT > %s" % marker]}}
        cfg = write_config(tmp / "c.json", hooks=hooks)
        before, snaps = tree(root), names(root, store)
        rc, out, err = restore(root, store, config=cfg)
        assert rc == 1 and "hook pre_restore" in err and word in err, err
        assert "nothing restored" in err
        assert tree(root) == before and names(root, store) == snaps
        assert open(marker).read().strip() == "error"
        os.unlink(marker)


@pytest.mark.parametrize("post, word", [(["/bin/sh", "-c", "exit 7"], "failed with exit status 7"),
                                        (["sleep", "30"], "timed out after 300 ms")])
def test_failing_post_hook_is_a_warning_after_the_restore(setup, post, word):
    tmp, root, store = setup
    cfg = write_config(tmp / "c.json", hooks={"post_restore": {"argv": post, "timeout_ms": 300}})
    t0 = time.monotonic()
    rc, out, err = cli(root, store, "--json", "restore", "--name", "good", "--yes", config=cfg)
    assert rc == 0, err
    assert time.monotonic() - t0 < 20
    report = json.loads(out)
    assert report["hooks"][0]["hook"] == "post_restore"
    assert any("hook post_restore " + word in w for w in report["warnings"]), report["warnings"]
    # The restore itself went in.
    assert {p: tree(root)[p] for p in snapshot_files(store, "good")} == snapshot_files(store, "good")


def test_restore_elsewhere(setup):
    tmp, root, store = setup
    live, snaps = tree(root), names(root, store)
    target = str(tmp / "forensics")
    rc, out, err = cli(root, store, "restore", "--name", "good", "--target", target, "--yes")
    assert rc == 0, err
    assert "Target: " in out and "live state root is untouched" in out
    assert {p: h for p, h in tree(target).items()} == snapshot_files(store, "good")
    assert tree(root) == live and names(root, store) == snaps, "live root or store changed"
    rc, out, err = cli(root, store, "restore", "--name", "good", "--target", target, "--yes")
    assert rc == 1 and "not empty" in err
    rc, out, err = cli(root, store, "restore", "--name", "good", "--target",
                       os.path.join(root, "state", "x"), "--yes")
    assert rc == 2 and "inside it" in err


def test_restore_elsewhere_over_the_api(setup):
    tmp, root, store = setup
    work = tmp / "srv"
    os.makedirs(work)
    targets = str(tmp / "targets")
    srv = livelib.apilib.Server(work, root, tokens=livelib.apilib.new_tokens(),
                                config={"restore_targets_dir": targets})
    srv.cmd[srv.cmd.index("--store") + 1] = store
    srv.start()
    try:
        api = srv.api(srv.token("admin"))
        r = api.post("/api/v1/snapshots/good/restore/preview", {"target": "../etc"})
        assert r.status_code == 400, r.text
        pv = api.post("/api/v1/snapshots/good/restore/preview", {"target": "drill1"}, expect=200).json()
        assert all(f["action"] == "create" for f in pv["files"])
        rep = api.post("/api/v1/snapshots/good/restore",
                       {"confirm_token": pv["confirm_token"], "target": "drill1"}, expect=200).json()
        assert rep["safety_snapshot"] is None and rep["target"].endswith("/drill1")
        assert tree(os.path.join(targets, "drill1")) == snapshot_files(store, "good")
    finally:
        srv.stop()


def test_engage_kill_switch(setup):
    tmp, root, store = setup
    ks = os.path.join(root, "state", "KILL_SWITCH")
    assert not os.path.exists(ks)
    rc, out, err = restore(root, store, "--engage-kill-switch")
    assert rc == 0, err
    assert os.path.exists(ks) and "KILL_SWITCH engaged" in out
    os.unlink(ks)
    cfg = write_config(tmp / "c.json", restore_engage_kill_switch=True)
    rc, out, err = cli(root, store, "--json", "restore", "--name", "good", "--yes", config=cfg)
    assert rc == 0 and json.loads(out)["kill_switch"] == "engaged" and os.path.exists(ks)
    rc, out, err = restore(root, store, "--engage-kill-switch", "--clear-kill-switch")
    assert rc == 2 and "contradict" in err


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_special_files_at_targets(setup, kind):
    tmp, root, store = setup
    target = os.path.join(root, "state", "orders.json")
    elsewhere = str(tmp / "elsewhere.json")
    with open(elsewhere, "w") as f:
        f.write("{}")
    os.unlink(target)
    if kind == "symlink":
        os.symlink(elsewhere, target)
    else:
        os.mkfifo(target)
    rc, out, err = cli(root, store, "--json", "restore", "--name", "good", "--dry-run")
    assert rc == 0, err
    special = json.loads(out)["special"]
    assert special and special[0]["path"] == "state/orders.json" and special[0]["kind"] == kind
    assert "--replace-special" in special[0]["remedy"]
    before = tree(root)
    rc, out, err = restore(root, store)
    assert rc == 1 and "--replace-special" in err and "nothing restored" in err, err
    assert tree(root) == before
    rc, out, err = restore(root, store, "--replace-special")
    assert rc == 0, err
    assert os.path.isfile(target) and not os.path.islink(target)
    assert open(elsewhere).read() == "{}", "the symlink's target was written"
    assert tree(root)["state/orders.json"] == snapshot_files(store, "good")["state/orders.json"]
