"""Issue #16 item 1 (API): an archive does not decide what a restore writes.

The consistent hostile archive of tests/fixtures/ziptools.py (.env,
.git/config, bot.py, logs/pwned.json, VERSION and .gitignore absent) is 422 on
import, and a restore of it (swapped into the store) is 422 before anything is
written; a restore never writes through a symlinked directory of the root."""
import os
import shutil
import sys

import apilib

sys.path.insert(0, os.path.join(apilib.REPO, "tests", "fixtures"))
import ziptools  # noqa: E402

ZIP = {"Content-Type": "application/zip"}


def snapshot_tree(root):
    """{path: bytes or symlink target} of everything under root, .git too."""
    out = {}
    for d, dirs, files in os.walk(root):
        for x in dirs + files:
            p = os.path.join(d, x)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                out[rel] = "-> " + os.readlink(p)
            elif os.path.isfile(p):
                with open(p, "rb") as f:
                    out[rel] = f.read()
            else:
                out[rel + "/"] = None
    return out


def setup_root(server, tmp_path):
    root = server.root
    os.makedirs(os.path.join(root, ".git"), exist_ok=True)
    with open(os.path.join(root, ".git", "config"), "w") as f:
        f.write("[core]\n\trepositoryformatversion = 0\n")
    for p, text in (("bot.py", "print('the real bot')\n"), (".gitignore", ".env\n")):
        with open(os.path.join(root, p), "w") as f:
            f.write(text)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.symlink(str(outside), os.path.join(root, "logs"))
    return str(outside)


def test_import_of_the_hostile_archive_is_422(server, writer, admin, reader, tmp_path):
    writer.create("src")
    data = reader.get("/api/v1/snapshots/src/archive", expect=200).content
    outside = setup_root(server, tmp_path)
    before, listing = snapshot_tree(server.root), apilib.store_listing(server.store)
    r = admin.post("/api/v1/snapshots/import", data=ziptools.hostile(data, "evil"), headers=ZIP,
                   expect=422)
    detail = r.json()["detail"]
    assert "include set" in detail and any(p in detail for p, _ in ziptools.HOSTILE_FILES), detail
    reader.get("/api/v1/snapshots/evil", expect=404)
    assert apilib.store_listing(server.store) == listing
    assert snapshot_tree(server.root) == before
    assert os.listdir(outside) == []


def test_restore_of_a_swapped_hostile_archive_is_422(server, writer, admin, reader, tmp_path):
    writer.create("src")
    data = reader.get("/api/v1/snapshots/src/archive", expect=200).content
    apilib.make_state(server.root, "--advance", "3")
    outside = setup_root(server, tmp_path)
    token = admin.post("/api/v1/snapshots/src/restore/preview", expect=200).json()["confirm_token"]
    # Signed with the store's own key, as a thief of it could: the content rules must refuse it.
    with open(os.path.join(server.store, "src.zip"), "wb") as f:
        f.write(ziptools.hostile(data, "src", sign_key=os.path.join(server.store, "signing_key.pem")))
    before = snapshot_tree(server.root)
    count = reader.get("/api/v1/snapshots", expect=200).json()["total_count"]
    r = admin.post("/api/v1/snapshots/src/restore/preview", expect=422)
    assert "include set" in r.json()["detail"]
    r = admin.post("/api/v1/snapshots/src/restore", {"confirm_token": token}, expect=422)
    assert "include set" in r.json()["detail"] and "nothing restored" in r.json()["detail"]
    assert snapshot_tree(server.root) == before
    assert os.listdir(outside) == []
    assert reader.get("/api/v1/snapshots", expect=200).json()["total_count"] == count


def test_restore_refuses_a_symlinked_state_directory(server, writer, admin, reader, tmp_path):
    writer.create("src")
    apilib.make_state(server.root, "--advance", "3")
    moved = tmp_path / "moved-state"
    shutil.move(os.path.join(server.root, "state"), str(moved))
    os.symlink(str(moved), os.path.join(server.root, "state"))
    moved_before = snapshot_tree(str(moved))
    r = admin.post("/api/v1/snapshots/src/restore/preview", expect=409)
    assert "symlink" in r.json()["detail"] and "state" in r.json()["detail"], r.json()
    assert snapshot_tree(str(moved)) == moved_before
