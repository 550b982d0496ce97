"""Issue #16 items 7, 14, 15 (API): an imported created_at in the future, the
reserved name "latest", and labels with C1 controls or bidi overrides."""
import os
import sys

import apilib

sys.path.insert(0, os.path.join(apilib.REPO, "tests", "fixtures"))
import ziptools  # noqa: E402

ZIP = {"Content-Type": "application/zip"}


def export(reader, name):
    return reader.get("/api/v1/snapshots/%s/archive" % name, expect=200).content


def test_import_with_created_at_in_2099_is_422_and_latest_stays(writer, admin, reader, anon):
    writer.create("src")
    data = export(reader, "src")
    bad = ziptools.rebuild(data, name="future", update={"created_at": "2099-01-01T00:00:00Z"})
    r = admin.post("/api/v1/snapshots/import", data=bad, headers=ZIP, expect=422)
    assert "future" in r.json()["detail"], r.json()
    assert reader.get("/api/v1/snapshots/latest", expect=200).json()["name"] == "src"
    reader.get("/api/v1/snapshots/future", expect=404)


def test_latest_is_reserved(writer, admin, reader):
    r = writer.post("/api/v1/snapshots", {"name": "latest"}, expect=400)
    assert "reserved" in r.json()["detail"]
    writer.create("src")
    bad = ziptools.rebuild(export(reader, "src"), name="latest")
    r = admin.post("/api/v1/snapshots/import", data=bad, headers=ZIP, expect=422)
    assert "reserved" in r.json()["detail"]
    # GET and DELETE .../latest can only ever mean the newest snapshot now.
    assert reader.get("/api/v1/snapshots/latest", expect=200).json()["name"] == "src"
    assert reader.get("/api/v1/snapshots", expect=200).json()["total_count"] == 1


def test_labels_with_c1_or_bidi_characters_are_400(writer, reader):
    for v in ("\u009b31m", "pay\u202eKCATTA", "a\u2066b\u2069", "\u200f"):
        r = writer.post("/api/v1/snapshots", {"name": "l1", "labels": {"note": v}}, expect=400)
        assert "label" in r.json()["detail"], r.json()
    reader.get("/api/v1/snapshots/l1", expect=404)
    writer.create("ok", labels={"note": "café ✓"})
    for v in ("\u009b", "x\u202ey"):
        writer.patch("/api/v1/snapshots/ok", {"labels": {"note": v}}, expect=400)
    assert reader.get("/api/v1/snapshots/ok", expect=200).json()["labels"] == {"note": "café ✓"}


def test_import_with_a_bidi_label_is_422(writer, admin, reader):
    writer.create("src")
    bad = ziptools.rebuild(export(reader, "src"), name="lab", update={"labels": {"r": "a\u202eb"}})
    r = admin.post("/api/v1/snapshots/import", data=bad, headers=ZIP, expect=422)
    assert "label" in r.json()["detail"]


def test_commented_out_assignments_never_reach_the_archive(server, writer, reader):
    old = "sk_live_51HxQ2eLkdIwHu7ixV0gQ3sT"
    env = os.path.join(server.root, ".env")
    with open(env) as f:
        text = f.read()
    with open(env, "w") as f:
        f.write("#BROKER_API_KEY_OLD=%s\n%s" % (old, text))
    writer.create("c1")
    data = reader.get("/api/v1/snapshots/c1/archive", expect=200).content
    assert old.encode() not in data
    masked = ziptools.entries(data)["env/.env.masked"].decode()
    assert masked.startswith("#BROKER_API_KEY_OLD=********\n"), masked


def test_env_by_another_name_never_enters_an_archive(server, writer, reader):
    """Issue #16 item 5: a symlink and a hard link to .env inside the root."""
    secrets = [v for v in apilib.make_state(server.root, "--print-secrets").splitlines() if v]
    os.symlink("../.env", os.path.join(server.root, "state", "env_backup.json"))
    os.link(os.path.join(server.root, ".env"), os.path.join(server.root, "state", "env_hard.json"))
    snap = writer.create("e1")
    paths = [f["path"] for f in snap["files"]]
    assert "state/env_backup.json" not in paths and "state/env_hard.json" not in paths
    data = reader.get("/api/v1/snapshots/e1/archive", expect=200).content
    for name, body in ziptools.entries(data).items():
        for s in secrets:
            assert s.encode() not in body, name
