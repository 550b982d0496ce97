"""POST /api/v1/snapshots/import: a good archive is adopted; a hostile or
corrupt one is rejected whole and leaves the store as it was."""
import io
import json
import os
import warnings
import zipfile

import pytest

import apilib

ZIP = {"Content-Type": "application/zip"}


def export(api, name):
    return api.get("/api/v1/snapshots/%s/archive" % name, expect=200).content


def rezip(data, change=None, extra=()):
    """Copy archive bytes, passing each (name, bytes) through change and adding extra entries."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            body = zin.read(info.filename)
            if change:
                body = change(info.filename, body)
            zout.writestr(info.filename, body)
        for name, body in extra:
            zi = zipfile.ZipInfo("x")
            zi.filename = name   # bypass zipfile's own clean-up of hostile names
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")   # a duplicate entry is the point
                zout.writestr(zi, body)
    return out.getvalue()


def uploads_left(server):
    work = os.path.join(server.store, ".work")
    return [x for x in os.listdir(work) if x.startswith("upload-")] if os.path.isdir(work) else []


def test_import_round_trip(writer, admin, reader, server):
    snap = writer.create("moved", labels={"from": "host-a"})
    data = export(reader, "moved")
    admin.delete("/api/v1/snapshots/moved", expect=200)
    got = admin.post("/api/v1/snapshots/import", data=data, headers=ZIP, expect=201).json()
    assert got["name"] == "moved" and got["archive_sha256"] == snap["archive_sha256"]
    assert got["labels"] == {"from": "host-a"}
    assert reader.post("/api/v1/snapshots/moved/verify", expect=200).json()["ok"] is True
    admin.post("/api/v1/snapshots/import", data=data, headers=ZIP, expect=409)
    assert uploads_left(server) == []


def _bad_hash(name, body):
    return body.replace(b"long", b"shrt", 1) if name == "state/positions.json" else body


def _rename(newname):
    def change(name, body):
        if name == "manifest.json":
            m = json.loads(body)
            m["name"] = newname
            return json.dumps(m).encode()
        return body
    return change


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "bad_hash", "not_a_zip", "truncated", "duplicate"])
def test_hostile_archive_is_rejected_whole(kind, writer, admin, reader, server):
    writer.create("src")
    data = export(reader, "src")
    rename = _rename("hostile")
    if kind == "dotdot":
        bad = rezip(data, rename, extra=[("../escape.json", b"{}")])
    elif kind == "absolute":
        bad = rezip(data, rename, extra=[("/tmp/statesnap-abs.json", b"{}")])
    elif kind == "bad_hash":
        bad = rezip(data, lambda n, b: _bad_hash(n, rename(n, b)))
    elif kind == "duplicate":
        bad = rezip(data, rename, extra=[("state/positions.json", b"{}")])
    elif kind == "truncated":
        bad = rezip(data, rename)[: len(data) // 2]
    else:
        bad = b"this is not a zip archive at all" * 10
    before = apilib.store_listing(server.store)
    r = admin.post("/api/v1/snapshots/import", data=bad, headers=ZIP)
    assert r.status_code in (400, 422), r.text
    assert r.headers["Content-Type"].startswith("application/problem+json")
    # The server's temporary upload path is not the client's business.
    assert ".work" not in r.json()["detail"] and "upload-" not in r.json()["detail"], r.json()
    if kind in ("not_a_zip", "truncated", "duplicate"):
        assert r.json()["detail"].startswith("the uploaded archive is not a readable zip archive"), r.json()
    if kind == "duplicate":
        # libzip's own words ("File already exists") would read as a clash in the store.
        assert "duplicate entry" in r.json()["detail"], r.json()
        assert "already exists" not in r.json()["detail"], r.json()
    assert apilib.store_listing(server.store) == before
    assert reader.get("/api/v1/snapshots", expect=200).json()["total_count"] == 1
    reader.get("/api/v1/snapshots/hostile", expect=404)
    assert uploads_left(server) == []
    assert not os.path.exists(os.path.join(os.path.dirname(server.store), "escape.json"))


def test_an_archive_rezipped_by_python_imports(writer, admin, reader, server):
    """Python's zipfile writes a plain name's mode as 0600 with no file type:
    a regular file as unzip takes it, so the archive is the same snapshot."""
    writer.create("rezipped")
    data = rezip(export(reader, "rezipped"))
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert {i.external_attr >> 16 for i in z.infolist()} == {0o600}
    admin.delete("/api/v1/snapshots/rezipped", expect=200)
    got = admin.post("/api/v1/snapshots/import", data=data, headers=ZIP, expect=201).json()
    assert got["name"] == "rezipped" and got["signature"]["state"] == "signed", got
    assert reader.post("/api/v1/snapshots/rezipped/verify", expect=200).json()["ok"] is True
    assert uploads_left(server) == []


def test_import_needs_application_zip(admin, writer, reader):
    writer.create("z")
    data = export(reader, "z")
    admin.post("/api/v1/snapshots/import", data=data, headers={"Content-Type": "application/json"},
               expect=415)
    admin.post("/api/v1/snapshots/import", data=data, headers={"Content-Type": "text/plain"}, expect=415)


def test_import_over_upload_limit_is_413(make_server):
    s = make_server(config={"max_upload_bytes": 4096})
    api = s.api(s.token("admin"))
    big = os.urandom(10000)
    api.post("/api/v1/snapshots/import", data=big, headers=ZIP, expect=413)
    api.post("/api/v1/snapshots/import", data=iter([big[:5000], big[5000:]]), headers=ZIP, expect=413)
    assert uploads_left(s) == []


def _unsigned(data):
    """The archive without manifest.json.sig: every hash still consistent."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename != "manifest.json.sig":
                zout.writestr(info, zin.read(info.filename))   # the same entry, mode included
    return out.getvalue()


def test_an_unsigned_import_is_422_unless_allow_unsigned(writer, admin, reader, anon, server):
    writer.create("moved")
    data = export(reader, "moved")
    assert reader.get("/api/v1/snapshots/moved", expect=200).json()["signature"]["state"] == "signed"
    admin.delete("/api/v1/snapshots/moved", expect=200)
    plain = _unsigned(data)
    r = admin.post("/api/v1/snapshots/import", data=plain, headers=ZIP, expect=422)
    assert "not signed" in r.json()["detail"] and "allow_unsigned" in r.json()["detail"], r.json()
    reader.get("/api/v1/snapshots/moved", expect=404)
    assert uploads_left(server) == []
    admin.post("/api/v1/snapshots/import?allow_unsigned=maybe", data=plain, headers=ZIP, expect=400)
    got = admin.post("/api/v1/snapshots/import?allow_unsigned=true", data=plain, headers=ZIP,
                     expect=201).json()
    assert got["signature"] == {"state": "unsigned", "key_id": None}, got
    listed = {s["name"]: s for s in reader.get("/api/v1/snapshots", expect=200).json()["snapshots"]}
    assert listed["moved"]["signature"]["state"] == "unsigned"
    text = anon.get("/metrics", expect=200).text
    assert 'statesnap_snapshots_not_signed{signature="unsigned"} 1' in text, text
    assert 'statesnap_snapshots_not_signed{signature="untrusted"} 0' in text
    # The signed original is welcome as it is.
    admin.delete("/api/v1/snapshots/moved", expect=200)
    got = admin.post("/api/v1/snapshots/import", data=data, headers=ZIP, expect=201).json()
    assert got["signature"]["state"] == "signed"
    assert 'statesnap_snapshots_not_signed{signature="unsigned"} 0' in anon.get("/metrics").text
