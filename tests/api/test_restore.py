"""Restore: preview -> confirm token -> apply; a stale token is 409 and writes nothing."""
import os

import apilib


def test_preview_then_apply_restores_every_file(server, writer, admin, reader):
    snap = writer.create("good")
    before_count = reader.get("/api/v1/snapshots", expect=200).json()["total_count"]
    apilib.make_state(server.root, "--advance", "7")
    prev = admin.post("/api/v1/snapshots/good/restore/preview", expect=200).json()
    assert prev["snapshot"] == "good" and prev["confirm_token"]
    assert prev["current_positions"] is not None and prev["snapshot_positions"] == snap["positions_count"]
    actions = {f["path"]: f["action"] for f in prev["files"]}
    assert actions["state/positions.json"] == "overwrite"
    assert actions["config/config.json"] == "unchanged"
    rep = admin.post("/api/v1/snapshots/good/restore", {"confirm_token": prev["confirm_token"]},
                     expect=200).json()
    assert rep["snapshot"] == "good" and rep["safety_snapshot"].startswith("pre_restore_")
    assert rep["next_step"] == "Run /preflight to verify system state."
    assert rep["files"] and all(f["result"] == "OK" for f in rep["files"])
    # Every captured file (the .env excepted: it is never written) equals the snapshot's.
    for f in snap["files"]:
        if f["path"].startswith("env/"):
            continue
        assert apilib.sha256_file(os.path.join(server.root, f["path"])) == f["sha256"], f["path"]
    after = reader.get("/api/v1/snapshots", expect=200).json()
    assert after["total_count"] == before_count + 1
    safety = reader.get("/api/v1/snapshots/" + rep["safety_snapshot"], expect=200).json()
    assert safety["pinned"] is True


def test_stale_confirm_token_is_409_and_nothing_is_written(server, writer, admin, reader):
    writer.create("base")
    apilib.make_state(server.root, "--advance", "3")
    prev = admin.post("/api/v1/snapshots/base/restore/preview", expect=200).json()
    # The state changes after the preview: the token no longer describes it.
    apilib.make_state(server.root, "--advance", "2")
    before = apilib.tree_hashes(server.root)
    count = reader.get("/api/v1/snapshots", expect=200).json()["total_count"]
    r = admin.post("/api/v1/snapshots/base/restore", {"confirm_token": prev["confirm_token"]},
                   expect=409)
    assert r.json()["type"] == "urn:statesnap:problem:conflict"
    assert apilib.tree_hashes(server.root) == before
    assert reader.get("/api/v1/snapshots", expect=200).json()["total_count"] == count


def test_token_for_other_options_is_409(server, writer, admin):
    writer.create("opt")
    apilib.make_state(server.root, "--advance", "3")
    prev = admin.post("/api/v1/snapshots/opt/restore/preview", expect=200).json()
    before = apilib.tree_hashes(server.root)
    admin.post("/api/v1/snapshots/opt/restore",
               {"confirm_token": prev["confirm_token"], "only": ["state/positions.json"]}, expect=409)
    assert apilib.tree_hashes(server.root) == before


def test_partial_restore_only_touches_listed_files(server, writer, admin):
    snap = writer.create("part")
    apilib.make_state(server.root, "--advance", "4")
    orders_now = apilib.sha256_file(os.path.join(server.root, "state/orders.json"))
    body = {"only": ["state/positions.json"]}
    prev = admin.post("/api/v1/snapshots/part/restore/preview", body, expect=200).json()
    assert [f["path"] for f in prev["files"]] == ["state/positions.json"]
    rep = admin.post("/api/v1/snapshots/part/restore", dict(body, confirm_token=prev["confirm_token"]),
                     expect=200).json()
    assert [f["path"] for f in rep["files"]] == ["state/positions.json"]
    want = [f["sha256"] for f in snap["files"] if f["path"] == "state/positions.json"][0]
    assert apilib.sha256_file(os.path.join(server.root, "state/positions.json")) == want
    assert apilib.sha256_file(os.path.join(server.root, "state/orders.json")) == orders_now


def test_kill_switch_is_kept_unless_cleared(server, writer, admin):
    writer.create("nokill")
    ks = os.path.join(server.root, "state/KILL_SWITCH")
    with open(ks, "w") as f:
        f.write("engaged\n")
    prev = admin.post("/api/v1/snapshots/nokill/restore/preview", expect=200).json()
    assert prev["kill_switch"] == "kept"
    rep = admin.post("/api/v1/snapshots/nokill/restore", {"confirm_token": prev["confirm_token"]},
                     expect=200).json()
    assert rep["kill_switch"] == "kept" and os.path.exists(ks)
    body = {"clear_kill_switch": True}
    prev = admin.post("/api/v1/snapshots/nokill/restore/preview", body, expect=200).json()
    assert prev["kill_switch"] == "cleared"
    admin.post("/api/v1/snapshots/nokill/restore", dict(body, confirm_token=prev["confirm_token"]),
               expect=200)
    assert not os.path.exists(ks)


def test_restore_input_errors(writer, admin):
    writer.create("x")
    admin.post("/api/v1/snapshots/missing/restore/preview", expect=404)
    admin.post("/api/v1/snapshots/x/restore", {}, expect=400)
    admin.post("/api/v1/snapshots/x/restore", {"confirm_token": 5}, expect=400)
    admin.post("/api/v1/snapshots/x/restore", {"confirm_token": "t.1.abc", "extra": 1}, expect=400)
    admin.post("/api/v1/snapshots/x/restore/preview", {"only": "state/positions.json"}, expect=400)
    admin.post("/api/v1/snapshots/x/restore/preview", {"clear_kill_switch": "yes"}, expect=400)
    admin.post("/api/v1/snapshots/x/restore", {"confirm_token": "t.1.forged"}, expect=409)
