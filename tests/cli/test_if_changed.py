"""create --if-changed (issue 18): the newest snapshot comes back, and nothing is
written, only when no captured file changed since it. Content decides, not
times: an mtime-only touch is no change; an added, removed or rewritten file
(the masked .env included) is."""
import json
import os
import time

from snaplib import make_state, tree, tree_diff


def skip_or_create(ss, *args, cfg=None):
    pre = ["--config", cfg] if cfg else []
    rc, out, err = ss.run(*pre, "create", "--if-changed", "--json", *args)
    assert rc == 0, (rc, out, err)
    return json.loads(out)


def captured_paths(ss, name):
    return [os.path.join(ss.root, f["path"]) for f in ss.json("show", name)["files"]
            if f["path"] != "env/.env.masked"]


def audit_count(ss):
    return len(ss.json("audit", "--limit", "1000")["entries"])


def test_the_first_if_changed_create_writes_a_snapshot(ss):
    snap = skip_or_create(ss, "--name", "first")
    assert snap["name"] == "first" and not snap.get("skipped")
    assert os.path.isfile(ss.archive("first"))


def test_nothing_changed_returns_the_newest_and_writes_nothing(ss):
    ss.create("base")
    before, audits = tree(ss.store), audit_count(ss)
    rc, out, err = ss.run("create", "--if-changed", "--name", "again")
    assert rc == 0, err
    assert "SNAPSHOT SKIPPED" in out and "Current: base" in out, out
    assert "Location: " in out and "base.zip" in out, out
    assert tree(ss.store) == before, tree_diff(before, tree(ss.store))
    assert audit_count(ss) == audits
    assert not os.path.exists(ss.archive("again"))
    doc = skip_or_create(ss)
    assert doc["skipped"] is True and doc["name"] == "base"
    assert {f["path"] for f in doc["files"]} == {f["path"] for f in ss.json("show", "base")["files"]}
    assert ss.names() == ["base"]


def test_an_mtime_only_touch_is_no_change(ss):
    ss.create("base")
    later = time.time() + 3600
    for p in captured_paths(ss, "base") + [os.path.join(ss.root, ".env")]:
        os.utime(p, (later, later))
    assert skip_or_create(ss)["skipped"] is True
    assert ss.names() == ["base"]


def test_other_bytes_of_the_same_size_and_mtime_are_a_change(ss):
    ss.create("base")
    path = os.path.join(ss.root, "config", "config.json")
    st = os.stat(path)
    with open(path, "rb") as f:
        data = f.read()
    i = data.index(b"1")            # a digit inside the JSON: still valid, same size
    with open(path, "wb") as f:
        f.write(data[:i] + b"2" + data[i + 1:])
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    snap = skip_or_create(ss, "--name", "edited")
    assert not snap.get("skipped") and snap["name"] == "edited"


def test_an_added_file_is_a_change(ss):
    ss.create("base")
    with open(os.path.join(ss.root, "state", "extra.json"), "w") as f:
        f.write("{}\n")
    assert skip_or_create(ss, "--name", "added")["name"] == "added"


def test_a_removed_file_is_a_change(ss):
    ss.create("base")
    os.unlink(os.path.join(ss.root, "state", "orders.json"))
    assert skip_or_create(ss, "--name", "removed")["name"] == "removed"


def test_the_masked_env_counts(ss):
    ss.create("base")
    with open(os.path.join(ss.root, ".env"), "a") as f:
        f.write("NEW_KEY=some-value\n")
    assert skip_or_create(ss, "--name", "env")["name"] == "env"
    assert skip_or_create(ss)["skipped"] is True


def test_an_appended_chain_is_a_change(ss):
    ss.create("base")
    make_state(ss.root, "--advance", "3")
    assert skip_or_create(ss, "--name", "grown")["name"] == "grown"


def test_a_missing_archive_is_not_current(ss):
    ss.create("base")
    os.unlink(ss.archive("base"))
    assert skip_or_create(ss, "--name", "fresh")["name"] == "fresh"


def test_hooks_run_only_when_a_snapshot_is_written(ss, tmp_path):
    marks = tmp_path / "marks"
    cfg = tmp_path / "hooks.json"
    cfg.write_text(json.dumps({"hooks": {
        "pre_snapshot": {"argv": ["/bin/sh", "-c", "echo pre >> %s" % marks]},
        "post_snapshot": {"argv": ["/bin/sh", "-c", "echo post >> %s" % marks]}}}))
    assert skip_or_create(ss, "--name", "base", cfg=str(cfg))["name"] == "base"
    assert marks.read_text() == "pre\npost\n"
    assert skip_or_create(ss, cfg=str(cfg))["skipped"] is True
    assert marks.read_text() == "pre\npost\n"
