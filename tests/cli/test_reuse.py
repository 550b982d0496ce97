"""Reuse (issue 18): a repeat create copies the previous snapshot's compressed
bytes for the files that did not change and continues an append-only file's
deflate stream from its last sync-flushed block; every archive stays a
standard, self-contained zip. Nothing here is timed."""
import json
import os
import struct
import subprocess
import zipfile

import pytest

from snaplib import Statesnap, make_state, read_zip, sha256_file

CHAIN = "state/hash_chain.jsonl"
BIG = "state/history.json"      # > 4 MiB: read into a private copy, not memory
BLOCK = 1 << 20


@pytest.fixture
def cfg(tmp_path):
    """Two deflate threads whatever the machine: pdeflate (and so the
    deflate_prefix a later create continues) is used for large files."""
    p = tmp_path / "statesnap.json"
    p.write_text(json.dumps({"compress_threads": 2}))
    return str(p)


@pytest.fixture
def big_root(tmp_path):
    root = tmp_path / "bigroot"
    make_state(root, "--seed", "18", "--chain-bytes", str(3 * BLOCK + 300000))
    with open(root / BIG, "w") as f:
        json.dump([{"day": i, "equity": 1000000 + i * 7, "note": "x" * (i % 50)} for i in range(90000)], f)
    assert os.path.getsize(root / BIG) > 4 * BLOCK
    return str(root)


@pytest.fixture
def bs(big_root, tmp_path):
    work = tmp_path / "cwd"
    work.mkdir()
    return Statesnap(big_root, tmp_path / "store", work)


def create(s, cfg, name):
    return s.json("--config", cfg, "create", "--name", name)


def manifest(s, name):
    with zipfile.ZipFile(s.archive(name)) as z:
        return json.loads(z.read("manifest.json"))


def files_of(m):
    """{path: the file's reuse note}, for every file in files[] (files[] itself
    is as without reuse: path, size, sha256, group)."""
    notes = m.get("reuse", {}).get("files", {})
    assert set(notes) <= {f["path"] for f in m["files"]}
    for f in m["files"]:
        assert set(f) == {"path", "size", "sha256", "group"}, f
    return {f["path"]: notes.get(f["path"], {}) for f in m["files"]}


def reused_from(m):
    return m.get("reuse", {}).get("from")


def advance(root, n=2000):
    make_state(root, "--advance", n)


def raw_entry(path, name):
    """An entry's compressed bytes as they sit in the zip."""
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(name)
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        head = f.read(30)
        n, extra = struct.unpack("<HH", head[26:30])
        f.seek(info.header_offset + 30 + n + extra)
        return f.read(info.compress_size)


def assert_standard_and_right(s, name, tmp_path):
    """unzip -t, sha256sum -c SHA256SUMS, statesnap verify, and every entry
    inflating (CRC-checked) to the root's bytes."""
    path = s.archive(name)
    r = subprocess.run(["unzip", "-tq", path], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    out = tmp_path / ("x-" + name)
    subprocess.run(["unzip", "-q", "-d", str(out), path], check=True)
    r = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=out, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    s.ok("verify", name)
    entries = read_zip(path)
    for rel, f in files_of(manifest(s, name)).items():
        if rel.startswith("env/"):
            continue
        with open(os.path.join(s.root, rel), "rb") as src:
            assert entries[rel] == src.read(), rel
    return entries


def test_a_repeat_copies_what_did_not_change_and_matches_a_fresh_deflate(bs, cfg, tmp_path):
    create(bs, cfg, "a")
    first = files_of(manifest(bs, "a"))
    assert reused_from(manifest(bs, "a")) is None
    assert not any("reused" in f for f in first.values())
    # The chain went through pdeflate: where a later create can continue it.
    dp = first[CHAIN]["deflate_prefix"]
    assert dp["bytes"] == 3 * BLOCK and 0 < dp["compressed"] < raw_len(bs.archive("a"), CHAIN)
    advance(bs.root)
    create(bs, cfg, "b")
    m = manifest(bs, "b")
    got = files_of(m)
    assert reused_from(m) == "a"
    for rel in ("config/config.json", "config/risk_limits.json", BIG):
        assert got[rel].get("reused") == "entry", rel
    assert got[CHAIN]["reused"] == "prefix" and got[CHAIN]["reused_bytes"] == 3 * BLOCK
    for rel in ("state/positions.json", "state/orders.json"):     # changed by the advance
        assert "reused" not in got[rel], rel
    entries = assert_standard_and_right(bs, "b", tmp_path)

    # The same root in a fresh store: the same inflated bytes, and the chain's
    # stream is even the same compressed bytes (the tail had the prefix's
    # last 32 KiB as its dictionary, as a full deflate's block does).
    fresh = Statesnap(bs.root, tmp_path / "fresh", bs.tmp)
    create(fresh, cfg, "b")
    assert reused_from(manifest(fresh, "b")) is None
    fresh_entries = read_zip(fresh.archive("b"))
    for rel in got:
        assert entries[rel] == fresh_entries[rel], rel
    assert raw_entry(bs.archive("b"), CHAIN) == raw_entry(fresh.archive("b"), CHAIN)
    assert raw_entry(bs.archive("b"), BIG) == raw_entry(bs.archive("a"), BIG)

    # Past a block boundary the next create continues b's stream further.
    advance(bs.root, 6000)
    create(bs, cfg, "c")
    c = files_of(manifest(bs, "c"))
    assert c[CHAIN]["reused"] == "prefix" and c[CHAIN]["reused_bytes"] == got[CHAIN]["deflate_prefix"]["bytes"]
    assert c[CHAIN]["deflate_prefix"]["bytes"] > c[CHAIN]["reused_bytes"]
    assert_standard_and_right(bs, "c", tmp_path)
    assert raw_entry(bs.archive("c"), CHAIN) == raw_entry(create_fresh(bs, cfg, tmp_path, "c"), CHAIN)


def test_the_chain_scan_resumes_from_the_record_and_says_what_a_full_scan_says(bs, cfg, tmp_path):
    """A repeat create does not parse the chain's lines before the record's
    mark again: the scan resumes from the state carried (under the MAC) in
    the previous deflate_prefix. Tip, links and the first bad line (before
    the mark) are what a fresh store's full scan of the same root says."""
    path = os.path.join(bs.root, CHAIN)
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    ev = json.loads(lines[4])
    ev["prev"] = "0" * 64                       # line 5 does not link to line 4
    lines[4] = json.dumps(ev).encode()
    with open(path, "wb") as f:
        f.write(b"\n".join(lines))
    create(bs, cfg, "a")
    a = manifest(bs, "a")
    assert a["chain"]["links_ok"] is False and a["chain"]["first_bad_line"] == 5
    dp = files_of(a)[CHAIN]["deflate_prefix"]
    mark = dp["chain"]
    assert mark["fields"] == ["seq", "hash", "prev"] and 0 < mark["from"] <= dp["bytes"]
    with open(path, "rb") as f:
        head = f.read(mark["from"])
    assert head.endswith(b"\n") and mark["lines"] == head.count(b"\n")
    assert mark["links_ok"] is False and mark["first_bad_line"] == 5
    before = "a"
    for name, n in (("b", 2000), ("c", 6000), ("d", 10)):
        resume_at = files_of(manifest(bs, before))[CHAIN]["deflate_prefix"]["chain"]["from"]
        advance(bs.root, n)
        create(bs, cfg, name)
        m = manifest(bs, name)
        note = files_of(m)[CHAIN]
        assert note["reused"] == "prefix" and note["chain_scanned_from"] == resume_at, note
        full = Statesnap(bs.root, tmp_path / ("full-" + name), bs.tmp)
        create(full, cfg, name)
        assert "chain_scanned_from" not in files_of(manifest(full, name))[CHAIN]
        assert m["chain"] == manifest(full, name)["chain"]
        assert m["chain"]["first_bad_line"] == 5 and m["chain"]["lines"] > mark["lines"]
        before = name
    bs.ok("verify", "d")


def test_other_chain_field_names_scan_the_whole_chain_again(bs, cfg, tmp_path):
    """The carried state is for the field names it was made under: with
    others configured the next create scans every line."""
    create(bs, cfg, "a")
    advance(bs.root)
    other = tmp_path / "other-fields.json"
    other.write_text(json.dumps({"compress_threads": 2,
                                 "capture": {"chain": {"seq_field": "seq", "hash_field": "prev",
                                                       "prev_field": "hash"}}}))
    create(bs, str(other), "b")
    note = files_of(manifest(bs, "b"))[CHAIN]
    assert note["reused"] == "prefix" and "chain_scanned_from" not in note
    full = Statesnap(bs.root, tmp_path / "full", bs.tmp)
    create(full, str(other), "b")
    assert manifest(bs, "b")["chain"] == manifest(full, "b")["chain"]
    assert manifest(bs, "b")["chain"]["links_ok"] is False    # hash and prev swapped


def raw_len(path, name):
    with zipfile.ZipFile(path) as z:
        return z.getinfo(name).compress_size


def create_fresh(s, cfg, tmp_path, name):
    fresh = Statesnap(s.root, tmp_path / ("fresh-" + name), s.tmp)
    create(fresh, cfg, name)
    return fresh.archive(name)


def test_nothing_changed_copies_every_entry(bs, cfg, tmp_path):
    create(bs, cfg, "a")
    create(bs, cfg, "b")
    got = files_of(manifest(bs, "b"))
    # Every deflated file came from a (the chain whole: it did not grow).
    assert got[CHAIN]["reused"] == "entry"
    dp_a = files_of(manifest(bs, "a"))[CHAIN]["deflate_prefix"]
    dp_b = got[CHAIN]["deflate_prefix"]
    assert dp_a.pop("mac") != dp_b.pop("mac")       # keyed to the snapshot's name too
    assert dp_a == dp_b
    assert all(f.get("reused") == "entry" for p, f in got.items() if not p.startswith("env/")), got
    assert_standard_and_right(bs, "b", tmp_path)


def test_a_rewritten_chain_prefix_is_deflated_again(bs, cfg, tmp_path):
    create(bs, cfg, "a")
    make_state(bs.root, "--edit-chain-line", 5)      # the chain's start, same length
    advance(bs.root)
    create(bs, cfg, "b")
    got = files_of(manifest(bs, "b"))
    assert "reused" not in got[CHAIN]
    assert got[BIG]["reused"] == "entry"
    assert_standard_and_right(bs, "b", tmp_path)


def test_a_corrupted_previous_archive_is_not_copied_from(bs, cfg, tmp_path):
    create(bs, cfg, "a")
    # Flip one byte inside the chain's compressed data in a.zip.
    path = bs.archive("a")
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(CHAIN)
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        n, extra = struct.unpack("<HH", f.read(30)[26:30])
    at = info.header_offset + 30 + n + extra + 1000
    with open(path, "r+b") as f:
        f.seek(at)
        b = f.read(1)
        f.seek(at)
        f.write(bytes([b[0] ^ 0x40]))
    advance(bs.root)
    create(bs, cfg, "b")
    m = manifest(bs, "b")
    assert reused_from(m) is None
    assert not any("reused" in f for f in files_of(m).values())
    assert_standard_and_right(bs, "b", tmp_path)
    rc, out, err = bs.run("verify", "a")
    assert rc != 0, "verify missed the flipped byte"


def test_a_missing_previous_archive_is_a_full_deflate(bs, cfg, tmp_path):
    create(bs, cfg, "a")
    os.unlink(bs.archive("a"))
    advance(bs.root)
    create(bs, cfg, "b")
    assert reused_from(manifest(bs, "b")) is None
    assert_standard_and_right(bs, "b", tmp_path)


def test_a_reused_snapshot_restores_and_imports(bs, cfg, tmp_path):
    create(bs, cfg, "a")
    advance(bs.root)
    create(bs, cfg, "b")
    want = {rel: sha256_file(os.path.join(bs.root, rel)) for rel in (CHAIN, BIG, "state/positions.json")}
    advance(bs.root)
    os.unlink(os.path.join(bs.root, BIG))
    bs.ok("restore", "b", "--yes")
    for rel, h in want.items():
        assert sha256_file(os.path.join(bs.root, rel)) == h, rel
    # Self-contained: another store takes it in without a.
    other = Statesnap(bs.root, tmp_path / "other", bs.tmp)
    other.ok("import", "--allow-unsigned", bs.archive("b"))
    other.ok("verify", "b")


def test_an_imported_archive_is_copied_whole_but_never_continued(bs, cfg, tmp_path):
    """Import checks every entry whole, not a deflate_prefix record: only
    records this store's own creates made (their mac is keyed by the store's
    secret) are continued mid-stream."""
    create(bs, cfg, "a")
    assert "mac" in files_of(manifest(bs, "a"))[CHAIN]["deflate_prefix"]
    other = Statesnap(bs.root, tmp_path / "other", bs.tmp)
    other.ok("import", "--allow-unsigned", bs.archive("a"))
    advance(bs.root)
    create(other, cfg, "b")
    got = files_of(manifest(other, "b"))
    assert reused_from(manifest(other, "b")) == "a"
    assert got[BIG]["reused"] == "entry"
    assert "reused" not in got[CHAIN]
    assert_standard_and_right(other, "b", tmp_path)
    # Its own record from then on is continued by the next create there.
    advance(bs.root)
    create(other, cfg, "c")
    assert files_of(manifest(other, "c"))[CHAIN]["reused"] == "prefix"
    assert_standard_and_right(other, "c", tmp_path)


def rezip_with_manifest(src, dst, edit):
    """src with its manifest changed by edit(m) (SHA256SUMS unchanged: paths and hashes stay)."""
    with zipfile.ZipFile(src) as z, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as out:
        for info in z.infolist():
            data = z.read(info.filename)
            if info.filename == "manifest.json":
                m = json.loads(data)
                edit(m)
                data = json.dumps(m, indent=2, sort_keys=True).encode() + b"\n"
            zi = zipfile.ZipInfo(info.filename, info.date_time)
            zi.external_attr = info.external_attr
            zi.compress_type = zipfile.ZIP_DEFLATED
            out.writestr(zi, data)



def set_note(m, note, path=CHAIN, frm=None):
    r = m.setdefault("reuse", {"files": {}})
    r["files"][path] = note
    if frm is not None:
        r["from"] = frm


DP = {"bytes": 1 << 20, "compressed": 1000, "crc32": 7, "sha256": "0" * 64}
MARK = {"from": 1000, "lines": 9, "last_seq": 8, "last_hash": "h8", "links_ok": True,
        "first_bad_line": 0, "fields": ["seq", "hash", "prev"]}


@pytest.mark.parametrize("edit,ok", [
    (lambda m: None, True),
    (lambda m: set_note(m, {"reused": "entry"}, frm="older"), True),
    (lambda m: set_note(m, {"reused": "prefix", "reused_bytes": 5, "deflate_prefix": DP}), True),
    (lambda m: set_note(m, {"reused": "bogus"}), False),
    (lambda m: set_note(m, {"reused": "prefix"}), False),            # without reused_bytes
    (lambda m: set_note(m, {"reused_bytes": 3}), False),             # without reused: prefix
    (lambda m: set_note(m, {"deflate_prefix": {"bytes": 1}}), False),
    (lambda m: set_note(m, {"deflate_prefix": dict(DP, crc32=1 << 33)}), False),
    (lambda m: set_note(m, {"deflate_prefix": dict(DP, sha256="x")}), False),
    (lambda m: set_note(m, {"deflate_prefix": dict(DP, mac="x")}), False),
    (lambda m: set_note(m, {"deflate_prefix": dict(DP, chain=MARK)}), True),
    (lambda m: set_note(m, {"deflate_prefix": dict(DP, chain=dict(MARK, **{"from": (1 << 20) + 1}))}), False),
    (lambda m: set_note(m, {"deflate_prefix": dict(DP, chain=dict(MARK, lines="9"))}), False),
    (lambda m: set_note(m, {"deflate_prefix": dict(DP, chain=dict(MARK, fields=["seq"]))}), False),
    (lambda m: set_note(m, {"deflate_prefix": dict(DP, chain=dict(MARK, first_bad_line=10))}), False),
    (lambda m: set_note(m, {"deflate_prefix": dict(DP, chain=[])}), False),
    (lambda m: set_note(m, {"reused": "prefix", "reused_bytes": 5, "chain_scanned_from": 3}), True),
    (lambda m: set_note(m, {"chain_scanned_from": 3}), False),       # without reused
    (lambda m: set_note(m, {"reused": "entry", "chain_scanned_from": -1}), False),
    (lambda m: set_note(m, {"reused": "entry"}, path="state/not_listed.json"), False),
    (lambda m: set_note(m, {"reused": "entry"}, frm="../x"), False),
    (lambda m: m.update(reuse=[]), False),
])
def test_import_checks_the_reuse_fields(ss, tmp_path, edit, ok):
    ss.create("a")
    bad = tmp_path / "a.zip"
    rezip_with_manifest(ss.archive("a"), bad, edit)
    other = Statesnap(ss.root, tmp_path / "other", ss.tmp)
    rc, out, err = other.run("import", "--allow-unsigned", str(bad))   # another store: its key is not trusted there
    if ok:
        assert rc == 0, out + err
    else:
        assert rc != 0 and "manifest.json" in out + err, out + err
        assert not os.path.exists(os.path.join(str(tmp_path / "other"), "a.zip"))


def test_a_stored_create_copies_nothing(bs, cfg, tmp_path):
    """compression_level 0 asks for stored entries: nothing deflated is copied in."""
    create(bs, cfg, "a")
    stored = str(tmp_path / "stored.json")
    with open(stored, "w") as f:
        json.dump({"compression_level": 0, "compress_threads": 2}, f)
    create(bs, stored, "b")
    assert "reuse" not in manifest(bs, "b")
    with zipfile.ZipFile(bs.archive("b")) as z:
        assert all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist()
                   if i.filename.startswith(("state/", "config/")))
    assert_standard_and_right(bs, "b", tmp_path)
