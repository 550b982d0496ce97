"""rellib.py - helpers for the reliability suite: store fingerprints, hostile
zip archives built from a real snapshot, and raw HTTP over sockets.

The server harness is tests/api/apilib.py and the CLI harness is
tests/cli/snaplib.py; this file only adds what they do not have.
"""
import hashlib
import io
import json
import os
import re
import socket
import struct
import subprocess
import threading
import time
import warnings
import zipfile
import zlib

import apilib  # noqa: F401  (tests/api, on sys.path via conftest)
import ziptools  # tests/fixtures, on sys.path via conftest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HTTP_H = os.path.join(REPO, "server", "http.h")
S_IFLNK = 0o120000
S_IFREG = 0o100000
S_IFDIR = 0o040000
# engine/engine.h: ENGINE_MAX_FILES_HARD; an archive may hold that many files
# plus ENGINE_RESERVED_ENTRIES (the masked .env, manifest.json, SHA256SUMS, a
# signature, ...), whatever the store's max_files.
ENGINE_MAX_FILES_HARD = 250000
ENGINE_RESERVED_ENTRIES = 8
CATALOG = "catalog.db"
# Sanitizer builds (make asan) are several times slower, and ASan's allocator
# keeps freed memory in quarantine, so RSS says nothing about leaks there.
SLOW = apilib.SLOW
SANITIZED = bool(os.environ.get("STATESNAP_SANITIZED"))


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def http_constant(name):
    """A limit from server/http.h ("128", "(64ULL << 20)"), so the tests
    follow the code."""
    with open(HTTP_H) as f:
        m = re.search(r"^#define %s\s+([^/\n]+)" % name, f.read(), re.M)
    assert m, "%s not found in server/http.h" % name
    expr = re.sub(r"(\d+)[uUlL]+", r"\1", m.group(1).strip())
    assert re.fullmatch(r"[\d\s()<>+*]+", expr), expr
    return int(eval(expr))


# ---------------------------------------------------------------- store state

def catalog_dump(store):
    """`sqlite3 .dump` of STORE/catalog.db as a list of lines ([] when absent)."""
    path = os.path.join(store, CATALOG)
    if not os.path.exists(path):
        return []
    r = subprocess.run(["sqlite3", "-readonly", path, ".dump"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, "sqlite3 .dump %s: %s" % (path, r.stderr)
    return r.stdout.splitlines()


def store_state(store):
    """Fingerprint of a store: {relative path: sha256} of every file and
    {relative dir/: None} of every directory, except the catalog's SQLite
    files, whose content is compared through .dump under the key '<catalog>'
    (WAL checkpoints may rewrite catalog.db's bytes without changing a row)."""
    out = {}
    for d, dirs, files in os.walk(store):
        rel_d = os.path.relpath(d, store)
        for x in dirs:
            out[os.path.normpath(os.path.join(rel_d, x)) + "/"] = None
        for x in files:
            rel = os.path.normpath(os.path.join(rel_d, x))
            if rel in (CATALOG, CATALOG + "-wal", CATALOG + "-shm", CATALOG + "-journal"):
                continue
            with open(os.path.join(d, x), "rb") as f:
                out[rel] = sha256(f.read())
    out["<catalog>"] = "\n".join(catalog_dump(store))
    return out


def audit_lines(dump):
    return [x for x in dump if x.startswith("INSERT INTO audit VALUES(")]


def audit_trail(row):
    """A row of the audit trail or of what the catalog keeps about it: the
    per-operation counts a trigger updates and the mark of how far
    audit.jsonl was flushed."""
    return row.startswith(("INSERT INTO audit VALUES(", "INSERT INTO audit_ops VALUES(",
                           "INSERT INTO audit_flushed VALUES("))


def diff_states(before, after, allow_audit_errors=False):
    """'' when two store_state() results are equal; otherwise what differs.
    With allow_audit_errors, entries appended to the audit trail (catalog rows
    and audit.jsonl lines) are accepted when each records result "error": a
    refused restore is audited by design (engine/op_restore.c)."""
    lines = []
    b, a = dict(before), dict(after)
    if allow_audit_errors:
        bd, ad = b.pop("<catalog>").splitlines(), a.pop("<catalog>").splitlines()
        if [x for x in bd if not audit_trail(x)] != [x for x in ad if not audit_trail(x)]:
            lines.append("catalog rows other than the audit trail changed")
        ba, aa = audit_lines(bd), audit_lines(ad)
        if aa[:len(ba)] != ba:
            lines.append("earlier audit rows changed")
        for row in aa[len(ba):]:
            if ",'error'," not in row:
                lines.append("appended audit row is not an error: " + row[:300])
        b.pop("audit.jsonl", None)
        a.pop("audit.jsonl", None)
    for k in sorted(set(b) | set(a)):
        if k not in a:
            lines.append("removed: " + k)
        elif k not in b:
            lines.append("added: " + k)
        elif b[k] != a[k]:
            lines.append("changed: " + k)
    return "\n".join(lines)


def audit_jsonl_appended_errors(store, before_text):
    """The audit.jsonl lines appended since before_text; each must be a
    result "error" entry. Returns the parsed entries."""
    with open(os.path.join(store, "audit.jsonl"), "rb") as f:
        now = f.read().decode()
    assert now.startswith(before_text), "audit.jsonl was rewritten, not appended to"
    out = [json.loads(x) for x in now[len(before_text):].splitlines() if x.strip()]
    for ent in out:
        assert ent["result"] == "error", ent
    return out


# ---------------------------------------------------------------- hostile zips

def read_entries(data):
    """[(ZipInfo, bytes)] of an archive, in order."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return [(i, z.read(i.filename)) for i in z.infolist()]


def sums_text(manifest):
    """SHA256SUMS exactly as engine/manifest.c writes it: one line per file,
    in manifest order."""
    return "".join("%s  %s\n" % (f["sha256"], f["path"]) for f in manifest["files"]).encode()


def manifest_bytes(m):
    return (json.dumps(m, indent=2, sort_keys=True) + "\n").encode()


def build_zip(entries, compression=zipfile.ZIP_DEFLATED):
    """Write [(name, bytes, mode or None, compress_type or None)] as a zip.
    Names are written as given (zipfile's clean-up of '..' and '/' is
    bypassed), mode sets the Unix external attributes, duplicates are kept."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as z, warnings.catch_warnings():
        warnings.simplefilter("ignore")   # duplicate names are the point of some tests
        for name, body, mode, ctype in entries:
            zi = zipfile.ZipInfo("x", date_time=(2024, 12, 1, 14, 30, 0))
            zi.filename = name
            zi.orig_filename = name
            zi.create_system = 3
            zi.external_attr = ((mode if mode is not None else S_IFREG | 0o644) & 0xFFFF) << 16
            zi.compress_type = compression if ctype is None else ctype
            z.writestr(zi, body)
    return out.getvalue()


class Snapshot:
    """A real archive, decomposed so that hostile variants can be rebuilt
    with everything else still valid (manifest, SHA256SUMS, hashes)."""

    def __init__(self, data, sign_key=None):
        """sign_key: a store's signing_key.pem; every rebuild's manifest bytes
        are then signed with it (manifest.json.sig), as the store's own are,
        so the rule under test and not the signature check refuses each."""
        self.data = data
        self.sign_key = sign_key
        self.entries = [(i.filename, b) for i, b in read_entries(data)]
        self.manifest = json.loads(dict(self.entries)["manifest.json"])

    def file_entries(self):
        return [(n, b) for n, b in self.entries
                if n not in ("manifest.json", "SHA256SUMS", "manifest.json.sig")]

    def rebuild(self, name=None, files=None, manifest_files=None, manifest=None, sums=None,
                extra=(), drop=(), modes=None, ctypes=None):
        """A new archive. files: [(path, bytes)] (default: the real ones);
        manifest_files: the manifest's "files" list (default: computed from
        files, so every hash is right); manifest/sums: raw bytes to use
        instead; extra: [(name, bytes)] entries that are NOT listed; drop:
        entry names to leave out; modes/ctypes: {entry: st_mode / zip method}."""
        files = list(self.file_entries() if files is None else files)
        m = json.loads(json.dumps(self.manifest))
        if name is not None:
            m["name"] = name
        if manifest_files is None:
            by_path = {f["path"]: f for f in self.manifest["files"]}
            manifest_files = []
            for p, b in files:
                f = dict(by_path.get(p, {"group": "state"}))
                f.update(path=p, size=len(b), sha256=sha256(b))
                manifest_files.append(f)
        m["files"] = manifest_files
        mb = manifest_bytes(m) if manifest is None else manifest
        sb = sums_text(m) if sums is None else sums
        modes = modes or {}
        ctypes = ctypes or {}
        out = [(p, b, modes.get(p), ctypes.get(p)) for p, b in files]
        out += [(p, b, modes.get(p), ctypes.get(p)) for p, b in extra]
        out += [("SHA256SUMS", sb, None, None), ("manifest.json", mb, None, None)]
        if self.sign_key is not None:
            out.append(("manifest.json.sig", ziptools.sign(mb, self.sign_key), None, None))
        return build_zip([e for e in out if e[0] not in drop])


def central_directory(data):
    """[(offset of the central header, name, local header offset)]."""
    eocd = data.rfind(b"PK\x05\x06")
    assert eocd >= 0, "no end of central directory"
    n, _size, off = struct.unpack("<HII", data[eocd + 10:eocd + 20])
    out = []
    for _ in range(n):
        assert data[off:off + 4] == b"PK\x01\x02", "bad central header at %d" % off
        nlen, xlen, clen = struct.unpack("<HHH", data[off + 28:off + 34])
        lho = struct.unpack("<I", data[off + 42:off + 46])[0]
        out.append((off, data[off + 46:off + 46 + nlen].decode("utf-8", "replace"), lho))
        off += 46 + nlen + xlen + clen
    return out


def patch_entry(data, name, crc=None, usize=None):
    """Rewrite the CRC-32 and/or uncompressed size of entry NAME in both its
    local and central headers (the data itself is left alone)."""
    b = bytearray(data)
    for cd, n, lho in central_directory(data):
        if n != name:
            continue
        assert b[lho:lho + 4] == b"PK\x03\x04"
        if crc is not None:
            struct.pack_into("<I", b, cd + 16, crc)
            struct.pack_into("<I", b, lho + 14, crc)
        if usize is not None:
            struct.pack_into("<I", b, cd + 24, usize)
            struct.pack_into("<I", b, lho + 22, usize)
        return bytes(b)
    raise AssertionError("no entry %s" % name)


def hostile_archives(snap, name):
    """{kind: archive bytes}: each breaks exactly one rule and is otherwise
    a valid archive of manifest name NAME (so only the rule under test can
    reject it). Every kind is small; the bombs are bounded by design."""
    files = snap.file_entries()
    fmap = dict(files)
    pos = "state/positions.json"
    chain = "state/hash_chain.jsonl"
    out = {}

    # Path rules, with the hostile entry listed in a consistent manifest and
    # SHA256SUMS, so nothing but the path check can refuse it.
    out["zip_slip"] = snap.rebuild(name, files + [("../escape.json", b"{}\n")])
    out["zip_slip_nested"] = snap.rebuild(name, files + [("state/../../escape.json", b"{}\n")])
    out["absolute_path"] = snap.rebuild(name, files + [("/tmp/statesnap-abs.json", b"{}\n")])
    out["backslash_path"] = snap.rebuild(name, files + [("state\\..\\..\\escape.json", b"{}\n")])
    # A symlink entry (Unix mode S_IFLNK in the external attributes) whose
    # "content" is its target; both a new path and one replacing a real file.
    out["symlink_entry"] = snap.rebuild(name, files + [("state/link.json", b"/etc/passwd")],
                                        modes={"state/link.json": S_IFLNK | 0o777})
    out["symlink_replaces_file"] = snap.rebuild(
        name, [(p, b"../../../etc/passwd" if p == pos else b) for p, b in files],
        modes={pos: S_IFLNK | 0o777})
    out["directory_entry"] = snap.rebuild(name, extra=[("state/sub/", b"")],
                                          modes={"state/sub/": S_IFDIR | 0o755})
    # The same name twice: the second copy carries other bytes.
    out["duplicate_entry"] = snap.rebuild(name, extra=[(pos, b'{"positions": []}\n')])
    out["duplicate_manifest"] = snap.rebuild(name, extra=[("manifest.json", b"{}")])
    # More entries than the limit; each is empty and stored, so the file stays ~1 MB.
    bomb = [("e/%06d" % i, b"") for i in range(ENGINE_MAX_FILES_HARD + ENGINE_RESERVED_ENTRIES + 1)]
    out["entry_count_bomb"] = snap.rebuild(name, files + bomb, ctypes={p: zipfile.ZIP_STORED for p, _ in bomb})
    # Uncompressed-size bombs. (a) 64 MiB of zeros (64 KiB deflated) whose
    # headers claim the manifest's size for the file: only a reader that stops
    # at the promised size refuses it in bounded time and memory.
    real = fmap[chain]
    zeros = b"\0" * (64 << 20)
    z = snap.rebuild(name, [(p, zeros if p == chain else b) for p, b in files],
                     manifest_files=[f for f in snap.manifest["files"]])
    out["size_bomb_lying_header"] = patch_entry(z, chain, crc=zlib.crc32(real), usize=len(real))
    # (b) a header that declares ~4 GiB for a small entry the manifest also
    # calls small.
    out["size_bomb_declared"] = patch_entry(snap.rebuild(name), chain, usize=0xFFFFFFF0)
    # (c) manifest and header agree on 64 MiB of zeros, but the SHA-256 is the
    # original file's: everything is read, and the hash refuses it.
    mf = [dict(f, size=len(zeros)) if f["path"] == chain else f for f in snap.manifest["files"]]
    out["size_bomb_consistent_bad_hash"] = snap.rebuild(
        name, [(p, zeros if p == chain else b) for p, b in files], manifest_files=mf)
    # Damage.
    good = snap.rebuild(name)
    out["truncated_half"] = good[: len(good) // 2]
    out["truncated_tail"] = good[:-10]
    out["truncated_entry_data"] = _truncate_inside(good, chain)
    out["empty_file"] = b""
    out["not_a_zip"] = b"this is not a zip archive at all\n" * 20
    crc = zlib.crc32(fmap[pos])
    out["bad_crc"] = patch_entry(good, pos, crc=crc ^ 0x5A5A5A5A)
    out["flipped_data_byte"] = _flip_stored_byte(snap, name, pos)
    # Hashes. The data is changed, manifest and SHA256SUMS keep the old hashes.
    out["wrong_sha256"] = snap.rebuild(
        name, [(p, b.replace(b"}", b" }", 1) if p == pos else b) for p, b in files],
        manifest_files=[dict(f, size=f["size"] + 1) if f["path"] == pos else f
                        for f in snap.manifest["files"]])
    # The manifest's hash is wrong and SHA256SUMS agrees with it.
    out["manifest_sha256_wrong"] = snap.rebuild(
        name, manifest_files=[dict(f, sha256="0" * 64) if f["path"] == pos else f
                              for f in snap.manifest["files"]])
    # SHA256SUMS disagrees with a correct manifest.
    out["sha256sums_disagrees"] = snap.rebuild(name, sums=sums_text(snap.manifest).replace(
        b"  " + pos.encode(), b"  state/other.json"))
    # ... or lacks its last line, has one line more, or its last newline.
    sums = sums_text(snap.manifest)
    out["sha256sums_short"] = snap.rebuild(name, sums=sums[:sums.rstrip(b"\n").rfind(b"\n") + 1])
    out["sha256sums_extra_line"] = snap.rebuild(name, sums=sums + b"0" * 64 + b"  state/extra.json\n")
    out["sha256sums_no_last_newline"] = snap.rebuild(name, sums=sums[:-1])
    # Manifest.
    out["missing_manifest"] = snap.rebuild(name, drop=("manifest.json",))
    out["missing_sha256sums"] = snap.rebuild(name, drop=("SHA256SUMS",))
    out["malformed_manifest"] = snap.rebuild(name, manifest=b'{"format": 1, "name": "' + name.encode() + b'", "files": [')
    out["manifest_wrong_shape"] = snap.rebuild(name, manifest=json.dumps(
        dict(snap.manifest, name=name, files={"state/positions.json": 1})).encode())
    out["manifest_not_object"] = snap.rebuild(name, manifest=b"[]")
    out["manifest_bad_format"] = snap.rebuild(name, manifest=manifest_bytes(
        dict(snap.manifest, name=name, format=99)))
    out["manifest_unsafe_name"] = snap.rebuild("../evil")
    out["manifest_invalid_utf8"] = snap.rebuild(name, manifest=manifest_bytes(
        dict(snap.manifest, name=name)).replace(b'"host": "', b'"host": "\xff\xfe', 1))
    # A listed file the zip lacks: (a) plainly missing, (b) with an unlisted
    # entry in its place so the entry count still matches.
    ghost = [dict(path="state/ghost.json", size=3, sha256=sha256(b"{}\n"), group="state")]
    out["listed_file_missing"] = snap.rebuild(name, manifest_files=snap.manifest["files"] + ghost)
    out["listed_file_swapped"] = snap.rebuild(name, manifest_files=snap.manifest["files"] + ghost,
                                              extra=[("state/other.json", b"{}\n")])
    # An entry the manifest does not list.
    out["extra_unlisted_entry"] = snap.rebuild(name, extra=[("state/extra.json", b"{}\n")])
    # Methods the engine does not read.
    out["bzip2_entry"] = snap.rebuild(name, ctypes={pos: zipfile.ZIP_BZIP2})
    return out


def _truncate_inside(data, name):
    """Cut the bytes of entry NAME's compressed data short while keeping every
    header and the central directory (offsets fixed up)."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        info = z.getinfo(name)
    lho = info.header_offset
    nlen, xlen = struct.unpack("<HH", data[lho + 26:lho + 30])
    start = lho + 30 + nlen + xlen
    cut = info.compress_size // 2
    new = data[:start + cut] + data[start + info.compress_size:]
    # Shift every later offset by the bytes removed.
    delta = info.compress_size - cut
    b = bytearray(new)
    eocd = new.rfind(b"PK\x05\x06")
    n, size, cdoff = struct.unpack("<HII", new[eocd + 10:eocd + 20])
    struct.pack_into("<I", b, eocd + 16, cdoff - delta)
    off = cdoff - delta
    for _ in range(n):
        nl, xl, cl = struct.unpack("<HHH", b[off + 28:off + 34])
        ho = struct.unpack("<I", b[off + 42:off + 46])[0]
        if ho > lho:
            struct.pack_into("<I", b, off + 42, ho - delta)
        off += 46 + nl + xl + cl
    return bytes(b)


def _flip_stored_byte(snap, name, path):
    """One byte changed inside a stored (uncompressed) entry, CRC and sizes left
    as they were: the CRC check (and the hash) must catch it."""
    data = snap.rebuild(name, ctypes={path: zipfile.ZIP_STORED})
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        info = z.getinfo(path)
    lho = info.header_offset
    nlen, xlen = struct.unpack("<HH", data[lho + 26:lho + 30])
    at = lho + 30 + nlen + xlen + info.compress_size // 2
    b = bytearray(data)
    b[at] ^= 0x01
    return bytes(b)


# ---------------------------------------------------------------- raw HTTP

def raw_request(port, data, timeout=10.0, read_all=True):
    """Send bytes on a fresh connection; return (status or None, head, body bytes).
    A closed or reset connection gives status None."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        buf = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
                if not read_all and b"\r\n\r\n" in buf:
                    break
        except (ConnectionResetError, socket.timeout):
            pass
    finally:
        s.close()
    return parse_response(buf)


def parse_response(buf):
    if not buf.startswith(b"HTTP/1."):
        return None, b"", buf
    head, _, body = buf.partition(b"\r\n\r\n")
    try:
        status = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        status = None
    return status, head, body


def header(head, name):
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == name.lower().encode():
            return v.strip().decode("latin-1")
    return None


def healthz_ok(port, within=5.0 * SLOW):
    """GET /healthz on a fresh connection answers 200 within `within` seconds;
    returns the seconds it took."""
    t = time.monotonic()
    status, head, body = raw_request(port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                                     timeout=within)
    took = time.monotonic() - t
    assert status == 200, "a fresh client got no /healthz 200 within %.1fs (status %r, %r)" % (
        within, status, body[:200])
    assert took <= within, took
    return took


def vm_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


class SlowClient(threading.Thread):
    """One connection that sends the start of a request byte by byte and then
    nothing: the server must close it once its connection timeout passes.
    Meanwhile a fresh client probes /healthz every couple of seconds. Runs in
    the background so the wait overlaps the rest of the suite."""

    PARTIAL = b"GET /api/v1/snapshots HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "

    def __init__(self, port, timeout):
        super().__init__(daemon=True)
        self.port = port
        self.timeout = timeout
        self.stop = threading.Event()
        self.closed_after = None    # seconds from the last byte to the close
        self.answer = b""
        self.probes = []            # (seconds, status) of each /healthz
        self.error = None

    def run(self):
        try:
            sk = socket.create_connection(("127.0.0.1", self.port))
            for i in range(len(self.PARTIAL)):
                sk.send(self.PARTIAL[i:i + 1])
                time.sleep(0.05)
            last = time.monotonic()
            sk.settimeout(2)
            while not self.stop.is_set() and time.monotonic() - last < self.timeout + 30:
                t = time.monotonic()
                try:
                    status, _, _ = raw_request(self.port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                               b"Connection: close\r\n\r\n", timeout=15)
                except OSError:
                    status = None
                self.probes.append((time.monotonic() - t, status))
                try:
                    data = sk.recv(4096)
                except socket.timeout:
                    continue
                except ConnectionResetError:
                    data = b""
                self.answer = data
                self.closed_after = time.monotonic() - last
                break
            sk.close()
        except Exception as ex:   # reported by the test that checks this client
            self.error = repr(ex)
