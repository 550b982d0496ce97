"""Snapshots resource: create, list, latest, show, archive, verify, PATCH, DELETE."""
import io
import os
import zipfile

import apilib


def test_create_returns_201_with_files_and_labels(writer, server):
    snap = writer.create("pre_live_v1", labels={"reason": "pre-deploy", "pipeline": "123"}, pin=True)
    assert snap["name"] == "pre_live_v1"
    assert snap["labels"] == {"reason": "pre-deploy", "pipeline": "123"}
    assert snap["pinned"] is True
    assert snap["created_by"] == "token:writer"
    paths = {f["path"] for f in snap["files"]}
    assert "state/positions.json" in paths and "env/.env.masked" in paths
    assert os.path.isfile(os.path.join(server.store, "pre_live_v1.zip"))


def test_create_without_body_gets_a_generated_name(writer):
    r = writer.post("/api/v1/snapshots", expect=201)
    assert r.json()["name"].startswith("snap_")


def test_create_duplicate_name_is_409_and_changes_nothing(writer, server):
    writer.create("dup")
    before = apilib.store_listing(server.store)
    r = writer.post("/api/v1/snapshots", {"name": "dup"}, expect=409)
    assert r.json()["type"] == "urn:statesnap:problem:conflict"
    assert apilib.store_listing(server.store) == before


def test_create_bad_name_is_400(writer):
    for bad in ("-leading-dash", "has space", "x" * 65, "a/b"):
        writer.post("/api/v1/snapshots", {"name": bad}, expect=400)


def test_list_newest_first_with_totals_filters_and_pages(writer, reader):
    for i in range(3):
        writer.create("s%d" % i, labels={"reason": "ci" if i != 1 else "manual"})
    page = reader.get("/api/v1/snapshots", expect=200).json()
    assert [s["name"] for s in page["snapshots"]] == ["s2", "s1", "s0"]
    assert page["total_count"] == 3 and page["total_bytes"] == sum(s["size"] for s in page["snapshots"])
    assert page["next_cursor"] is None
    first = reader.get("/api/v1/snapshots?limit=2", expect=200).json()
    assert [s["name"] for s in first["snapshots"]] == ["s2", "s1"] and first["next_cursor"]
    second = reader.get("/api/v1/snapshots", params={"limit": 2, "cursor": first["next_cursor"]},
                        expect=200).json()
    assert [s["name"] for s in second["snapshots"]] == ["s0"]
    manual = reader.get("/api/v1/snapshots?label=reason=manual", expect=200).json()
    assert [s["name"] for s in manual["snapshots"]] == ["s1"]
    pre = reader.get("/api/v1/snapshots?prefix=s0", expect=200).json()
    assert [s["name"] for s in pre["snapshots"]] == ["s0"]
    reader.get("/api/v1/snapshots?limit=0", expect=400)
    reader.get("/api/v1/snapshots?limit=abc", expect=400)
    reader.get("/api/v1/snapshots?label=novalue", expect=400)
    # A prefix no name could start with is a mistake to be told about, not an empty page.
    for bad in ("a%2Fb", "a%20b", "_s", "-s", "%FF", "s%C3%A9", "a" * 65):
        r = reader.get("/api/v1/snapshots?prefix=" + bad, expect=400)
        assert r.headers["Content-Type"].startswith("application/problem+json"), bad
        assert "prefix" in r.json()["detail"], (bad, r.json())
    assert len(reader.get("/api/v1/snapshots?prefix=", expect=200).json()["snapshots"]) == 3
    assert reader.get("/api/v1/snapshots?prefix=" + "s" * 64, expect=200).json()["snapshots"] == []


def test_latest_has_age_and_404_when_empty(writer, reader):
    r = reader.get("/api/v1/snapshots/latest", expect=404)
    assert r.json()["status"] == 404
    writer.create("a")
    writer.create("b")
    latest = reader.get("/api/v1/snapshots/latest", expect=200).json()
    assert latest["name"] == "b" and 0 <= latest["age_seconds"] < 60


def test_head_latest_has_no_body(writer, reader):
    writer.create("a")
    r = reader.request("HEAD", "/api/v1/snapshots/latest", expect=200)
    assert r.content == b""


def test_show_has_files_and_manifest(writer, reader):
    writer.create("shown", labels={"k": "v"})
    snap = reader.get("/api/v1/snapshots/shown", expect=200).json()
    assert snap["manifest"]["name"] == "shown" and snap["manifest"]["format"] == 1
    assert snap["manifest"]["labels"] == {"k": "v"}
    assert {f["path"] for f in snap["files"]} == {f["path"] for f in snap["manifest"]["files"]}
    reader.get("/api/v1/snapshots/missing", expect=404)
    reader.get("/api/v1/snapshots/-bad", expect=400)


def test_archive_download_with_etag(writer, reader, server):
    snap = writer.create("dl")
    r = reader.get("/api/v1/snapshots/dl/archive", expect=200)
    assert r.headers["Content-Type"] == "application/zip"
    assert r.headers["ETag"] == '"%s"' % snap["archive_sha256"]
    assert 'filename="dl.zip"' in r.headers["Content-Disposition"]
    assert apilib.sha256(r.content) == snap["archive_sha256"]
    names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    assert "manifest.json" in names and "SHA256SUMS" in names
    nm = reader.get("/api/v1/snapshots/dl/archive", headers={"If-None-Match": r.headers["ETag"]},
                    expect=304)
    assert nm.content == b""
    reader.get("/api/v1/snapshots/nope/archive", expect=404)


def test_verify_good_and_tampered(writer, reader, server):
    writer.create("v1")
    rep = reader.post("/api/v1/snapshots/v1/verify", expect=200).json()
    assert rep["ok"] is True and rep["errors"] == [] and rep["checked_files"] > 0
    # Rewrite one entry of the archive behind the server's back.
    path = os.path.join(server.store, "v1.zip")
    with zipfile.ZipFile(path) as z:
        entries = [(i, z.read(i.filename)) for i in z.infolist()]
    with zipfile.ZipFile(path + ".tmp", "w", zipfile.ZIP_DEFLATED) as z:
        for info, data in entries:
            if info.filename == "state/positions.json":
                data = data.replace(b"long", b"shrt", 1)
            z.writestr(info, data)
    os.replace(path + ".tmp", path)
    bad = reader.post("/api/v1/snapshots/v1/verify", expect=422).json()
    assert bad["type"] == "urn:statesnap:problem:verification-failed"
    assert bad["report"]["ok"] is False and bad["report"]["errors"]
    reader.post("/api/v1/snapshots/none/verify", expect=404)


def test_patch_pin_and_labels(writer, admin):
    writer.create("p")
    snap = writer.patch("/api/v1/snapshots/p", {"pin": True, "labels": {"keep": "yes"}}, expect=200).json()
    assert snap["pinned"] is True and snap["labels"] == {"keep": "yes"}
    r = admin.delete("/api/v1/snapshots/p", expect=409)
    assert r.json()["type"] == "urn:statesnap:problem:pinned"
    # Unpinning is admin's (test_roles_pin.py has the whole table).
    writer.patch("/api/v1/snapshots/p", {"pin": False}, expect=403)
    snap = admin.patch("/api/v1/snapshots/p", {"pin": False}, expect=200).json()
    assert snap["pinned"] is False and snap["labels"] == {"keep": "yes"}
    writer.patch("/api/v1/snapshots/p", {}, expect=400)
    writer.patch("/api/v1/snapshots/p", {"pin": "yes"}, expect=400)
    writer.patch("/api/v1/snapshots/p", {"labels": {"a": 1}}, expect=400)
    writer.patch("/api/v1/snapshots/none", {"pin": True}, expect=404)


def test_delete_and_force_for_pinned(writer, admin, reader, server):
    writer.create("gone")
    writer.create("pinned", pin=True)
    # offsite_lock: the Object Lock still on its offsite copy (none here: no offsite section).
    assert admin.delete("/api/v1/snapshots/gone", expect=200).json() == {"name": "gone", "deleted": True,
                                                                         "offsite_lock": None}
    assert not os.path.exists(os.path.join(server.store, "gone.zip"))
    reader.get("/api/v1/snapshots/gone", expect=404)
    admin.delete("/api/v1/snapshots/gone", expect=404)
    admin.delete("/api/v1/snapshots/pinned", expect=409)
    admin.delete("/api/v1/snapshots/pinned?force=maybe", expect=400)
    admin.delete("/api/v1/snapshots/pinned?force=true", expect=200)
    assert reader.get("/api/v1/snapshots", expect=200).json()["total_count"] == 0


def test_location_is_store_relative(writer, reader, admin, server):
    """No response hands a read token the server's filesystem layout: an
    archive's location is its file name inside the store (issue #16, item 13)."""
    created = writer.create("where", pin=True)
    docs = [created,
            reader.get("/api/v1/snapshots/where", expect=200).json(),
            reader.get("/api/v1/snapshots/latest", expect=200).json(),
            admin.patch("/api/v1/snapshots/where", {"labels": {"a": "b"}}, expect=200).json()]
    docs += reader.get("/api/v1/snapshots", expect=200).json()["snapshots"]
    for d in docs:
        assert d["location"] == "where.zip", d["location"]
        assert os.path.isfile(os.path.join(server.store, d["location"]))
    for r in (reader.get("/api/v1/snapshots?limit=1000", expect=200),
              reader.get("/api/v1/snapshots/where", expect=200)):
        assert server.store not in r.text and os.path.realpath(server.store) not in r.text
    # The CLI, which runs beside the store, still says where the file is.
    rc, out, err = server.cli("show", "where")
    assert rc == 0, err
    assert "Location: %s" % os.path.join(server.store, "where.zip") in out, out


def test_create_if_changed_is_200_skipped_only_when_nothing_changed(writer, server):
    first = writer.post("/api/v1/snapshots", {"name": "first", "if_changed": True}, expect=201).json()
    assert first["name"] == "first" and "skipped" not in first
    before = apilib.store_listing(server.store)
    r = writer.post("/api/v1/snapshots", {"name": "second", "if_changed": True}, expect=200)
    doc = r.json()
    assert doc["skipped"] is True and doc["name"] == "first", doc
    assert {f["path"] for f in doc["files"]} == {f["path"] for f in first["files"]}
    assert apilib.store_listing(server.store) == before
    # Without the flag a create always writes.
    writer.post("/api/v1/snapshots", {"name": "third"}, expect=201)
    with open(os.path.join(server.root, "state", "positions.json"), "a") as f:
        f.write(" ")
    later = writer.post("/api/v1/snapshots", {"name": "fourth", "if_changed": True}, expect=201).json()
    assert later["name"] == "fourth"


def test_create_if_changed_must_be_a_boolean(writer, server):
    before = apilib.store_listing(server.store)
    for bad in ("yes", 1, None):
        r = writer.post("/api/v1/snapshots", {"if_changed": bad}, expect=400)
        assert "if_changed" in r.json()["detail"]
    assert apilib.store_listing(server.store) == before
