"""prune (retention with reasons, never fewer than 5, pinned survive, dry run)
and the audit chain (every mutation logged; tampering found and located)."""
import json
import os
import sqlite3

import pytest

from snaplib import tree

DAY = 86400
T0 = 1735646400  # 2024-12-31T12:00:00Z


@pytest.fixture
def history(ss):
    """Ten daily snapshots d9 (oldest) .. d0 (newest), created on a pinned clock."""
    for d in range(9, -1, -1):
        ss.create("d%d" % d, now=T0 - d * DAY)
    return ss


def test_dry_run_lists_reasons_and_deletes_nothing(history):
    before = tree(history.store)
    r = history.json("prune", "--dry-run", "--keep-daily", "7", now=T0)
    assert r["dry_run"] is True
    reasons = {k["name"]: k["reasons"] for k in r["kept"]}
    assert reasons["d0"] == ["last-1", "daily-1"]
    assert reasons["d4"] == ["last-5", "daily-5"]
    assert reasons["d6"] == ["daily-7"]
    assert sorted(x["name"] for x in r["removed"]) == ["d7", "d8", "d9"]
    assert tree(history.store) == before


def test_prune_removes_and_pinned_survive(history):
    history.ok("pin", "d8")
    r = history.json("prune", now=T0)
    assert sorted(x["name"] for x in r["removed"]) == ["d5", "d6", "d7", "d9"]
    assert sorted(history.names()) == ["d0", "d1", "d2", "d3", "d4", "d8"]
    assert history.store_zips() == sorted(history.names())
    kept = {k["name"]: k["reasons"] for k in r["kept"]}
    assert kept["d8"] == ["pinned"]
    rc, out, err = history.run("verify", "--all")
    assert rc == 0, out + err


def test_keep_last_below_five_is_refused(history):
    before = tree(history.store)
    rc, out, err = history.run("prune", "--keep-last", "4")
    assert rc == 2 and err.startswith("statesnap: ") and "5" in err
    assert tree(history.store) == before
    cfg = os.path.join(history.tmp, "cfg.json")
    with open(cfg, "w") as f:
        json.dump({"retention": {"keep_last": 2}}, f)
    rc, out, err = history.run("--config", cfg, "prune")
    assert rc == 2 and "keep_last" in err
    assert tree(history.store) == before


def test_prune_after_create_from_config(history):
    cfg = os.path.join(history.tmp, "cfg.json")
    with open(cfg, "w") as f:
        json.dump({"retention": {"keep_last": 5}, "prune_after_create": True}, f)
    snap = history.json("--config", cfg, "create", "--name", "fresh", now=T0 + 60)
    assert sorted(snap["pruned"]) == ["d4", "d5", "d6", "d7", "d8", "d9"]
    assert sorted(history.names()) == ["d0", "d1", "d2", "d3", "fresh"]


def audit_lines(ss):
    with open(os.path.join(ss.store, "audit.jsonl")) as f:
        return f.read().splitlines()


def write_lines(ss, lines):
    with open(os.path.join(ss.store, "audit.jsonl"), "w") as f:
        f.write("".join(l + "\n" for l in lines))


@pytest.fixture
def scripted(ss):
    """create, create, pin, restore (preview+apply), delete, prune: every mutation."""
    ss.create("a")
    ss.create("b")
    ss.ok("pin", "a")
    ss.ok("restore", "b", "--yes")
    ss.ok("delete", "b")
    ss.ok("prune")
    return ss


def test_every_mutation_is_logged_and_chain_verifies(scripted):
    entries = [json.loads(l) for l in audit_lines(scripted)]
    ops = [(e["op"], e["snapshot"], e["result"]) for e in entries]
    assert ops[:3] == [("create", "a", "ok"), ("create", "b", "ok"), ("pin", "a", "ok")]
    assert ("create", entries[3]["snapshot"], "ok") == ops[3] and ops[3][1].startswith("pre_restore_")
    assert ops[4] == ("restore", "b", "ok")
    assert ops[5] == ("delete", "b", "ok")
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    assert entries[0]["prev_hash"] == "0" * 64
    assert all(entries[i]["prev_hash"] == entries[i - 1]["hash"] for i in range(1, len(entries)))
    assert entries[4]["details"]["safety_snapshot"] == ops[3][1]
    assert all(e["actor"].startswith("cli:") for e in entries)
    r = scripted.json("audit", "verify")
    assert r["ok"] is True and r["entries"] == len(entries)
    listed = scripted.json("audit", "--limit", "2")
    assert [e["seq"] for e in listed["entries"]] == [1, 2] and listed["next_after"] == 2


@pytest.mark.parametrize("how", ["edit", "delete", "swap", "drop_last"])
def test_tampering_with_the_file_is_found(scripted, how):
    lines = audit_lines(scripted)
    if how == "edit":
        lines[2] = lines[2].replace('"pin"', '"unpin"')
        want_line = 3
    elif how == "delete":
        del lines[1]
        want_line = 2
    elif how == "swap":
        lines[1], lines[2] = lines[2], lines[1]
        want_line = 2
    else:
        lines = lines[:-1]
        want_line = len(lines) + 1
    write_lines(scripted, lines)
    rc, out, err = scripted.run("--json", "audit", "verify")
    assert rc == 1, out + err
    r = json.loads(out)
    assert r["ok"] is False and r["catalog"]["ok"] is True
    assert r["file"]["first_bad"]["line"] == want_line, r
    assert "line %d" % want_line in err


@pytest.mark.parametrize("how", ["edit", "delete", "swap"])
def test_tampering_with_the_catalog_is_found(scripted, how):
    db = sqlite3.connect(os.path.join(scripted.store, "catalog.db"))
    if how == "edit":
        db.execute("UPDATE audit SET result = 'error' WHERE seq = 3")
    elif how == "delete":
        db.execute("DELETE FROM audit WHERE seq = 2")
    else:
        a = db.execute("SELECT op, snapshot, details FROM audit WHERE seq = 2").fetchone()
        b = db.execute("SELECT op, snapshot, details FROM audit WHERE seq = 3").fetchone()
        db.execute("UPDATE audit SET op=?, snapshot=?, details=? WHERE seq = 2", b)
        db.execute("UPDATE audit SET op=?, snapshot=?, details=? WHERE seq = 3", a)
    db.commit()
    db.close()
    rc, out, err = scripted.run("--json", "audit", "verify")
    assert rc == 1, out + err
    r = json.loads(out)
    assert r["ok"] is False and r["catalog"]["ok"] is False
    want = {"edit": 3, "delete": 3, "swap": 2}[how]
    assert r["catalog"]["first_bad"]["seq"] == want, r
