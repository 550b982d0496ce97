"""Issue #16 item 8 (CLI): zip bombs are refused from the central directory,
before anything is inflated: a compression-ratio cap and a total-uncompressed
cap, both in the config (max_compression_ratio, max_unpacked_bytes)."""
import json
import os
import sys
import time
import zipfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures"))
import ziptools  # noqa: E402



def store_key(ss):
    """The store's own signing key: these archives are signed as the store's
    own would be, so only the rule under test can refuse them."""
    return os.path.join(ss.store, "signing_key.pem")

def write_cfg(ss, doc):
    path = os.path.join(ss.tmp, "cfg.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    return path


def src(ss):
    ss.create("src")
    with open(ss.archive("src"), "rb") as f:
        return f.read()


def work_files(ss):
    return os.listdir(os.path.join(ss.store, ".work"))


def test_default_limits_refuse_a_gib_of_zeros_without_inflating_it(ss, tmp_path):
    data = src(ss)
    bomb = ziptools.zeros_bomb(data, "bomb", sign_key=store_key(ss), path=str(tmp_path / "bomb.zip"))
    assert os.path.getsize(bomb) < 2 << 20, "the bomb should be about 1 MB"
    t = time.monotonic()
    rc, out, err = ss.run("import", bomb)
    took = time.monotonic() - t
    assert rc == 1, "import accepted 1 GiB of zeros: %s%s" % (out, err)
    assert "max_compression_ratio" in err and "state/hash_chain.jsonl" in err, err
    # Refused from the central directory: well under the time to inflate and hash 1 GiB twice.
    assert took < 5, "import took %.1f s: it inflated the bomb" % took
    assert ss.names() == ["src"] and work_files(ss) == []


def test_a_configured_ratio_cap(ss, tmp_path):
    """About 80:1 passes the default 1000:1 and is refused under a cap of 40:1."""
    data = src(ss)
    body = bytearray(4 << 20)
    for i in range(0, len(body), 300):
        body[i] = (i * 7919) % 251 + 1
    good = ziptools.rebuild(data, sign_key=store_key(ss), name="dense", add=[("state/padded.json", bytes(body))])
    path = tmp_path / "dense.zip"
    path.write_bytes(good)
    info = zipfile.ZipFile(str(path)).getinfo("state/padded.json")
    ratio = info.file_size / info.compress_size
    assert 40 < ratio < 1000, ratio
    cfg = write_cfg(ss, {"max_compression_ratio": 40})
    rc, out, err = ss.run("--config", cfg, "import", str(path))
    assert rc == 1 and "max_compression_ratio" in err and "40:1" in err, (rc, out, err)
    assert ss.names() == ["src"]
    ss.ok("import", str(path))   # the default cap lets it in
    assert sorted(ss.names()) == ["dense", "src"]


def test_a_configured_total_cap(ss, tmp_path):
    data = src(ss)
    path = tmp_path / "big.zip"
    path.write_bytes(ziptools.rebuild(data, sign_key=store_key(ss), name="big"))
    # Every entry counts, manifest.json and SHA256SUMS too.
    total = sum(i.file_size for i in zipfile.ZipFile(str(path)).infolist())
    cfg = write_cfg(ss, {"max_unpacked_bytes": total - 1})
    rc, out, err = ss.run("--config", cfg, "import", str(path))
    assert rc == 1 and "max_unpacked_bytes" in err and "too large when unpacked" in err, (rc, out, err)
    assert ss.names() == ["src"]
    cfg = write_cfg(ss, {"max_unpacked_bytes": total})
    ss.ok("--config", cfg, "import", str(path))


def test_limits_are_checked_config_values(ss):
    for doc in ({"max_compression_ratio": 1}, {"max_compression_ratio": "1000"},
                {"max_unpacked_bytes": 10}, {"max_unpacked_bytes": -1}):
        rc, out, err = ss.run("--config", write_cfg(ss, doc), "list")
        assert rc == 2 and list(doc)[0] in err, (doc, rc, err)
