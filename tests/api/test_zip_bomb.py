"""Issue #16 item 8 (API): a consistent zip bomb is 422 before it is inflated,
under the default limits and under configured ones."""
import os
import sys
import time

import apilib

sys.path.insert(0, os.path.join(apilib.REPO, "tests", "fixtures"))
import ziptools  # noqa: E402

ZIP = {"Content-Type": "application/zip"}


def test_a_gib_of_zeros_in_a_1_mb_upload_is_422(server, writer, admin, reader, tmp_path):
    writer.create("src")
    data = reader.get("/api/v1/snapshots/src/archive", expect=200).content
    bomb = ziptools.zeros_bomb(data, "bomb", str(tmp_path / "bomb.zip"))
    with open(bomb, "rb") as f:
        body = f.read()
    assert len(body) < 2 << 20
    t = time.monotonic()
    r = admin.post("/api/v1/snapshots/import", data=body, headers=ZIP, expect=422)
    assert time.monotonic() - t < 5 * apilib.SLOW
    assert "max_compression_ratio" in r.json()["detail"], r.json()
    reader.get("/api/v1/snapshots/bomb", expect=404)
    assert apilib.store_listing(server.store) == ["src.zip"]


def test_configured_limits_apply_to_imports(make_server, tmp_path):
    s = make_server(config={"max_compression_ratio": 100, "max_unpacked_bytes": 64 << 20})
    writer, admin, reader = (s.api(s.token(t)) for t in ("writer", "admin", "reader"))
    writer.create("src")
    data = reader.get("/api/v1/snapshots/src/archive", expect=200).content
    small = ziptools.zeros_bomb(data, "small", str(tmp_path / "small.zip"), size=8 << 20)
    with open(small, "rb") as f:
        r = admin.post("/api/v1/snapshots/import", data=f.read(), headers=ZIP, expect=422)
    assert "100:1" in r.json()["detail"], r.json()
    big = ziptools.rebuild(data, name="big", add=[("state/big.json", os.urandom(65 << 20))])
    r = admin.post("/api/v1/snapshots/import", data=big, headers=ZIP, expect=422)
    assert "max_unpacked_bytes" in r.json()["detail"], r.json()
    assert [x["name"] for x in reader.get("/api/v1/snapshots", expect=200).json()["snapshots"]] == ["src"]
