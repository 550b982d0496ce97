"""verify: a flipped byte is found and named; restore from a bad archive
refuses and changes nothing (issue 2, Done means 5)."""
import json
import os
import shutil
import struct
import zipfile

import pytest

from snaplib import make_state, tree, tree_diff


def flip_byte_in_entry(zpath, entry):
    """Invert one byte in the middle of entry's stored (compressed) data."""
    with zipfile.ZipFile(zpath) as z:
        info = z.getinfo(entry)
    with open(zpath, "r+b") as f:
        f.seek(info.header_offset)
        header = f.read(30)
        assert header[:4] == b"PK\x03\x04"
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        at = info.header_offset + 30 + name_len + extra_len + info.compress_size // 2
        f.seek(at)
        b = f.read(1)
        f.seek(at)
        f.write(bytes([b[0] ^ 0xFF]))


def result_lines(out, err):
    return [line for line in (out + err).splitlines() if line.startswith(("OK ", "FAILED "))]


def test_verify_good_archive(ss):
    ss.create("good")
    rc, out, err = ss.run("verify", "good")
    assert rc == 0, err
    assert result_lines(out, err) == ["OK good"]
    rep = ss.json("verify", "--name", "good")
    assert rep["ok"] is True and rep["errors"] == [] and rep["checked_files"] >= 9


@pytest.mark.parametrize("entry", ["state/positions.json", "state/hash_chain.jsonl", "config/risk_limits.json"])
def test_verify_finds_one_flipped_byte_and_names_the_file(ss, entry):
    ss.create("bad")
    flip_byte_in_entry(ss.archive("bad"), entry)
    rc, out, err = ss.run("verify", "bad")
    assert rc == 1, (out, err)
    lines = result_lines(out, err)
    assert len(lines) >= 1 and all(line.startswith("FAILED bad: %s: " % entry) for line in lines), out + err
    assert len(lines[0]) > len("FAILED bad: %s: " % entry)
    rc, out, err = ss.run("--json", "verify", "bad")
    assert rc == 1
    rep = json.loads(out)
    assert rep["ok"] is False
    assert {e["path"] for e in rep["errors"]} == {entry}, rep["errors"]


def test_verify_all_reports_each_snapshot(ss):
    ss.create("a_good")
    ss.create("b_bad")
    ss.create("c_good")
    flip_byte_in_entry(ss.archive("b_bad"), "state/orders.json")
    rc, out, err = ss.run("verify", "--all")
    assert rc == 1
    lines = result_lines(out, err)
    assert sorted(line for line in lines if line.startswith("OK ")) == ["OK a_good", "OK c_good"]
    assert [line.split(":")[0] for line in lines if line.startswith("FAILED ")] == ["FAILED b_bad"]
    assert "FAILED b_bad: state/orders.json: " in out + err


def test_verify_all_on_good_store_exits_zero(ss):
    for n in ("x1", "x2"):
        ss.create(n)
    rc, out, err = ss.run("verify", "--all")
    assert rc == 0, err
    assert sorted(result_lines(out, err)) == ["OK x1", "OK x2"]


def test_verify_detects_archive_swapped_for_another(ss):
    ss.create("first")
    make_state(ss.root, "--advance", "5", "--seed", "42")
    ss.create("second")
    shutil.copyfile(ss.archive("second"), ss.archive("first"))
    rc, out, err = ss.run("verify", "first")
    assert rc == 1, out
    assert any(line.startswith("FAILED first") for line in result_lines(out, err)), out + err


def test_verify_detects_truncated_and_missing_archives(ss):
    ss.create("trunc")
    ss.create("gone")
    z = ss.archive("trunc")
    with open(z, "r+b") as f:
        f.truncate(os.path.getsize(z) // 2)
    os.remove(ss.archive("gone"))
    for name in ("trunc", "gone"):
        rc, out, err = ss.run("verify", name)
        assert rc == 1, (name, out)
        assert any(line.startswith("FAILED %s" % name) for line in result_lines(out, err)), out + err


@pytest.mark.parametrize("entry", ["state/positions.json", "state/hash_chain.jsonl"])
def test_restore_from_corrupt_archive_refuses_and_changes_nothing(ss, entry):
    ss.create("bad")
    flip_byte_in_entry(ss.archive("bad"), entry)
    make_state(ss.root, "--advance", "10", "--seed", "42")
    before = tree(ss.root)
    rc, out, err = ss.run("restore", "--name", "bad", "--yes")
    assert rc == 1, out
    assert err.startswith("statesnap: ") and len(err.splitlines()) == 1, err
    assert "RESTORE COMPLETE" not in out
    assert tree(ss.root) == before, tree_diff(before, tree(ss.root))
    assert ss.names() == ["bad"], "a safety snapshot was taken before the archive was verified"
    rc, out, err = ss.run("restore", "--name", "bad", "--dry-run")
    assert rc == 1 and tree(ss.root) == before
