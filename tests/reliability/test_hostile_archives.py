"""Hostile archives: every kind is refused by `statesnap import`, by
POST /api/v1/snapshots/import and by a restore whose archive in the store was
swapped for it, with a clear error, the store unchanged byte for byte (the
catalog compared through `sqlite3 .dump`) and the state root untouched.

Each archive starts from a real snapshot and breaks exactly one rule, with
manifest.json and SHA256SUMS kept consistent wherever the rule allows, so it
is the rule under test that has to refuse it (rellib.hostile_archives)."""
import json
import os
import re
import shutil

import pytest

import apilib
import rellib
import snaplib

ZIP = {"Content-Type": "application/zip"}
IMPORT_NAME = "hostile"
# Where an escaping entry would land if anything extracted it.
ESCAPES = ("escape.json", "statesnap-abs.json")


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A state root, a store holding one real snapshot "src", and that
    archive's hostile variants under two manifest names."""
    d = tmp_path_factory.mktemp("hostile-base")
    root = d / "root"
    snaplib.make_state(root, "--seed", "11", "--positions", "4", "--chain-lines", "400")
    store = d / "store"
    ss = snaplib.Statesnap(root, store, d)
    ss.create("src")
    with open(ss.archive("src"), "rb") as f:
        data = f.read()
    # Signed with the store's own key: a thief of it could make every kind.
    snap = rellib.Snapshot(data, sign_key=str(store / "signing_key.pem"))
    # The root moves on after the snapshot, so a restore that went through
    # would have files to write.
    snaplib.make_state(root, "--advance", "25")
    return {"dir": d, "root": str(root), "store": str(store), "data": data,
            "import": rellib.hostile_archives(snap, IMPORT_NAME),
            "restore": rellib.hostile_archives(snap, "src")}


KINDS = sorted([
    "zip_slip", "zip_slip_nested", "absolute_path", "backslash_path", "symlink_entry",
    "symlink_replaces_file", "directory_entry", "duplicate_entry", "duplicate_manifest",
    "entry_count_bomb", "size_bomb_lying_header", "size_bomb_declared",
    "size_bomb_consistent_bad_hash", "truncated_half", "truncated_tail", "truncated_entry_data",
    "empty_file", "not_a_zip", "bad_crc", "flipped_data_byte", "wrong_sha256",
    "manifest_sha256_wrong", "sha256sums_disagrees", "sha256sums_short", "sha256sums_extra_line",
    "sha256sums_no_last_newline", "missing_manifest", "missing_sha256sums",
    "malformed_manifest", "manifest_wrong_shape", "manifest_not_object", "manifest_bad_format",
    "manifest_unsafe_name", "manifest_invalid_utf8", "listed_file_missing", "listed_file_swapped",
    "extra_unlisted_entry", "bzip2_entry"])


# What the refusal must say: the rule that caught each kind (stderr of the CLI,
# "detail" of the problem document).
EXPECT = {
    "zip_slip": "unsafe path", "zip_slip_nested": "unsafe path", "absolute_path": "unsafe path",
    "backslash_path": "unsafe path", "directory_entry": "unsafe path|not a regular file|director",
    "symlink_entry": "not a regular file|symlink", "symlink_replaces_file": "not a regular file|symlink",
    "duplicate_entry": "twice|duplicate|already exists", "duplicate_manifest": "twice|duplicate|already exists",
    "entry_count_bomb": "too many entries", "size_bomb_lying_header": "more data than|size",
    "size_bomb_declared": "size|too large", "size_bomb_consistent_bad_hash": "SHA-256|max_compression_ratio",
    "truncated_half": "not a (readable )?zip", "truncated_tail": "not a (readable )?zip",
    "truncated_entry_data": "damaged|truncat", "empty_file": "not a (readable )?zip|empty",
    "not_a_zip": "not a (readable )?zip", "bad_crc": "CRC", "flipped_data_byte": "CRC|SHA-256|damaged",
    "wrong_sha256": "SHA-256", "manifest_sha256_wrong": "SHA-256", "sha256sums_disagrees": "SHA256SUMS",
    "sha256sums_short": "SHA256SUMS", "sha256sums_extra_line": "SHA256SUMS",
    "sha256sums_no_last_newline": "SHA256SUMS",
    "missing_manifest": "no manifest.json", "missing_sha256sums": "no SHA256SUMS",
    "malformed_manifest": "manifest.json is not valid JSON", "manifest_wrong_shape": "manifest.json",
    "manifest_not_object": "manifest.json", "manifest_bad_format": "format",
    "manifest_unsafe_name": "name", "manifest_invalid_utf8": "manifest.json",
    "listed_file_missing": "manifest", "listed_file_swapped": "missing from the archive",
    "extra_unlisted_entry": "manifest", "bzip2_entry": "compression",
}


def says(kind, text):
    assert re.search(EXPECT[kind], text, re.I), "%s: the error does not name the rule: %s" % (kind, text)


def test_every_kind_is_built(base):
    assert sorted(base["import"]) == KINDS == sorted(EXPECT)
    # Sanity: the untouched rebuild is itself importable, so a refusal below
    # is the hostile part's doing and not the rebuilding's.
    d = base["dir"] / "sanity"
    d.mkdir()
    ss = snaplib.Statesnap(base["root"], d / "store", d)
    key = os.path.join(base["store"], "signing_key.pem")
    good = rellib.Snapshot(base["data"], sign_key=key).rebuild(IMPORT_NAME)
    p = d / "good.zip"
    p.write_bytes(good)
    cfg = d / "trust.json"
    cfg.write_text(json.dumps({"trusted_keys": [os.path.join(base["store"], "signing_key.pub")]}))
    doc = ss.json("--config", str(cfg), "import", str(p))
    assert doc["name"] == IMPORT_NAME and doc["signature"]["state"] == "signed", doc
    ss.ok("--config", str(cfg), "verify", IMPORT_NAME)


def no_escapes(*dirs):
    found = []
    for d in list(dirs) + ["/tmp"]:
        for x in ESCAPES:
            if os.path.lexists(os.path.join(str(d), x)):
                found.append(os.path.join(str(d), x))
    return found


def fresh(base, tmp_path):
    """A copy of the base store and root for one test."""
    store, root = tmp_path / "store", tmp_path / "root"
    shutil.copytree(base["store"], store, symlinks=True)
    shutil.copytree(base["root"], root, symlinks=True)
    return snaplib.Statesnap(root, store, tmp_path)


def one_clear_line(err):
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("statesnap: ") and len(lines[0]) > 20, err
    return lines[0]


@pytest.mark.parametrize("kind", KINDS)
def test_cli_import_refuses(kind, base, tmp_path):
    ss = fresh(base, tmp_path)
    path = tmp_path / ("%s.zip" % kind)
    path.write_bytes(base["import"][kind])
    before, root_before = rellib.store_state(ss.store), snaplib.tree(ss.root)
    rc, out, err = ss.run("import", str(path), timeout=120)
    assert rc in (1, 2), "import of %s: exit %d\n%s%s" % (kind, rc, out, err)
    says(kind, one_clear_line(err))
    assert out.strip() == ""
    delta = rellib.diff_states(before, rellib.store_state(ss.store))
    assert delta == "", "store changed by a refused import (%s):\n%s" % (kind, delta)
    assert snaplib.tree_diff(root_before, snaplib.tree(ss.root)) == ""
    assert path.read_bytes() == base["import"][kind], "the caller's file was changed"
    assert ss.names() == ["src"]
    assert no_escapes(ss.store, os.path.dirname(ss.store), tmp_path) == []


@pytest.fixture(scope="module")
def import_server(base, tmp_path_factory):
    """One server over a copy of the base store, shared by the HTTP cases:
    each must leave that store exactly as it found it."""
    work = tmp_path_factory.mktemp("hostile-http")
    root = work / "root"
    shutil.copytree(base["root"], root, symlinks=True)
    s = apilib.Server(work, root, apilib.new_tokens())
    shutil.copytree(base["store"], s.store, symlinks=True)
    s.start()
    yield s
    assert s.stop() == 0, s.log_text()[-3000:]


@pytest.mark.parametrize("kind", KINDS)
def test_http_import_refuses(kind, import_server, base):
    s = import_server
    admin = s.api(s.token("admin"))
    before, root_before = rellib.store_state(s.store), snaplib.tree(s.root)
    r = admin.post("/api/v1/snapshots/import", data=base["import"][kind], headers=ZIP)
    assert r.status_code in (400, 413, 422), "%s: %d %s" % (kind, r.status_code, r.text[:500])
    assert r.headers["Content-Type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["status"] == r.status_code, problem
    says(kind, problem.get("detail", ""))
    delta = rellib.diff_states(before, rellib.store_state(s.store))
    assert delta == "", "store changed by a refused import (%s):\n%s" % (kind, delta)
    assert snaplib.tree_diff(root_before, snaplib.tree(s.root)) == ""
    names = [x["name"] for x in admin.get("/api/v1/snapshots", expect=200).json()["snapshots"]]
    assert names == ["src"]
    admin.get("/api/v1/snapshots/%s" % IMPORT_NAME, expect=404)
    assert no_escapes(s.store, os.path.dirname(s.store), s.workdir) == []
    rellib.healthz_ok(s.port)


@pytest.mark.parametrize("kind", KINDS)
def test_cli_restore_refuses_swapped_archive(kind, base, tmp_path):
    """STORE/src.zip replaced by a hostile archive: `restore src --yes` writes
    nothing to the root, takes no safety snapshot, and leaves the store as it
    was but for an audit entry recording the refusal."""
    ss = fresh(base, tmp_path)
    with open(ss.archive("src"), "wb") as f:
        f.write(base["restore"][kind])
    with open(os.path.join(ss.store, "audit.jsonl")) as f:
        audit_before = f.read()
    before, root_before = rellib.store_state(ss.store), snaplib.tree(ss.root)
    rc, out, err = ss.run("restore", "src", "--yes", timeout=120)
    assert rc in (1, 2), "restore of a hostile archive (%s): exit %d\n%s%s" % (kind, rc, out, err)
    line = one_clear_line(err)
    assert "[OK]" not in out and "RESTORE COMPLETE" not in out, out
    assert snaplib.tree_diff(root_before, snaplib.tree(ss.root)) == "", \
        "state root changed by a refused restore (%s)" % kind
    delta = rellib.diff_states(before, rellib.store_state(ss.store), allow_audit_errors=True)
    assert delta == "", "store changed by a refused restore (%s):\n%s" % (kind, delta)
    rellib.audit_jsonl_appended_errors(ss.store, audit_before)
    assert os.listdir(os.path.join(ss.store, ".work")) == []
    assert not [n for n in ss.store_zips() if snaplib.SAFETY_RE.match(n)]
    assert no_escapes(ss.store, ss.root, os.path.dirname(ss.root), tmp_path) == []
    says(kind, line)


@pytest.mark.parametrize("kind", KINDS)
def test_http_restore_preview_refuses_swapped_archive(kind, make_server, base, tmp_path):
    """The API's first restore step verifies the archive: no confirm token for
    a hostile one, so nothing can be applied."""
    root = tmp_path / "hroot"
    shutil.copytree(base["root"], root, symlinks=True)
    s = make_server(root_dir=str(root), start=False)
    shutil.copytree(base["store"], s.store, symlinks=True)
    with open(os.path.join(s.store, "src.zip"), "wb") as f:
        f.write(base["restore"][kind])
    s.start()
    admin = s.api(s.token("admin"))
    before, root_before = rellib.store_state(s.store), snaplib.tree(s.root)
    r = admin.post("/api/v1/snapshots/src/restore/preview", {})
    assert r.status_code in (400, 422), "%s: %d %s" % (kind, r.status_code, r.text[:500])
    assert "confirm_token" not in r.json()
    says(kind, r.json().get("detail", ""))
    r = admin.post("/api/v1/snapshots/src/restore", {"confirm_token": "x" * 64})
    assert 400 <= r.status_code < 500, r.text
    assert snaplib.tree_diff(root_before, snaplib.tree(s.root)) == ""
    delta = rellib.diff_states(before, rellib.store_state(s.store), allow_audit_errors=True)
    assert delta == "", "store changed (%s):\n%s" % (kind, delta)
    rellib.healthz_ok(s.port)
