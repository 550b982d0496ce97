"""restore: the seed's RESTORE FROM SNAPSHOT block, byte-identical round trip,
.env never written, KILL_SWITCH kept, safety snapshot (issue 2, Done means 3)."""
import json
import os
import re
import shutil
import time

import pytest

from snaplib import (ENV_MASKED, SAFETY_RE, make_state, positions_doc, read_zip, sha256, tree, tree_diff,
                     write_json)

SNAP_POSITIONS = [("AAPL", "long", 100, 150.0), ("MSFT", "short", 50, 300.0), ("NVDA", "long", 10, 800.0),
                  ("TSLA", "long", 7, 200.0), ("ETH-USD", "short", 3, 3000.0)]
NOW_POSITIONS = [("AAPL", "long", 120, 151.0), ("AMD", "long", 40, 90.0), ("NVDA", "long", 10, 800.0)]


def state_paths(entries):
    return sorted(p for p in entries if p not in ("manifest.json", "SHA256SUMS", "manifest.json.sig",
                                                  ENV_MASKED))


def no_tmp_leftovers(root):
    return [p for p in tree(root) if ".statesnap-tmp" in p]


@pytest.fixture
def changed(ss):
    """Snapshot 'pre_live_v1' with 5 positions, then a state root that moved on:
    3 positions, 25 more chain events, a changed .env. Returns (ss, archive
    entries, tree of the root before restore)."""
    write_json(os.path.join(ss.root, "state/positions.json"), positions_doc(SNAP_POSITIONS))
    ss.create("pre_live_v1")
    entries = read_zip(ss.archive("pre_live_v1"))
    make_state(ss.root, "--advance", "25", "--seed", "42")
    write_json(os.path.join(ss.root, "state/positions.json"), positions_doc(NOW_POSITIONS))
    env_path = os.path.join(ss.root, ".env")
    with open(env_path) as f:
        text = f.read()
    with open(env_path, "w") as f:
        f.write(text.replace("MODE=paper-", "MODE=live-") + "ADDED_LATER=" + "q" * 20 + "\n")
    before = tree(ss.root)
    for p in ("state/positions.json", "state/orders.json", "state/pnl_history.json", "state/hash_chain.jsonl"):
        assert before[p] != entries[p], "fixture did not change %s" % p
    return ss, entries, before


def check_restore_block(out, name, created_at, current, snapshot):
    lines = out.rstrip("\n").split("\n")
    assert lines[0] == "RESTORE FROM SNAPSHOT", out
    assert lines[1] == "=====================", out
    assert "Source: %s (%s)" % (name, created_at[:10]) in lines, out
    warn = lines.index("[!] WARNING: This will overwrite current state!")
    cur = lines.index("Current positions: %d" % current)
    assert lines[cur + 1] == "Snapshot positions: %d" % snapshot, out
    restoring = lines.index("RESTORING...")
    complete = lines.index("RESTORE COMPLETE")
    assert lines.index("Source: %s (%s)" % (name, created_at[:10])) < warn < cur < restoring < complete, out
    assert lines[complete + 1:] == ["Run /preflight to verify system state."], out
    ok = [re.fullmatch(r"  \[OK\] (\S+)", line) for line in lines[restoring + 1:complete]]
    return [m.group(1) for m in ok if m]


def test_round_trip_restores_every_file_byte_for_byte(changed):
    ss, entries, before = changed
    created_at = ss.json("show", "pre_live_v1")["created_at"]
    rc, out, err = ss.run("restore", "--name", "pre_live_v1", "--yes")
    assert rc == 0, err
    restored = check_restore_block(out, "pre_live_v1", created_at, current=3, snapshot=5)
    assert set(restored) <= set(state_paths(entries)), restored
    assert {"state/positions.json", "state/orders.json", "state/pnl_history.json",
            "state/hash_chain.jsonl"} <= set(restored), restored
    after = tree(ss.root)
    for p in state_paths(entries):
        assert after[p] == entries[p], "%s differs from the snapshot after restore" % p
    assert after[".env"] == before[".env"], ".env was written by restore"
    others = {k: v for k, v in before.items() if k not in entries}
    assert {k: after.get(k) for k in others} == others, "files outside the snapshot changed"
    assert set(after) == set(before), tree_diff(before, after)
    assert no_tmp_leftovers(ss.root) == []
    assert os.listdir(os.path.join(ss.store, ".work")) == []


def test_restore_takes_a_pinned_safety_snapshot_that_itself_restores(changed):
    ss, entries, before = changed
    ss.ok("restore", "--name", "pre_live_v1", "--yes")
    safety = [n for n in ss.names() if SAFETY_RE.match(n)]
    assert len(safety) == 1, ss.names()
    assert re.fullmatch(r"pre_restore_\d{8}T\d{6}Z", safety[0]), safety
    doc = ss.json("show", safety[0])
    assert doc["pinned"] is True
    for f in doc["files"]:
        if f["path"] != ENV_MASKED:
            assert f["sha256"] == sha256(before[f["path"]]), f["path"]
    # Restoring the safety snapshot brings back exactly the pre-restore state
    # (one second later, so its own safety snapshot gets a new name).
    time.sleep(1.1)
    ss.ok("restore", "--name", safety[0], "--yes")
    after = tree(ss.root)
    assert after == before, tree_diff(before, after)
    assert len([n for n in ss.names() if SAFETY_RE.match(n)]) == 2


def test_pinned_safety_snapshot_refuses_plain_delete(changed):
    ss, _, _ = changed
    ss.ok("restore", "--name", "pre_live_v1", "--yes")
    safety = [n for n in ss.names() if SAFETY_RE.match(n)][0]
    rc, out, err = ss.run("delete", "--name", safety)
    assert rc == 1 and err.startswith("statesnap: ")
    assert safety in ss.names() and os.path.isfile(ss.archive(safety))


@pytest.mark.parametrize("answer", ["n\n", "\n", "", "no\n", "yess\n", "N\n"])
def test_prompt_anything_but_yes_aborts_and_writes_nothing(changed, answer):
    ss, _, before = changed
    store_before = tree(ss.store)
    rc, out, err = ss.run("restore", "--name", "pre_live_v1", input=answer)
    assert rc == 1, (out, err)
    assert "Proceed? [y/N]: " in out
    assert "Current positions: 3\nSnapshot positions: 5\n" in out
    assert "RESTORE COMPLETE" not in out
    assert tree(ss.root) == before, tree_diff(before, tree(ss.root))
    assert ss.names() == ["pre_live_v1"]
    assert tree(ss.store) == store_before, tree_diff(store_before, tree(ss.store))


@pytest.mark.parametrize("answer", ["y\n", "yes\n"])
def test_prompt_yes_restores(changed, answer):
    ss, entries, _ = changed
    rc, out, err = ss.run("restore", "--name", "pre_live_v1", input=answer)
    assert rc == 0, err
    assert "Proceed? [y/N]: " in out
    assert out.rstrip("\n").endswith("RESTORE COMPLETE\nRun /preflight to verify system state.")
    after = tree(ss.root)
    assert all(after[p] == entries[p] for p in state_paths(entries))


def test_positional_name_works_like_name_flag(changed):
    ss, entries, _ = changed
    ss.ok("restore", "pre_live_v1", "--yes")
    after = tree(ss.root)
    assert all(after[p] == entries[p] for p in state_paths(entries))


def test_dry_run_previews_and_writes_nothing(changed):
    ss, entries, before = changed
    store_before = tree(ss.store)
    rc, out, err = ss.run("restore", "--name", "pre_live_v1", "--dry-run")
    assert rc == 0, err
    assert "Current positions: 3\nSnapshot positions: 5\n" in out
    lines = out.splitlines()
    pos_line = [line for line in lines if "state/positions.json" in line]
    cfg_line = [line for line in lines if "config/config.json" in line]
    assert pos_line and "overwrite" in pos_line[0], out
    assert cfg_line and "unchanged" in cfg_line[0], out
    assert "RESTORE COMPLETE" not in out
    assert tree(ss.root) == before, tree_diff(before, tree(ss.root))
    assert tree(ss.store) == store_before, tree_diff(store_before, tree(ss.store))
    doc = ss.json("restore", "--name", "pre_live_v1", "--dry-run")
    assert doc["current_positions"] == 3 and doc["snapshot_positions"] == 5
    actions = {f["path"]: f["action"] for f in doc["files"]}
    assert actions["state/positions.json"] == "overwrite"
    assert actions["config/config.json"] == "unchanged"
    assert ".env" not in actions


def test_env_is_never_written_even_when_absent(changed):
    ss, entries, _ = changed
    os.remove(os.path.join(ss.root, ".env"))
    ss.ok("restore", "--name", "pre_live_v1", "--yes")
    assert not os.path.exists(os.path.join(ss.root, ".env"))
    assert not os.path.exists(os.path.join(ss.root, "env/.env.masked"))
    assert not os.path.exists(os.path.join(ss.root, "env"))


def test_kill_switch_present_now_is_kept_then_cleared_with_flag(changed):
    ss, entries, _ = changed
    assert "state/KILL_SWITCH" not in entries
    ks = os.path.join(ss.root, "state/KILL_SWITCH")
    with open(ks, "w") as f:
        f.write("engaged by operator at 2024-12-25T14:00:00Z\n")
    ss.ok("restore", "--name", "pre_live_v1", "--yes")
    with open(ks) as f:
        assert f.read() == "engaged by operator at 2024-12-25T14:00:00Z\n"
    after = tree(ss.root)
    assert all(after[p] == entries[p] for p in state_paths(entries))
    time.sleep(1.1)
    ss.ok("restore", "--name", "pre_live_v1", "--yes", "--clear-kill-switch")
    assert not os.path.exists(ks)
    # The safety snapshot taken before clearing it holds the switch.
    newest_safety = sorted(n for n in ss.names() if SAFETY_RE.match(n))[-1]
    assert "state/KILL_SWITCH" in read_zip(ss.archive(newest_safety))


def test_kill_switch_in_snapshot_is_restored(ss):
    ks = os.path.join(ss.root, "state/KILL_SWITCH")
    with open(ks, "w") as f:
        f.write("engaged by risk_limits\n")
    ss.create("with_ks")
    os.remove(ks)
    ss.ok("restore", "--name", "with_ks", "--yes")
    with open(ks) as f:
        assert f.read() == "engaged by risk_limits\n"


def test_only_restores_the_named_subset(changed):
    ss, entries, before = changed
    ss.ok("restore", "--name", "pre_live_v1", "--yes", "--only", "state/positions.json,config/config.json")
    after = tree(ss.root)
    assert after["state/positions.json"] == entries["state/positions.json"]
    for p in ("state/orders.json", "state/hash_chain.jsonl", "state/pnl_history.json"):
        assert after[p] == before[p], p
    assert len([n for n in ss.names() if SAFETY_RE.match(n)]) == 1


@pytest.mark.parametrize("only", ["state/nope.json", ".env", "env/.env.masked", "../x", "/etc/passwd", ""])
def test_only_with_a_path_not_restorable_is_refused(changed, only):
    ss, _, before = changed
    rc, out, err = ss.run("restore", "--name", "pre_live_v1", "--yes", "--only", only)
    assert rc == 2 and err.startswith("statesnap: ") and len(err.splitlines()) == 1, (rc, err)
    assert tree(ss.root) == before
    assert ss.names() == ["pre_live_v1"]


def test_restore_of_unknown_snapshot_fails_cleanly(ss):
    ss.create("one")
    before = tree(ss.root)
    rc, out, err = ss.run("restore", "--name", "nope", "--yes")
    assert rc == 1 and err.startswith("statesnap: ") and len(err.splitlines()) == 1, (rc, err)
    assert tree(ss.root) == before


def test_restore_json_report(changed):
    ss, entries, _ = changed
    doc = ss.json("restore", "--name", "pre_live_v1", "--yes")
    assert doc["snapshot"] == "pre_live_v1"
    assert SAFETY_RE.match(doc["safety_snapshot"]) and doc["safety_snapshot"] in ss.names()
    assert doc["next_step"]
    results = {f["path"]: f for f in doc["files"]}
    assert set(results) <= set(state_paths(entries))
    assert "state/positions.json" in results
    json.dumps(doc)


def test_file_recorded_absent_in_the_snapshot_is_removed(ss):
    """The snapshot says state/orders.json did not exist; after restoring it the
    state must not carry orders placed later (only KILL_SWITCH is kept, by
    rule). The preview says so, and the safety snapshot keeps the file."""
    orders = os.path.join(ss.root, "state/orders.json")
    with open(orders, "rb") as f:
        later = f.read()
    os.remove(orders)
    snap = ss.create("no_orders")
    assert "state/orders.json" in snap["absent"]
    with open(orders, "wb") as f:
        f.write(later)
    doc = ss.json("restore", "--name", "no_orders", "--dry-run")
    actions = {f["path"]: f["action"] for f in doc["files"]}
    assert actions.get("state/orders.json") == "delete", actions
    ss.ok("restore", "--name", "no_orders", "--yes")
    assert not os.path.exists(orders)
    safety = [n for n in ss.names() if SAFETY_RE.match(n)][0]
    assert read_zip(ss.archive(safety))["state/orders.json"] == later


def test_disaster_recovery_into_an_emptied_root(ss):
    """state/ and config/ gone (new machine, lost volume): restore recreates
    both directories and every file, byte for byte."""
    ss.create("dr")
    entries = read_zip(ss.archive("dr"))
    shutil.rmtree(os.path.join(ss.root, "state"))
    shutil.rmtree(os.path.join(ss.root, "config"))
    doc = ss.json("restore", "--name", "dr", "--dry-run")
    assert {f["path"]: f["action"] for f in doc["files"]}["state/positions.json"] == "create"
    # No positions file now: "unknown" (null) or 0 are both honest answers.
    assert doc["current_positions"] in (0, None) and doc["snapshot_positions"] == 5
    ss.ok("restore", "--name", "dr", "--yes")
    after = tree(ss.root)
    for p in state_paths(entries):
        assert after[p] == entries[p], p


def test_a_change_after_the_preview_is_refused_even_with_the_old_mtime(changed):
    """The prompt sits between the preview and the apply; the apply hashes the
    files again (or reuses the preview's hash only while size, inode, mtime
    and ctime all stand). Rewriting a file in place with the same size and
    putting its mtime back still moves its ctime: refused, nothing written."""
    import subprocess
    from snaplib import BIN
    ss, _, before = changed
    time.sleep(0.3)           # every file settled: the preview's hashes are remembered
    pos = os.path.join(ss.root, "state/positions.json")
    st = os.stat(pos)
    proc = subprocess.Popen([BIN, "--root", ss.root, "--store", ss.store, "restore", "pre_live_v1"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ss.tmp)
    seen = b""
    while not seen.endswith(b"Proceed? [y/N]: "):
        ch = proc.stdout.read(1)
        assert ch, "no prompt: %r" % seen
        seen += ch
    with open(pos, "r+b") as f:
        data = f.read()
        f.seek(0)
        f.write(data.replace(b"AAPL", b"AAPX", 1))
    os.utime(pos, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(pos).st_mtime_ns == st.st_mtime_ns and os.stat(pos).st_size == st.st_size
    out, err = proc.communicate(b"y\n", timeout=120)
    assert proc.returncode == 1, (out, err)
    assert b"changed since the preview" in err, err
    with open(pos, "rb") as f:
        assert f.read() == data.replace(b"AAPL", b"AAPX", 1)
    assert ss.names() == ["pre_live_v1"]
    assert no_tmp_leftovers(ss.root) == []


@pytest.mark.parametrize("level", [None, 1])
def test_safety_snapshot_is_stored_unless_a_level_is_configured(changed, level):
    """pre_restore_* is written without compression by default (the restore
    waits for it); safety_compression_level 1-9 deflates it. Either way it
    holds the state as it was and verifies."""
    import zipfile
    ss, _, before = changed
    args = []
    if level is not None:
        cfg = os.path.join(ss.tmp, "statesnap.json")
        with open(cfg, "w") as f:
            json.dump({"safety_compression_level": level}, f)
        args = ["--config", cfg]
    ss.ok(*args, "restore", "pre_live_v1", "--yes")
    safety = [n for n in ss.names() if SAFETY_RE.fullmatch(n)]
    assert len(safety) == 1, ss.names()
    with zipfile.ZipFile(ss.archive(safety[0])) as z:
        methods = {i.filename: i.compress_type for i in z.infolist()
                   if i.filename.startswith("state/") and i.file_size >= 64}
        assert methods, z.namelist()
        want = zipfile.ZIP_STORED if level is None else zipfile.ZIP_DEFLATED
        assert set(methods.values()) == {want}, methods
        for p, data in before.items():
            if p.startswith("state/") and data is not None:
                assert z.read(p) == data, p
    ss.ok("verify", safety[0])
