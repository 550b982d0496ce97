"""A typo does not create a store (issue 17 item 4). Read-only commands on a
path that holds no store refuse it with a clear message and exit 1, making
nothing; only create, import, reindex and init make a store, and then the
directory is 0700 and its files 0600 whatever the umask. serve makes a
missing store only when it could create a snapshot (its state root exists)."""
import os
import socket
import stat
import subprocess
import time

import pytest

import snaplib
from snaplib import BIN

READ_ONLY = [
    ["list"], ["--json", "list"], ["show", "x"], ["verify", "x"], ["verify", "--all"],
    ["diff", "--from", "a", "--to", "b"], ["restore", "x", "--yes"], ["restore", "x", "--dry-run"],
    ["audit"], ["audit", "verify"], ["export", "x", "--out", "OUT"], ["delete", "x"], ["pin", "x"],
    ["prune"],
]
MESSAGE = "no statesnap store at"


def listing(d):
    return sorted(os.listdir(d)) if os.path.isdir(d) else None


@pytest.mark.parametrize("args", READ_ONLY, ids=lambda a: "_".join(a).strip("-"))
def test_read_only_command_refuses_a_missing_store(ss, tmp_path, args):
    args = [str(tmp_path / "out.zip") if a == "OUT" else a for a in args]
    typo = tmp_path / "typo"
    rc, out, err = ss.run("--store", str(typo), *args, store=False)
    assert rc == 1, (rc, out, err)
    assert MESSAGE in err and str(typo) in err and "is there a store" in err, err
    assert not typo.exists(), "%s created %s" % (args, typo)


@pytest.mark.parametrize("args", [["list"], ["show", "x"], ["audit", "verify"]],
                         ids=lambda a: "_".join(a))
def test_an_existing_directory_without_a_catalog_is_not_a_store(ss, tmp_path, args):
    d = tmp_path / "just-a-dir"
    d.mkdir()
    (d / "notes.txt").write_text("mine\n")
    rc, out, err = ss.run("--store", str(d), *args, store=False)
    assert rc == 1 and MESSAGE in err, (rc, out, err)
    assert listing(str(d)) == ["notes.txt"]


def test_list_without_store_does_not_create_snapshots_in_cwd(tmp_path):
    cwd = tmp_path / "anywhere"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATESNAP_")}
    r = subprocess.run([BIN, "list"], cwd=str(cwd), capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 1 and MESSAGE in r.stderr, r
    assert "Total: 0" not in r.stdout
    assert listing(str(cwd)) == []


def modes(store):
    out = {}
    for dirpath, dirs, files in os.walk(store):
        for n in dirs + files:
            p = os.path.join(dirpath, n)
            out[os.path.relpath(p, store)] = stat.S_IMODE(os.lstat(p).st_mode)
    out["."] = stat.S_IMODE(os.lstat(store).st_mode)
    return out


@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_create_makes_a_private_store_whatever_the_umask(ss, umask):
    old = os.umask(umask)
    try:
        ss.create("first")
        ss.ok("pin", "first")
    finally:
        os.umask(old)
    m = modes(ss.store)
    assert m["."] == 0o700 and m[".work"] == 0o700, m
    for name in ("catalog.db", "first.zip", "audit.jsonl", ".lock", ".secret"):
        assert m[name] == 0o600, (name, oct(m[name]))
    assert all(v in (0o600, 0o700) for v in m.values()), {k: oct(v) for k, v in m.items()}


def test_init_import_and_reindex_make_a_store(ss, tmp_path):
    ss.create("a")
    zip_path = ss.archive("a")
    other = tmp_path / "imported"
    # Another store's archive: signed by a key this new store does not trust yet.
    rc, out, err = ss.run("--store", str(other), "import", "--allow-unsigned", zip_path, store=False)
    assert rc == 0, err
    assert stat.S_IMODE(os.stat(other).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(other / "a.zip").st_mode) == 0o600
    fresh = tmp_path / "fresh"
    rc, out, err = ss.run("--store", str(fresh), "init", store=False)
    assert rc == 0 and "Initialized" in out, err
    assert stat.S_IMODE(os.stat(fresh).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(fresh / "catalog.db").st_mode) == 0o600
    rc, out, err = ss.run("--store", str(fresh), "list", store=False)
    assert rc == 0 and "Total: 0 snapshots" in out, err
    # reindex of a directory of archives makes the catalog.
    bare = tmp_path / "bare"
    bare.mkdir()
    os.link(zip_path, bare / "a.zip")
    rc, out, err = ss.run("--store", str(bare), "reindex", "--allow-unsigned", store=False)
    assert rc == 0, err
    rc, out, err = ss.run("--store", str(bare), "--json", "list", store=False)
    assert rc == 0 and "\"a\"" in out, err


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_refuses_a_missing_store_it_could_not_fill(tmp_path):
    typo = tmp_path / "typo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATESNAP_")}
    r = subprocess.run([BIN, "--root", str(tmp_path / "no-root"), "--store", str(typo), "serve", "--listen",
                        "127.0.0.1:%d" % free_port()], capture_output=True, text=True, env=env, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert r.returncode != 0 and MESSAGE in r.stderr, r
    assert not typo.exists()


def test_serve_with_a_state_root_makes_the_store(root, tmp_path):
    store = tmp_path / "new-store"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATESNAP_")}
    p = subprocess.Popen([BIN, "--root", root, "--store", str(store), "serve", "--listen", "127.0.0.1:%d" % port],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and p.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        assert p.poll() is None, p.stderr.read()
        assert stat.S_IMODE(os.stat(store).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(store / "catalog.db").st_mode) == 0o600
    finally:
        p.terminate()
        p.wait(timeout=60)
