"""Issue #16 item 1 (CLI): an archive does not decide what a restore writes.

A consistent hostile archive (manifest, SHA256SUMS and hashes all agree) that
holds .env, .git/config, bot.py and logs/pwned.json and lists VERSION and
.gitignore as absent is refused by import and by a restore (its bytes swapped
into the store), and reindex skips it. Restore never writes through a symlink
below the root, whatever the include set allows."""
import json
import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures"))
import ziptools  # noqa: E402
from snaplib import SAFETY_RE, make_state, tree, tree_diff  # noqa: E402

DEFAULT_INCLUDE = ["state/*.json", "state/*.jsonl", "state/KILL_SWITCH", "config/config.json",
                   "config/strategy*.json", "config/risk*.json"]


def write_cfg(ss, doc):
    path = os.path.join(ss.tmp, "cfg.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    return path


@pytest.fixture
def hostile_root(ss, tmp_path):
    """A snapshot "src"; the root then moves on and gets a bot.py and a logs
    symlink to a directory outside the root. Returns (ss, src bytes, outside dir)."""
    ss.create("src")
    with open(ss.archive("src"), "rb") as f:
        data = f.read()
    make_state(ss.root, "--advance", "5", "--seed", "42")
    with open(os.path.join(ss.root, "bot.py"), "w") as f:
        f.write("print('the real bot')\n")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.symlink(str(outside), os.path.join(ss.root, "logs"))
    for p in (".env", ".git/config", "VERSION", ".gitignore"):
        assert os.path.isfile(os.path.join(ss.root, p)), p
    return ss, data, str(outside)


def key(ss):
    """The store's own signing key: the hostile archives swapped into the
    store are signed with it, as a thief of the key would, so the content
    rules below are what must refuse them (the signature check is tested
    on its own in test_signatures.py and below)."""
    return os.path.join(ss.store, "signing_key.pem")


def untouched(ss, before, outside):
    assert tree_diff(before, tree(ss.root)) == "", "the state root changed"
    assert os.listdir(outside) == [], "something was written through the logs symlink"


def test_import_refuses_an_archive_outside_the_include_set(hostile_root, tmp_path):
    ss, data, outside = hostile_root
    bad = tmp_path / "evil.zip"
    bad.write_bytes(ziptools.hostile(data, "evil"))
    before = tree(ss.root)
    rc, out, err = ss.run("import", str(bad))
    assert rc == 1, "import accepted the hostile archive: %s%s" % (out, err)
    assert err.startswith("statesnap: ") and "include set" in err, err
    assert any(p in err for p, _ in ziptools.HOSTILE_FILES), err
    assert "verified" not in out
    assert ss.names() == ["src"]
    assert not os.path.exists(ss.archive("evil"))
    untouched(ss, before, outside)


def test_restore_of_a_swapped_hostile_archive_writes_nothing(hostile_root):
    ss, data, outside = hostile_root
    with open(ss.archive("src"), "wb") as f:
        f.write(ziptools.hostile(data, "src", sign_key=key(ss)))
    before = tree(ss.root)
    rc, out, err = ss.run("restore", "src", "--dry-run")
    assert rc == 1 and "include set" in err, (rc, out, err)
    rc, out, err = ss.run("restore", "src", "--yes")
    assert rc == 1, "restore went through: %s%s" % (out, err)
    assert "include set" in err and "nothing restored" in err, err
    assert "[OK]" not in out
    untouched(ss, before, outside)
    assert not [n for n in ss.store_zips() if SAFETY_RE.match(n)]


def test_only_cannot_pick_a_file_outside_the_include_set(hostile_root):
    ss, data, outside = hostile_root
    with open(ss.archive("src"), "wb") as f:
        f.write(ziptools.hostile(data, "src", sign_key=key(ss)))
    before = tree(ss.root)
    for only in (".git/config", "bot.py", "logs/pwned.json"):
        rc, out, err = ss.run("restore", "src", "--yes", "--only", only)
        assert rc == 1 and "include set" in err, (only, rc, out, err)
    untouched(ss, before, outside)


def test_absent_files_outside_the_include_set_are_never_deleted(hostile_root, tmp_path):
    ss, data, outside = hostile_root
    m = ziptools.manifest(data)
    absent = list(m["absent"]) + ziptools.HOSTILE_ABSENT
    bad = tmp_path / "absent.zip"
    bad.write_bytes(ziptools.rebuild(data, name="absent", absent=absent))
    rc, out, err = ss.run("import", str(bad))
    assert rc == 1 and "VERSION" in err and "absent" in err, (rc, out, err)
    # The same archive already in the store: the restore goes through but
    # leaves VERSION and .gitignore alone, and says so.
    with open(ss.archive("src"), "wb") as f:
        f.write(ziptools.rebuild(data, absent=absent, sign_key=key(ss)))
    preview = ss.json("restore", "src", "--dry-run")
    assert not [f for f in preview["files"] if f["path"] in ziptools.HOSTILE_ABSENT], preview
    assert any("VERSION" in w for w in preview["warnings"]), preview
    ss.ok("restore", "src", "--yes")
    for p in ziptools.HOSTILE_ABSENT:
        assert os.path.isfile(os.path.join(ss.root, p)), "%s was deleted" % p


def test_a_swapped_archive_without_the_stores_signature_is_refused_first(hostile_root):
    """Without the key, the same archive is refused by its signature before
    any content rule is asked."""
    ss, data, outside = hostile_root
    with open(ss.archive("src"), "wb") as f:
        f.write(ziptools.hostile(data, "src"))
    before = tree(ss.root)
    for args in (("--dry-run",), ("--yes",), ("--yes", "--only", "bot.py")):
        rc, out, err = ss.run("restore", "src", *args)
        assert rc == 1 and "carries no signature" in err, (args, rc, out, err)
    untouched(ss, before, outside)


def test_reindex_skips_a_hostile_archive(hostile_root):
    ss, data, outside = hostile_root
    with open(os.path.join(ss.store, "evil.zip"), "wb") as f:
        f.write(ziptools.hostile(data, "evil"))
    rep = ss.json("reindex")
    assert [s["file"] for s in rep["skipped"]] == ["evil.zip"], rep
    assert "include set" in rep["skipped"][0]["problem"]
    assert ss.names() == ["src"]


def test_restore_never_writes_through_a_symlinked_directory(hostile_root):
    """The include set allows logs/*.json, and the archive is admitted; the
    live root's logs is a symlink out of the root: the restore is refused."""
    ss, data, outside = hostile_root
    cfg = write_cfg(ss, {"include": DEFAULT_INCLUDE + ["logs/*.json"]})
    good = ziptools.rebuild(data, name="withlogs", add=[("logs/pwned.json", b'{"pwned": true}\n')],
                            sign_key=key(ss))
    path = os.path.join(ss.tmp, "withlogs.zip")
    with open(path, "wb") as f:
        f.write(good)
    ss.ok("--config", cfg, "import", path)
    before = tree(ss.root)
    rc, out, err = ss.run("--config", cfg, "restore", "withlogs", "--yes")
    assert rc == 1 and "symlink" in err and "logs" in err, (rc, out, err)
    untouched(ss, before, outside)


def test_restore_refuses_a_symlinked_state_directory(ss, tmp_path):
    ss.create("src")
    make_state(ss.root, "--advance", "5", "--seed", "42")
    moved = tmp_path / "moved-state"
    shutil.move(os.path.join(ss.root, "state"), str(moved))
    os.symlink(str(moved), os.path.join(ss.root, "state"))
    before, moved_before = tree(ss.root), tree(str(moved))
    rc, out, err = ss.run("restore", "src", "--yes")
    assert rc == 1 and "symlink" in err and "state" in err, (rc, out, err)
    assert tree_diff(moved_before, tree(str(moved))) == "", "restore wrote through the state symlink"
    assert tree_diff(before, tree(ss.root)) == ""
    # With a real directory back in place the same restore works.
    os.unlink(os.path.join(ss.root, "state"))
    shutil.move(str(moved), os.path.join(ss.root, "state"))
    ss.ok("restore", "src", "--yes")
