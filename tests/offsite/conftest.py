"""Fixtures for the offsite suite: one S3 server (s3rver) per session behind a
SigV4-verifying proxy (s3.js), a generated state root, and helpers that run
the real statesnap binary with an "offsite" config pointing at the proxy."""
import glob
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
MAKE_STATE = os.path.join(REPO, "tests", "fixtures", "make_state.py")
BIN = os.path.abspath(os.environ.get("STATESNAP_BIN", os.path.join(REPO, "build", "test", "statesnap")))
BUCKET = "snaps"
ACCESS_KEY = "AKIDOFFSITETEST0001"
SECRET_KEY = "s3cr3t-Offsite-Key/For+Tests-0123456789"
TIMEOUT = 300


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def wait_file(path, proc, what):
    for _ in range(300):
        if os.path.exists(path):
            return int(open(path).read())
        if proc.poll() is not None:
            raise RuntimeError("%s exited %s" % (what, proc.returncode))
        time.sleep(0.05)
    raise RuntimeError("%s did not start" % what)


class S3:
    """s3rver plus the verifying proxy; the proxy can be stopped and restarted on its port."""

    def __init__(self, base):
        self.base = base
        self.dir = os.path.join(base, "s3")
        self.log = os.path.join(base, "proxy.log")
        os.makedirs(self.dir)
        self.env = dict(os.environ, S3_ACCESS_KEY=ACCESS_KEY, S3_SECRET_KEY=SECRET_KEY,
                        S3_REGION="eu-test-1")
        pf = os.path.join(base, "s3.port")
        self.server = subprocess.Popen(["node", os.path.join(HERE, "s3.js"), "server", "--dir", self.dir,
                                        "--bucket", BUCKET, "--port-file", pf],
                                       cwd=HERE, env=self.env, stdout=subprocess.DEVNULL,
                                       stderr=open(os.path.join(base, "s3.err"), "w"))
        self.upstream = wait_file(pf, self.server, "s3rver")
        self.proxy = None
        self.port = 0
        self.start_proxy()

    def start_proxy(self):
        pf = os.path.join(self.base, "proxy.port.%d" % time.monotonic_ns())
        self.proxy = subprocess.Popen(["node", os.path.join(HERE, "s3.js"), "proxy", "--upstream",
                                       str(self.upstream), "--port", str(self.port), "--port-file", pf,
                                       "--log", self.log],
                                      cwd=HERE, env=self.env, stdout=subprocess.DEVNULL,
                                      stderr=open(os.path.join(self.base, "proxy.err"), "a"))
        self.port = wait_file(pf, self.proxy, "proxy")

    def kill_proxy(self):
        self.proxy.send_signal(signal.SIGKILL)
        self.proxy.wait()

    def close(self):
        for p in (self.proxy, self.server):
            if p is not None and p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()

    def requests(self):
        with open(self.log) as f:
            return [json.loads(line) for line in f if line.strip()]

    def object_path(self, key):
        return os.path.join(self.dir, BUCKET, key + "._S3rver_object")

    def objects(self, prefix):
        """{key: sha256} of what s3rver holds on disk under prefix."""
        out = {}
        for p in glob.glob(os.path.join(self.dir, BUCKET, prefix, "*._S3rver_object")):
            key = os.path.relpath(p, os.path.join(self.dir, BUCKET))[:-len("._S3rver_object")]
            out[key] = sha256_file(p)
        return out


@pytest.fixture(scope="session")
def s3(tmp_path_factory):
    assert os.access(BIN, os.X_OK), "statesnap binary %s is missing" % BIN
    s = S3(str(tmp_path_factory.mktemp("s3side")))
    yield s
    s.close()


@pytest.fixture(scope="session")
def template_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("template") / "root"
    subprocess.run([sys.executable, MAKE_STATE, "--out", str(root), "--seed", "7", "--chain-lines", "500",
                    "--idem-keys", "100", "--pnl-days", "60"], check=True, capture_output=True)
    return str(root)


class Host:
    """One trading host: a state root, a store and a config aimed at the proxy."""

    def __init__(self, tmp, s3, template_root, prefix, secret=SECRET_KEY, **extra):
        self.s3 = s3
        self.root = os.path.join(tmp, "root")
        self.store = os.path.join(tmp, "store")
        self.cfg = os.path.join(tmp, "statesnap.json")
        self.prefix = prefix
        shutil.copytree(template_root, self.root, symlinks=True)
        self.write_config(secret, **extra)

    def write_config(self, secret=SECRET_KEY, **extra):
        off = {"endpoint": "http://127.0.0.1:%d" % self.s3.port, "bucket": BUCKET,
               "prefix": self.prefix, "region": "eu-test-1", "access_key": ACCESS_KEY,
               "secret_key": secret, "path_style": True, "verify_tls": True}
        off.update(extra.pop("offsite", {}))
        doc = {"root": self.root, "store": self.store, "offsite": off}
        doc.update(extra)
        with open(self.cfg, "w") as f:
            json.dump(doc, f)

    def run(self, *args, check=None, stdin=None, env=None):
        r = subprocess.run([BIN, "--config", self.cfg] + [str(a) for a in args], capture_output=True,
                           text=True, timeout=TIMEOUT, input=stdin, env=env)
        if check is not None:
            assert r.returncode == check, "statesnap %s: exit %d\nstdout: %s\nstderr: %s" % (
                " ".join(map(str, args)), r.returncode, r.stdout, r.stderr)
        return r

    def json(self, *args):
        r = self.run("--json", *args, check=0)
        return json.loads(r.stdout)

    def snapshots(self):
        return {s["name"]: s for s in self.json("list", "--limit", "1000")["snapshots"]}

    def tree(self, *dirs):
        """{relative path: sha256} of the files under root/dirs."""
        out = {}
        for d in dirs:
            for dp, _, files in os.walk(os.path.join(self.root, d)):
                for fn in files:
                    p = os.path.join(dp, fn)
                    out[os.path.relpath(p, self.root)] = sha256_file(p)
        return out

    def store_files(self):
        """{name: sha256} of every file directly in the store (not .work)."""
        out = {}
        for fn in sorted(os.listdir(self.store)):
            p = os.path.join(self.store, fn)
            if os.path.isfile(p) and not fn.startswith("catalog.db"):
                out[fn] = sha256_file(p)
        return out


@pytest.fixture
def host(tmp_path, s3, template_root, request):
    name = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower().replace("_", "-"))[:80]
    return Host(str(tmp_path), s3, template_root, "t-%s/" % name)
