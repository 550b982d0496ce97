"""snaplib.py - helpers shared by the black-box CLI and crash tests.

Everything here talks to the real statesnap binary (STATESNAP_BIN), real zip
files and real SQLite files; nothing is mocked.
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
MAKE_STATE = os.path.join(REPO, "tests", "fixtures", "make_state.py")
BIN = os.path.abspath(os.environ.get("STATESNAP_BIN", os.path.join(REPO, "build", "test", "statesnap")))
TIMEOUT = 300

NAME_RE = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
HEX64 = re.compile(r"^[0-9a-f]{64}$")
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
SAFETY_RE = re.compile(r"^pre_restore_\d{8}T\d{6}Z")

# Files make_state.py writes that the default include set must capture, plus
# the masked .env every snapshot carries.
STATE_FILES = ["state/positions.json", "state/orders.json", "state/pnl_history.json",
               "state/idempotency_store.json", "state/hash_chain.jsonl"]
CONFIG_FILES = ["config/config.json", "config/strategy_params.json", "config/risk_limits.json"]
ENV_MASKED = "env/.env.masked"
# Files in an archive that are not captured state.
ARCHIVE_META = {"manifest.json", "SHA256SUMS", "manifest.json.sig"}


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def make_state(out, *args):
    """Run the generator; returns its stdout."""
    r = subprocess.run([sys.executable, MAKE_STATE, "--out", str(out)] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, "make_state.py failed: %s" % r.stderr
    return r.stdout


def secrets_of(root):
    """The .env values of a generated root, plus every long random run inside
    them, so a leak of part of a value (a password inside a URL) is found too."""
    vals = make_state(root, "--print-secrets").splitlines()
    assert len(vals) == 6 and all(len(v) >= 16 for v in vals), vals
    out = set(vals)
    for v in vals:
        out.update(re.findall(r"[A-Za-z0-9]{16,}", v))
    return sorted(out)


def mask_env(text):
    """What env/.env.masked must hold for a .env text (SPEC section 3)."""
    out = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\n")
        if body.strip() == "" or body.lstrip().startswith("#") or "=" not in body:
            out.append(line)
        else:
            out.append(body.split("=", 1)[0] + "=********" + line[len(body):])
    return "".join(out)


def expected_paths(root):
    """Archive paths (besides manifest.json and SHA256SUMS) a snapshot of root must hold."""
    paths = [p for p in STATE_FILES + CONFIG_FILES if os.path.isfile(os.path.join(root, p))]
    if os.path.isfile(os.path.join(root, "state/KILL_SWITCH")):
        paths.append("state/KILL_SWITCH")
    paths.append(ENV_MASKED)
    return sorted(paths)


def tree(path, skip=()):
    """{relative path: bytes} of every regular file under path (symlinks as
    'symlink -> target'), plus {relative dir: None} for directories."""
    out = {}
    if not os.path.exists(path):
        return out
    for dirpath, dirnames, filenames in os.walk(path):
        rel_dir = os.path.relpath(dirpath, path)
        dirnames[:] = sorted(d for d in dirnames if os.path.normpath(os.path.join(rel_dir, d)) not in skip)
        for d in dirnames:
            full = os.path.join(dirpath, d)
            rel = os.path.normpath(os.path.join(rel_dir, d))
            out[rel + "/"] = ("symlink -> " + os.readlink(full)).encode() if os.path.islink(full) else None
        for fn in filenames:
            full = os.path.join(dirpath, fn)
            rel = os.path.normpath(os.path.join(rel_dir, fn))
            if rel in skip:
                continue
            if os.path.islink(full):
                out[rel] = ("symlink -> " + os.readlink(full)).encode()
            else:
                with open(full, "rb") as f:
                    out[rel] = f.read()
    return out


def tree_diff(before, after):
    """Human description of how two tree() results differ ('' when equal)."""
    lines = []
    for k in sorted(set(before) | set(after)):
        if k not in after:
            lines.append("removed: " + k)
        elif k not in before:
            lines.append("added: " + k)
        elif before[k] != after[k]:
            lines.append("changed: " + k)
    return "\n".join(lines)


def read_zip(path):
    """{entry name: bytes} of every entry, read with Python's zipfile (CRC-checked)."""
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        assert len(names) == len(set(names)), "duplicate entries in %s" % path
        return {n: z.read(n) for n in names}


class Statesnap:
    """One state root + one store + the binary: run(*args) -> (rc, stdout, stderr)."""

    def __init__(self, root, store, tmp):
        self.root = str(root)
        self.store = str(store)
        self.tmp = str(tmp)

    def run(self, *args, input=None, env=None, now=None, root=True, store=True, timeout=TIMEOUT):
        cmd = [BIN]
        if root:
            cmd += ["--root", self.root]
        if store:
            cmd += ["--store", self.store]
        cmd += [str(a) for a in args]
        e = dict(os.environ)
        for k in ("STATESNAP_FAILPOINT", "STATESNAP_FAILPOINT_LOG", "STATESNAP_TEST_NOW"):
            e.pop(k, None)
        if now is not None:
            e["STATESNAP_TEST_NOW"] = str(now)
        if env:
            e.update(env)
        r = subprocess.run(cmd, input=input, capture_output=True, text=True, env=e, timeout=timeout,
                           cwd=self.tmp, errors="replace")
        return r.returncode, r.stdout, r.stderr

    def ok(self, *args, **kw):
        """run() that must exit 0; returns stdout."""
        rc, out, err = self.run(*args, **kw)
        assert rc == 0, "statesnap %s: exit %d\nstdout:\n%s\nstderr:\n%s" % (" ".join(map(str, args)), rc, out, err)
        return out

    def json(self, *args, **kw):
        """run(--json ...) that must exit 0; returns the parsed document."""
        out = self.ok("--json", *args, **kw)
        try:
            return json.loads(out)
        except ValueError as ex:
            raise AssertionError("--json %s printed no JSON (%s):\n%s" % (" ".join(map(str, args)), ex, out))

    def create(self, name, *args, **kw):
        """create --name NAME --json; returns the Snapshot document."""
        return self.json("create", "--name", name, *args, **kw)

    def names(self):
        """Catalogued snapshot names, following cursors to the end."""
        names, cursor = [], None
        for _ in range(10000):
            args = ["list", "--limit", "1000"] + (["--cursor", cursor] if cursor else [])
            page = self.json(*args)
            names += [s["name"] for s in page["snapshots"]]
            cursor = page.get("next_cursor")
            if not cursor:
                return names
        raise AssertionError("list never ran out of pages")

    def archive(self, name):
        return os.path.join(self.store, name + ".zip")

    def store_zips(self):
        return sorted(f[:-4] for f in os.listdir(self.store) if f.endswith(".zip"))


def copy_root(src, dst):
    shutil.copytree(src, dst, symlinks=True)


def chain_lines(path):
    with open(path, "rb") as f:
        return f.read().splitlines()


def positions_doc(symbols):
    """A positions.json document for [(symbol, side, qty, avg_price)...]."""
    return {"positions": [{"symbol": s, "side": side, "qty": q, "avg_price": p,
                           "opened_at": "2024-12-01T10:00:00Z"} for s, side, q, p in symbols],
            "updated_at": "2024-12-01T14:30:00Z"}


def write_json(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


def human_size_ok(text, nbytes):
    """True when a size like '2.4 MB', '2.4MB', '812 KB', '17 B' is nbytes, in
    base 1000 or 1024, to the precision shown."""
    m = re.fullmatch(r"(\d+(?:\.(\d+))?) ?(B|KB|KiB|MB|MiB|GB|GiB|TB|TiB)", text)
    if not m:
        return False
    value, decimals = float(m.group(1)), len(m.group(2) or "")
    exp = {"B": 0, "KB": 1, "KiB": 1, "MB": 2, "MiB": 2, "GB": 3, "GiB": 3, "TB": 4, "TiB": 4}[m.group(3)]
    half = 0.5 * 10 ** -decimals
    for base in (1000, 1024):
        unit = base ** exp
        if abs(nbytes / unit - value) <= half + 1e-9:
            return True
    return False
