"""POST /api/v1/prune (retention with reasons, overrides checked like the config,
dry run) and GET /api/v1/audit, /api/v1/audit/verify (pages; tampering found)."""
import json
import os
import sqlite3

import pytest

import apilib


def names(reader):
    return [s["name"] for s in reader.get("/api/v1/snapshots", expect=200).json()["snapshots"]]


@pytest.fixture
def eight(writer, admin):
    """s0 (oldest) .. s7 (newest), s0 pinned."""
    for i in range(8):
        writer.create("s%d" % i)
    writer.patch("/api/v1/snapshots/s0", {"pin": True}, expect=200)
    return ["s%d" % i for i in range(8)]


def test_dry_run_lists_reasons_and_deletes_nothing(server, eight, admin, reader):
    before = apilib.store_listing(server.store)
    r = admin.post("/api/v1/prune", {"dry_run": True}, expect=200).json()
    assert r["dry_run"] is True
    kept = {k["name"]: k["reasons"] for k in r["kept"]}
    assert kept == {"s7": ["last-1"], "s6": ["last-2"], "s5": ["last-3"], "s4": ["last-4"],
                    "s3": ["last-5"], "s0": ["pinned"]}
    assert [x["name"] for x in r["removed"]] == ["s2", "s1"]
    assert r["policy"]["keep_last"] == 5
    assert apilib.store_listing(server.store) == before
    assert len(names(reader)) == 8
    # An empty body is {}: the configured policy, for real this time.
    r = admin.post("/api/v1/prune", expect=200).json()
    assert r["dry_run"] is False and sorted(x["name"] for x in r["removed"]) == ["s1", "s2"]
    assert sorted(names(reader)) == ["s0", "s3", "s4", "s5", "s6", "s7"]
    assert apilib.store_listing(server.store) == sorted(n + ".zip" for n in names(reader))
    # Nothing left to remove: the same report with an empty removed list.
    assert admin.post("/api/v1/prune", {}, expect=200).json()["removed"] == []


def test_overrides_apply_to_one_request_only(make_server):
    s = make_server(config={"retention": {"keep_last": 6}})
    w, a = s.api(s.token("writer")), s.api(s.token("admin"))
    for i in range(9):
        w.create("o%d" % i)
    r = a.post("/api/v1/prune", {"dry_run": True}, expect=200).json()
    assert r["policy"]["keep_last"] == 6 and len(r["removed"]) == 3
    r = a.post("/api/v1/prune", {"dry_run": True, "keep_last": 8, "expire_after": "30d"},
               expect=200).json()
    assert r["policy"]["keep_last"] == 8 and r["policy"]["expire_after"] == 30 * 86400
    assert [x["name"] for x in r["removed"]] == ["o0"]
    r = a.post("/api/v1/prune", {"dry_run": True, "keep_daily": 3}, expect=200).json()
    # All nine are from today: the newest is also daily-1, and only one day exists.
    assert {k["name"]: k["reasons"] for k in r["kept"]}["o8"] == ["last-1", "daily-1"]
    assert r["policy"]["keep_last"] == 6        # the config's again
    assert len(a.get("/api/v1/snapshots?limit=100", expect=200).json()["snapshots"]) == 9


@pytest.mark.parametrize("body, says", [
    ({"keep_last": 4}, "at least the 5"),
    ({"keep_last": 0}, "at least the 5"),
    ({"keep_last": 6, "max_count": 5}, "max_count"),
    ({"keep_daily": -1}, "keep_daily"),
    ({"keep_weekly": "3"}, "keep_weekly"),
    ({"keep_monthly": 1.5}, "keep_monthly"),
    ({"expire_after": "soon"}, "expire_after"),
    ({"expire_after": -5}, "expire_after"),
    ({"dry_run": "yes"}, "dry_run"),
    ({"keep": 5}, "unknown key"),
])
def test_bad_policy_is_400_and_changes_nothing(server, eight, admin, body, says):
    before = apilib.store_listing(server.store)
    r = admin.post("/api/v1/prune", body, expect=400).json()
    assert r["type"] == "urn:statesnap:problem:invalid-request" and says in r["detail"], r
    assert apilib.store_listing(server.store) == before


def test_prune_errors_and_roles(server, admin, writer, reader, anon):
    admin.post("/api/v1/prune", data=b"{not json", headers={"Content-Type": "application/json"},
               expect=400)
    admin.post("/api/v1/prune", data=b"[]", headers={"Content-Type": "application/json"},
               expect=400)
    admin.post("/api/v1/prune", data=b"{}", headers={"Content-Type": "text/plain"}, expect=415)
    admin.post("/api/v1/prune", data=b"{" + b" " * (1 << 20) + b"}",
               headers={"Content-Type": "application/json"}, expect=413)
    writer.post("/api/v1/prune", {"dry_run": True}, expect=403)
    reader.post("/api/v1/prune", {"dry_run": True}, expect=403)
    anon.post("/api/v1/prune", {"dry_run": True}, expect=401)
    r = admin.get("/api/v1/prune", expect=405)
    assert "POST" in r.headers["Allow"]
    # An empty store prunes to an empty report.
    r = admin.post("/api/v1/prune", expect=200).json()
    assert r["kept"] == [] and r["removed"] == []


# ---------------------------------------------------------------- audit

@pytest.fixture
def scripted(server, writer, admin):
    """create, create, pin, restore (preview + apply), delete, prune over the API."""
    writer.create("a")
    writer.create("b")
    writer.patch("/api/v1/snapshots/a", {"pin": True}, expect=200)
    apilib.make_state(server.root, "--advance", "2")
    prev = admin.post("/api/v1/snapshots/b/restore/preview", expect=200).json()
    admin.post("/api/v1/snapshots/b/restore", {"confirm_token": prev["confirm_token"]}, expect=200)
    admin.delete("/api/v1/snapshots/b", expect=200)
    for i in range(6):
        writer.create("c%d" % i)
    admin.post("/api/v1/prune", expect=200)
    return server


def all_entries(api, limit):
    out, after = [], 0
    while True:
        page = api.get("/api/v1/audit?after=%d&limit=%d" % (after, limit), expect=200).json()
        out += page["entries"]
        if page["next_after"] is None:
            return out
        assert page["next_after"] == page["entries"][-1]["seq"]
        after = page["next_after"]


def test_every_api_mutation_is_in_the_chain(scripted, reader):
    entries = all_entries(reader, 3)
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    ops = [(e["op"], e["snapshot"], e["result"], e["actor"]) for e in entries]
    assert ops[:3] == [("create", "a", "ok", "token:writer"), ("create", "b", "ok", "token:writer"),
                       ("pin", "a", "ok", "token:writer")]
    assert ops[3][0] == "create" and ops[3][1].startswith("pre_restore_") and ops[3][3] == "token:admin"
    assert ops[4] == ("restore", "b", "ok", "token:admin")
    assert entries[4]["details"]["safety_snapshot"] == ops[3][1]
    assert ops[5] == ("delete", "b", "ok", "token:admin")
    assert ops[-1][0] == "prune" and ops[-1][1] is None and ops[-1][3] == "token:admin"
    assert entries[-1]["details"]["removed"]
    assert entries[0]["prev_hash"] == "0" * 64
    assert all(entries[i]["prev_hash"] == entries[i - 1]["hash"] for i in range(1, len(entries)))
    # The API pages are the file's lines.
    with open(os.path.join(scripted.store, "audit.jsonl")) as f:
        lines = [json.loads(l) for l in f.read().splitlines()]
    assert [l["hash"] for l in lines] == [e["hash"] for e in entries]
    assert all_entries(reader, 1000) == entries
    r = reader.get("/api/v1/audit/verify", expect=200).json()
    assert r == {"ok": True, "entries": len(entries), "catalog": {"ok": True, "first_bad": None},
                 "file": {"ok": True, "first_bad": None, "entries": len(entries), "behind": 0}}
    # Past the end: an empty last page.
    r = reader.get("/api/v1/audit?after=%d" % len(entries), expect=200).json()
    assert r == {"entries": [], "next_after": None, "last_seq": len(entries)}
    # A full page that ends at the newest entry is the last one too.
    r = reader.get("/api/v1/audit?after=%d&limit=2" % (len(entries) - 2), expect=200).json()
    assert [e["seq"] for e in r["entries"]] == [len(entries) - 1, len(entries)]
    assert r["next_after"] is None


def test_audit_query_errors_and_roles(server, reader, anon):
    for q in ("after=-1", "after=x", "after=", "limit=0", "limit=1001", "limit=ten", "after=1e3"):
        r = reader.get("/api/v1/audit?" + q, expect=400).json()
        assert r["type"] == "urn:statesnap:problem:invalid-request"
    anon.get("/api/v1/audit", expect=401)
    anon.get("/api/v1/audit/verify", expect=401)
    reader.post("/api/v1/audit", expect=405)
    reader.post("/api/v1/audit/verify", expect=405)
    # An empty chain is intact.
    assert reader.get("/api/v1/audit", expect=200).json() == {"entries": [], "next_after": None,
                                                               "last_seq": 0}
    assert reader.get("/api/v1/audit/verify", expect=200).json()["ok"] is True


@pytest.mark.parametrize("how", ["edit", "delete", "swap"])
def test_tampered_file_is_422_naming_the_line(scripted, reader, how):
    path = os.path.join(scripted.store, "audit.jsonl")
    with open(path) as f:
        lines = f.read().splitlines()
    if how == "edit":
        lines[2] = lines[2].replace('"pin"', '"unpin"')
        want = 3
    elif how == "delete":
        del lines[1]
        want = 2
    else:
        lines[1], lines[2] = lines[2], lines[1]
        want = 2
    with open(path, "w") as f:
        f.write("".join(l + "\n" for l in lines))
    r = reader.get("/api/v1/audit/verify", expect=422).json()
    assert r["type"] == "urn:statesnap:problem:verification-failed"
    rep = r["report"]
    assert rep["ok"] is False and rep["catalog"]["ok"] is True and rep["file"]["ok"] is False
    assert rep["file"]["first_bad"]["line"] == want
    assert "line %d" % want in r["detail"]


@pytest.mark.parametrize("how", ["edit", "delete"])
def test_tampered_catalog_is_422_naming_the_entry(scripted, reader, how):
    db = sqlite3.connect(os.path.join(scripted.store, "catalog.db"))
    if how == "edit":
        db.execute("UPDATE audit SET actor = 'token:someone-else' WHERE seq = 4")
        want = 4
    else:
        db.execute("DELETE FROM audit WHERE seq = 2")
        want = 3
    db.commit()
    db.close()
    r = reader.get("/api/v1/audit/verify", expect=422).json()
    rep = r["report"]
    assert rep["ok"] is False and rep["catalog"]["ok"] is False
    assert rep["catalog"]["first_bad"]["seq"] == want, rep
