"""apilib.py - black-box helpers for the HTTP API tests.

Starts the real statesnap binary (`serve`) on a free loopback port with a temp
store and a generated state root, and wraps `requests` so that EVERY response is
checked against openapi.yaml: the status must be documented for the operation,
the content type must be one the operation declares, and a JSON body must match
the declared schema. Nothing is mocked.
"""
import hashlib
import json
import os
import re
import secrets
import socket
import shutil
import signal
import subprocess
import sys
import time

import jsonschema
import requests
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
MAKE_STATE = os.path.join(REPO, "tests", "fixtures", "make_state.py")
BIN = os.path.abspath(os.environ.get("STATESNAP_BIN", os.path.join(REPO, "build", "test", "statesnap")))
SPEC_PATH = os.path.join(REPO, "openapi.yaml")
START_TIMEOUT = 15
# Sanitizer and valgrind builds are several times slower.
SLOW = 5 if os.environ.get("STATESNAP_SANITIZED") else 1

with open(SPEC_PATH) as f:
    SPEC = yaml.safe_load(f)

JSON_TYPES = ("application/json", "application/problem+json")


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def make_state(out, *args):
    r = subprocess.run([sys.executable, MAKE_STATE, "--out", str(out)] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, "make_state.py failed: %s" % r.stderr
    return r.stdout


def tree_hashes(root):
    """{relative path: sha256} of every regular file under root (not .git)."""
    out = {}
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if x != ".git"]
        for name in files:
            p = os.path.join(d, name)
            out[os.path.relpath(p, root)] = sha256_file(p)
    return out


def store_listing(store):
    """Archives and other top-level files of a store, for 'nothing changed' checks."""
    return sorted(x for x in os.listdir(store) if x.endswith(".zip"))


# ---------------------------------------------------------------- schema checks

def _resolve(obj):
    while isinstance(obj, dict) and "$ref" in obj:
        parts = obj["$ref"].lstrip("#/").split("/")
        node = SPEC
        for p in parts:
            node = node[p]
        obj = node
    return obj


_TEMPLATES = []
for _tpl in SPEC["paths"]:
    _rx = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(_tpl)) + "$"
    if _tpl == "/static/{path}":
        _rx = "^/static/.+$"
    _TEMPLATES.append((_tpl, re.compile(_rx), "{" not in _tpl))
# Literal paths win over templates, as in the server's route table.
_TEMPLATES.sort(key=lambda t: not t[2])


def template_for(path):
    for tpl, rx, _ in _TEMPLATES:
        if rx.match(path):
            return tpl
    return None


def validate_schema(schema, doc, what):
    root = dict(schema)
    root["components"] = SPEC["components"]
    try:
        jsonschema.Draft202012Validator(root).validate(doc)
    except jsonschema.ValidationError as e:
        raise AssertionError("%s: body does not match openapi.yaml: %s at %s\nbody: %s"
                             % (what, e.message, list(e.absolute_path), json.dumps(doc)[:2000]))


def schema_of(name):
    return {"$ref": "#/components/schemas/" + name}


def check_response(method, path, r):
    """Assert that r is what openapi.yaml documents for METHOD path."""
    what = "%s %s -> %d" % (method, path, r.status_code)
    assert r.headers.get("X-Request-Id"), what + ": no X-Request-Id"
    ctype = r.headers.get("Content-Type", "").split(";")[0].strip()
    has_body = method != "HEAD" and len(r.content) > 0
    tpl = template_for(path)
    op = SPEC["paths"][tpl].get(method.lower() if method != "HEAD" else "get") if tpl else None
    if op is None:
        # No such route, or not with this method: a problem document.
        assert r.status_code in (404, 405), what + ": undocumented path/method"
        if r.status_code == 405:
            assert r.headers.get("Allow"), what + ": 405 without Allow"
        assert ctype == "application/problem+json", what + ": " + ctype
        validate_schema(schema_of("Problem"), r.json(), what)
        return
    responses = op["responses"]
    code = str(r.status_code)
    assert code in responses, "%s: status not documented in openapi.yaml (%s)" % (what, sorted(responses))
    resp = _resolve(responses[code])
    content = resp.get("content")
    if not has_body:
        return
    assert content, what + ": a body where openapi.yaml documents none"
    assert ctype in content, "%s: content type %s not documented (%s)" % (what, ctype, list(content))
    if ctype in JSON_TYPES:
        validate_schema(content[ctype]["schema"], r.json(), what)


class Api:
    """requests against one server; every response is schema-checked."""

    def __init__(self, base, token=None, verify=True):
        self.base = base
        self.token = token
        self.session = requests.Session()
        self.verify = verify

    def with_token(self, token):
        return Api(self.base, token, self.verify)

    def request(self, method, path, expect=None, token="default", headers=None, **kw):
        h = dict(headers or {})
        # Every POST and PATCH route takes JSON (or a zip, which names its
        # own type), and the server refuses one without the type even when
        # it has no body, as a browser client must send it too.
        if method in ("POST", "PATCH") and "json" not in kw and "data" not in kw and \
                not any(k.lower() == "content-type" for k in h):
            h["Content-Type"] = "application/json"
        tok = self.token if token == "default" else token
        if tok is not None:
            h["Authorization"] = "Bearer " + tok
        kw.setdefault("timeout", 120 * SLOW)
        r = self.session.request(method, self.base + path, headers=h, verify=self.verify, **kw)
        check_response(method, path.split("?")[0], r)
        if expect is not None:
            assert r.status_code == expect, "%s %s: expected %d, got %d: %s" % (
                method, path, expect, r.status_code, r.text[:500])
        return r

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        if body is not None:
            kw["json"] = body
        return self.request("POST", path, **kw)

    def patch(self, path, body=None, **kw):
        if body is not None:
            kw["json"] = body
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def create(self, name=None, **extra):
        body = dict(extra)
        if name is not None:
            body["name"] = name
        return self.post("/api/v1/snapshots", body, expect=201).json()


# ---------------------------------------------------------------- the server

class Server:
    """One `statesnap serve` process with its own config, root and store."""

    def __init__(self, workdir, root, tokens=None, config=None, args=(), listen="127.0.0.1:0",
                 env=None):
        self.workdir = str(workdir)
        self.root = str(root)
        self.store = os.path.join(self.workdir, "store")
        self.log_path = os.path.join(self.workdir, "server.log")
        self.port_file = os.path.join(self.workdir, "port")
        self.tokens = tokens or {}
        cfg = {"tokens": [{"name": n, "role": role, "sha256": sha256(tok.encode())}
                          for n, (role, tok) in self.tokens.items()]}
        # The quiet period before a restore's swap (2 s) is tested where it
        # matters (tests/live); here, as on the release binary, it is off.
        cfg["restore_quiet_ms"] = 0
        cfg.update(config or {})
        self.config_path = os.path.join(self.workdir, "statesnap.json")
        with open(self.config_path, "w") as f:
            json.dump(cfg, f)
        self.cmd = [BIN, "--config", self.config_path, "--root", self.root, "--store", self.store,
                    "serve", "--listen", listen, "--port-file", self.port_file] + list(args)
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.port = None
        self.scheme = "https" if "--tls-cert" in args else "http"

    def start(self, expect_ok=True):
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=self.log, env=self.env,
                                     cwd=self.workdir)
        deadline = time.time() + START_TIMEOUT * SLOW
        while time.time() < deadline:
            if os.path.exists(self.port_file):
                with open(self.port_file) as f:
                    text = f.read().strip()
                if text:
                    self.port = int(text)
                    return self
            if self.proc.poll() is not None:
                if expect_ok:
                    raise AssertionError("server exited %d at start:\n%s"
                                         % (self.proc.returncode, self.log_text()))
                return self
            time.sleep(0.02)
        raise AssertionError("server did not start:\n" + self.log_text())

    @property
    def base(self):
        return "%s://127.0.0.1:%d" % (self.scheme, self.port)

    def api(self, token=None):
        return Api(self.base, token, verify=False if self.scheme == "https" else True)

    def token(self, name):
        return self.tokens[name][1]

    def stop(self, sig=signal.SIGTERM, timeout=60):
        """Signal the server and wait; returns its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("server did not stop within %ds after signal %d" % (timeout, sig))
        self.log.close()
        rc = self.proc.returncode
        self.proc = None
        return rc

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_lines(self):
        out = []
        for line in self.log_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def cli(self, *args):
        """Run the CLI against the same root and store: (rc, stdout, stderr)."""
        r = subprocess.run([BIN, "--root", self.root, "--store", self.store] + list(args),
                           capture_output=True, text=True, timeout=300 * SLOW, cwd=self.workdir)
        return r.returncode, r.stdout, r.stderr


def new_tokens():
    return {"reader": ("read", "r-" + secrets.token_hex(16)),
            "writer": ("write", "w-" + secrets.token_hex(16)),
            "admin": ("admin", "a-" + secrets.token_hex(16))}


def copy_root(template, dst):
    shutil.copytree(template, dst, symlinks=True)
    return str(dst)


def raw_get(port, target):
    """The whole raw response to a GET whose request target is sent byte for
    byte (requests would quote it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as c:
        c.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                return data
            data += chunk


def init_store(server):
    """`statesnap init` the server's store: for a server whose state root is
    missing, which (by design) does not make a store itself."""
    r = subprocess.run([BIN, "--store", server.store, "init"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
