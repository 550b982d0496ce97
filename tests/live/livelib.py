"""livelib.py - a running bot, and the checks every snapshot of it must pass.

A snapshot that create reports must verify, restore into a scratch root with
exactly its bytes, import into a second store and survive a reindex; none of its
JSON files may be torn; its chain must end on a complete line with every link
intact; and it must say what cut it is. A consistent cut of the bot (which writes
the chain, then positions.json, then orders.json per event) has both JSON files
at the chain's tip or one event behind it; with the bot paused at a safe point
by the hooks, exactly at the tip.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "api"))
import apilib  # noqa: E402

BIN = apilib.BIN
BOT = os.path.join(REPO, "tests", "fixtures", "bot.py")
MAKE_STATE = os.path.join(REPO, "tests", "fixtures", "make_state.py")
SLOW = apilib.SLOW


def make_root(path, *args):
    subprocess.run([sys.executable, MAKE_STATE, "--out", str(path)] + list(args), check=True,
                   stdout=subprocess.DEVNULL)
    return str(path)


class Bot:
    """tests/fixtures/bot.py running against a root until stopped."""

    def __init__(self, root, rate=250, style="mixed", pause=False, workdir=None, lock_file=None,
                 pid_file=None):
        self.root = root
        workdir = workdir or os.path.dirname(root)
        self.stop_file = os.path.join(workdir, "bot.stop")
        self.pause_file = os.path.join(workdir, "bot.pause")
        self.ack_file = os.path.join(workdir, "bot.ack")
        cmd = [sys.executable, BOT, "--root", root, "--rate", str(rate), "--style", style,
               "--stop-file", self.stop_file, "--seconds", "900"]
        if pause:
            cmd += ["--pause-file", self.pause_file, "--ack-file", self.ack_file]
        if lock_file:
            cmd += ["--lock-file", lock_file]
        if pid_file:
            cmd += ["--pid-file", pid_file]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        self.events = None
        # Let it write a few hundred events first.
        time.sleep(0.5)
        assert self.proc.poll() is None, "the bot died at start"

    def stop(self):
        with open(self.stop_file, "w"):
            pass
        out, _ = self.proc.communicate(timeout=60)
        self.events = int(out.strip().splitlines()[-1])
        os.unlink(self.stop_file)
        return self.events

    def pause_hooks(self, timeout_ms=10000):
        """pre/post snapshot hooks that pause this bot at a safe point and resume it."""
        wait = ("touch '%s' && i=0; while [ ! -e '%s' ]; do i=$((i+1)); "
                "[ $i -gt 2000 ] && exit 3; sleep 0.005; done" % (self.pause_file, self.ack_file))
        return {"pre_snapshot": {"argv": ["/bin/sh", "-c", wait], "timeout_ms": timeout_ms},
                "post_snapshot": {"argv": ["rm", "-f", self.pause_file], "timeout_ms": timeout_ms}}


def cli(root, store, *args, config=None, env=None, timeout=300):
    cmd = [BIN]
    if config:
        cmd += ["--config", config]
    cmd += ["--root", root, "--store", store] + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout * SLOW,
                       env=dict(os.environ, **(env or {})))
    return r.returncode, r.stdout, r.stderr


def chain_check(data):
    """(lines, last seq, last hash) of chain bytes; asserts complete lines and links."""
    assert data == b"" or data.endswith(b"\n"), "the chain does not end on a complete line"
    prev = None
    n = 0
    seq = None
    for raw in data.split(b"\n"):
        if not raw.strip():
            continue
        ev = json.loads(raw)
        if prev is not None:
            assert ev["prev"] == prev, "broken link at line %d" % (n + 1)
        prev = ev["hash"]
        seq = ev["seq"]
        n += 1
    return n, seq, prev


class Checker:
    """Checks snapshots of one store; keeps a scratch root and a second store."""

    def __init__(self, workdir, store):
        self.workdir = str(workdir)
        self.store = store
        self.scratch = os.path.join(self.workdir, "scratch")
        self.store2 = os.path.join(self.workdir, "store2")
        os.makedirs(self.scratch, exist_ok=True)
        self.checked = 0
        self.consistent = 0
        self.flagged = 0

    def check(self, snap, paused=False, allow_flagged=False):
        name = snap["name"]
        archive = os.path.join(self.store, name + ".zip")
        rc, out, err = cli(self.scratch, self.store, "verify", name)
        assert rc == 0, "verify %s: %s%s" % (name, out, err)
        with zipfile.ZipFile(archive) as z:
            assert z.testzip() is None
            manifest = json.loads(z.read("manifest.json"))
            files = {i.filename: z.read(i.filename) for i in z.infolist()
                     if i.filename not in ("manifest.json", "SHA256SUMS", "manifest.json.sig")}
        for path, data in files.items():
            if path.endswith(".json"):
                try:
                    json.loads(data)
                except ValueError:
                    raise AssertionError("%s: %s is torn (%d bytes)" % (name, path, len(data)))
        lines, seq, last = chain_check(files["state/hash_chain.jsonl"])
        chain = manifest["chain"]
        assert chain["lines"] == lines and chain["last_seq"] == seq and chain["last_hash"] == last
        assert chain["links_ok"] is True and chain["first_bad_line"] is None
        assert snap["chain"] == chain
        cons = manifest["consistency"]
        assert snap["consistency"] == cons
        assert cons["attempts"] >= 1 and cons["window_ms"] >= 0
        pos = json.loads(files["state/positions.json"])["last_seq"]
        orders = json.loads(files["state/orders.json"])["last_seq"]
        if cons["state"] == "consistent":
            self.consistent += 1
            assert cons["changed"] == []
            if paused:
                assert pos == orders == seq, "%s: paused cut is not at the tip: %d %d %d" % (
                    name, pos, orders, seq)
            else:
                assert seq - pos in (0, 1) and seq - orders in (0, 1) and orders <= pos, \
                    "%s: not one instant: chain %d positions %d orders %d" % (name, seq, pos, orders)
        else:
            assert allow_flagged and cons["state"] == "changed" and cons["changed"], cons
            self.flagged += 1
        # Restorable: into the scratch root, byte for byte.
        rc, out, err = cli(self.scratch, self.store, "restore", "--name", name, "--yes")
        assert rc == 0, "restore %s: %s%s" % (name, out, err)
        for path, data in files.items():
            if path.startswith("env/"):
                continue
            with open(os.path.join(self.scratch, path), "rb") as f:
                assert f.read() == data, "%s: restored %s differs" % (name, path)
        # Importable into another store (which does not trust this store's key:
        # admitted as untrusted, and says so).
        rc, out, err = cli(self.scratch, self.store2, "import", "--allow-unsigned", archive)
        assert rc == 0 and "untrusted" in out, "import %s: %s%s" % (name, out, err)
        self.checked += 1
        return manifest

    def reindex_all(self, expect):
        for store in (self.store, self.store2):
            if not os.path.isdir(store):
                continue
            rc, out, err = cli(self.scratch, store, "--json", "reindex")
            assert rc == 0, out + err
            report = json.loads(out)
            assert report.get("skipped", []) == [], report.get("skipped")
        if expect:
            rc, out, err = cli(self.scratch, self.store2, "--json", "list", "--limit", "1000")
            names = {s["name"] for s in json.loads(out)["snapshots"]}
            assert set(expect) <= names, set(expect) - names


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def copytree(src, dst):
    shutil.copytree(src, dst, symlinks=True)
