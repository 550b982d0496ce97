"""Bad input: each gets one line on stderr, the right exit code, and leaves the
store byte-for-byte unchanged (issue 2, Done means 7)."""
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from snaplib import BIN, Statesnap, tree, tree_diff

NOBODY = 65534


@pytest.fixture
def based(ss):
    """A store holding one snapshot 'base', and its bytes."""
    ss.create("base", "--label", "reason=baseline")
    return ss, tree(ss.store)


def assert_refused(ss, before, rc, out, err, code):
    assert rc == code, "exit %d, want %d\nstdout: %s\nstderr: %s" % (rc, code, out, err)
    assert err.startswith("statesnap: "), err
    assert len(err.splitlines()) == 1 and err.endswith("\n"), "want one stderr line, got %r" % err
    assert out == "", "stdout should be empty on error: %r" % out
    after = tree(ss.store)
    assert after == before, tree_diff(before, after)


BAD_NAMES = ["../x", "a/b", "", "a" * 65, "snäp", ".hidden", "x y", "bad\nname", "-dash", "_under", "a\\b",
             "name*", "..", "."]


@pytest.mark.parametrize("name", BAD_NAMES, ids=lambda n: repr(n))
def test_create_with_bad_name(based, name):
    ss, before = based
    rc, out, err = ss.run("create", "--name", name)
    assert_refused(ss, before, rc, out, err, 2)
    assert not os.path.exists(os.path.join(ss.store, "x.zip"))


@pytest.mark.parametrize("args", [
    ["restore", "--name", "../x", "--yes"],
    ["restore", "a/b", "--yes"],
    ["show", "../x"],
    ["show", "--name", "a" * 65],
    ["verify", "a/b"],
    ["delete", "--name", "../base"],
    ["delete", "--name", "base/../base", "--force"],
    ["diff", "--from", "../x", "--to", "live"],
    ["diff", "--from", "base", "--to", "snäp"],
], ids=lambda a: " ".join(a).replace("\n", "\\n"))
def test_other_commands_with_bad_name(based, args):
    ss, before = based
    rc, out, err = ss.run(*args)
    assert_refused(ss, before, rc, out, err, 2)


def test_sixty_four_characters_is_the_longest_name(based):
    ss, _ = based
    name = "A" + "b" * 62 + "9"
    assert len(name) == 64
    assert ss.create(name)["name"] == name
    assert os.path.isfile(ss.archive(name))


@pytest.mark.parametrize("args", [
    ["create", "--bogus"],
    ["create", "--name", "x", "--frobnicate", "1"],
    ["list", "--sideways"],
    ["--no-such-global", "list"],
    ["restore", "--name", "base", "--yes", "--force-it"],
    ["frobnicate"],
    [],
    ["create", "--name"],
    ["create", "--label", "novalue"],
    ["create", "--label", "=v"],
    ["list", "--limit", "abc"],
    ["list", "--limit", "-1"],
    ["list", "--limit", "99999999999999999999"],
    ["list", "--prefix", "a/b"],
    ["list", "--prefix", "_base"],
    ["list", "--prefix", "b" * 65],
    ["diff", "--from", "base"],
    ["verify"],
    ["restore", "--yes"],
], ids=lambda a: " ".join(a) or "no-command")
def test_usage_errors(based, args):
    ss, before = based
    rc, out, err = ss.run(*args)
    assert_refused(ss, before, rc, out, err, 2)


def test_missing_root(based):
    ss, before = based
    rc, out, err = Statesnap(os.path.join(ss.tmp, "no-such-root"), ss.store, ss.tmp).run("create", "--name", "x")
    assert_refused(ss, before, rc, out, err, 2)
    assert "no-such-root" in err


def test_root_that_is_a_file(based):
    ss, before = based
    path = os.path.join(ss.tmp, "plainfile")
    with open(path, "w") as f:
        f.write("x\n")
    rc, out, err = Statesnap(path, ss.store, ss.tmp).run("create", "--name", "x")
    assert_refused(ss, before, rc, out, err, 2)


def test_duplicate_name(based):
    ss, before = based
    rc, out, err = ss.run("create", "--name", "base")
    assert_refused(ss, before, rc, out, err, 1)
    assert "base" in err


@pytest.mark.parametrize("args", [["show", "nope"], ["verify", "nope"], ["delete", "--name", "nope"],
                                  ["restore", "--name", "nope", "--yes"], ["diff", "--from", "nope", "--to", "live"]])
def test_unknown_snapshot(based, args):
    ss, before = based
    rc, out, err = ss.run(*args)
    assert_refused(ss, before, rc, out, err, 1)


@pytest.mark.parametrize("content", ['{"root": "/tmp", "no_such_key": 1}', "{not json", '{"compression_level": 42}',
                                     '{"store": 5}', "[]"])
def test_bad_config(based, content):
    ss, before = based
    cfg = os.path.join(ss.tmp, "statesnap.json")
    with open(cfg, "w") as f:
        f.write(content)
    rc, out, err = ss.run("--config", cfg, "list")
    assert_refused(ss, before, rc, out, err, 2)


def test_missing_config_file(based):
    ss, before = based
    rc, out, err = ss.run("--config", os.path.join(ss.tmp, "absent.json"), "list")
    assert_refused(ss, before, rc, out, err, 2)


def test_good_config_is_used(based):
    ss, _ = based
    cfg = os.path.join(ss.tmp, "cfg.json")
    with open(cfg, "w") as f:
        json.dump({"root": ss.root, "store": ss.store}, f)
    rc, out, err = ss.run("--config", cfg, "--json", "list", root=False, store=False)
    assert rc == 0, err
    assert [s["name"] for s in json.loads(out)["snapshots"]] == ["base"]


def run_as_nobody(args, cwd):
    def drop():
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    e = {k: v for k, v in os.environ.items() if not k.startswith("STATESNAP_FAILPOINT")}
    r = subprocess.run([BIN] + args, capture_output=True, text=True, cwd=cwd, env=e,
                       preexec_fn=drop if os.geteuid() == 0 else None, timeout=120)
    return r.returncode, r.stdout, r.stderr


def test_unreadable_file(based):
    ss, _ = based
    # Root reads mode-000 files, so when running as root the binary runs as
    # nobody on a copy of root and store it owns.
    base = tempfile.mkdtemp(prefix="statesnap-unreadable-")
    try:
        os.chmod(base, 0o755)
        root, store = os.path.join(base, "root"), os.path.join(base, "store")
        shutil.copytree(ss.root, root, symlinks=True)
        shutil.copytree(ss.store, store, symlinks=True)
        if os.geteuid() == 0:
            for d, dirs, files in os.walk(base):
                for p in [d] + [os.path.join(d, x) for x in dirs + files]:
                    os.lchown(p, NOBODY, NOBODY)
        before = tree(store)
        os.chmod(os.path.join(root, "state/orders.json"), 0)
        rc, out, err = run_as_nobody(["--root", root, "--store", store, "create", "--name", "x"], base)
        assert rc == 1, (rc, out, err)
        assert err.startswith("statesnap: ") and len(err.splitlines()) == 1, err
        assert "state/orders.json" in err
        assert out == ""
        after = tree(store)
        assert after == before, tree_diff(before, after)
        rc, out, err = run_as_nobody(["--root", root, "--store", store, "--json", "list"], base)
        assert rc == 0, err
        assert [s["name"] for s in json.loads(out)["snapshots"]] == ["base"]
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_live_is_reserved(based):
    """`diff --to live` means the state root, so a snapshot named "live" could
    never be the target of a diff: the name must be refused."""
    ss, before = based
    rc, out, err = ss.run("create", "--name", "live")
    assert_refused(ss, before, rc, out, err, 2)


def test_too_many_files_is_refused_whole(based, tmp_path):
    ss, before = based
    cfg = tmp_path / "cap.json"
    cfg.write_text(json.dumps({"max_files": 20}))
    for i in range(30):
        with open(os.path.join(ss.root, "state", "s%05d.json" % i), "w") as f:
            f.write("{}")
    rc, out, err = ss.run("--config", str(cfg), "create", "--name", "many")
    # Not a usage error: the root outgrew what one snapshot holds (exit 1).
    assert_refused(ss, before, rc, out, err, 1)
    assert "more than the 20" in err and "max_files" in err and "narrow" in err, err
