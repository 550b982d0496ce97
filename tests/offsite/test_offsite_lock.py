"""S3 Object Lock and per-part integrity, seen on the wire by the verifying
proxy (s3.js): the retention headers on every upload, the retain-until date
in status, locked copies never deleted by a prune or delete here (and said
so), per-part x-amz-checksum-sha256 checked against the part's bytes, and a
part damaged in transit rejected."""
import base64
import calendar
import hashlib
import json
import os
import re
import time
import urllib.error
import urllib.request

import pytest

from conftest import ACCESS_KEY, SECRET_KEY

PART = 16 << 20
DAY = 86400
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def no_secrets(*texts):
    for t in texts:
        assert SECRET_KEY not in t and ACCESS_KEY not in t


def epoch(iso):
    return calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ"))


def b64sha(data):
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def mine(s3, host, since=0):
    return [q for q in s3.requests()[since:] if host.prefix in q["url"]]


def fault(s3, doc):
    req = urllib.request.Request("http://127.0.0.1:%d/__fault" % s3.port, data=json.dumps(doc).encode(),
                                 method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 204


@pytest.fixture
def clear_fault(s3):
    yield
    fault(s3, None)


def big_snapshot(host, name, mb=70):
    """A snapshot above the 64 MiB multipart threshold (stored, incompressible)."""
    with open(os.path.join(host.root, "state", "big.jsonl"), "wb") as f:
        for _ in range(mb):
            f.write(os.urandom(1 << 20))
    host.write_config(compression_level=0, offsite=host.lock)
    host.run("create", "--name", name, check=0)
    os.unlink(os.path.join(host.root, "state", "big.jsonl"))
    snap = host.snapshots()[name]
    assert snap["size"] > 64 << 20
    return snap


def locked(host, mode, days):
    host.lock = {"object_lock": {"mode": mode, "days": days}}
    host.write_config(offsite=host.lock)
    return host


def test_every_upload_asks_for_object_lock_and_status_shows_retain_until(host, s3):
    locked(host, "COMPLIANCE", 30)
    host.run("create", "--name", "first", check=0)
    host.run("create", "--name", "second", check=0)
    seen = len(s3.requests())
    before = int(time.time())
    r = host.run("offsite", "sync", check=0)
    after = int(time.time())
    assert "2 uploaded" in r.stdout
    no_secrets(r.stdout, r.stderr)
    puts = [q for q in mine(s3, host, seen) if q["method"] == "PUT"]
    assert len(puts) == 4   # two archives, two manifests
    for q in puts:
        # Sent, signed (the proxy verified the signature over them) and dated now + 30 days.
        assert q["verified"] and q["lock_mode"] == "COMPLIANCE", q
        assert ISO.match(q["lock_until"]), q
        assert before + 30 * DAY <= epoch(q["lock_until"]) <= after + 30 * DAY, q
        assert "x-amz-object-lock-mode;x-amz-object-lock-retain-until-date" in q["signed_headers"]
    # A single PUT carries x-amz-checksum-sha256 of its whole body: the archive's.
    snaps = host.snapshots()
    for name in ("first", "second"):
        with open(os.path.join(host.store, name + ".zip"), "rb") as f:
            want = b64sha(f.read())
        q = [q for q in puts if q["url"].endswith("/" + name + ".zip")]
        assert len(q) == 1 and q[0]["checksum_sha256"] == want
        assert base64.b64decode(want).hex() == snaps[name]["archive_sha256"]
    # HEAD, LIST and GET ask for no retention.
    assert all(q["lock_mode"] is None for q in mine(s3, host, seen) if q["method"] != "PUT")

    st = host.json("offsite", "status")
    assert st["object_lock"] == {"mode": "COMPLIANCE", "days": 30}
    until = {q["url"].rsplit("/", 1)[1][:-4]: q["lock_until"] for q in puts if q["url"].endswith(".zip")}
    copies = {c["name"]: c for c in st["locked_copies"]}
    assert set(copies) == {"first", "second"}
    for name in ("first", "second"):
        assert copies[name]["retain_until"] == until[name]
        assert copies[name]["mode"] == "COMPLIANCE" and copies[name]["local"] is True
        assert copies[name]["archive_sha256"] == snaps[name]["archive_sha256"]
    text = host.run("offsite", "status", check=0).stdout
    assert "Object lock:  COMPLIANCE, 30 days per upload" in text
    assert "[LOCKED] first: locked until %s (COMPLIANCE)" % until["first"] in text


def test_without_object_lock_no_retention_is_asked(host, s3):
    host.run("create", "--name", "plain", check=0)
    seen = len(s3.requests())
    host.run("offsite", "sync", check=0)
    puts = [q for q in mine(s3, host, seen) if q["method"] == "PUT"]
    assert len(puts) == 2 and all(q["lock_mode"] is None and q["lock_until"] is None for q in puts)
    assert all("object-lock" not in q["signed_headers"] for q in puts)
    st = host.json("offsite", "status")
    assert st["object_lock"] is None and st["locked_copies"] == []
    assert "Object lock:  off" in host.run("offsite", "status", check=0).stdout


def test_prune_and_delete_never_touch_locked_copies_and_say_so(host, s3):
    locked(host, "GOVERNANCE", 7)
    for i in range(7):
        host.run("create", "--name", "s%d" % i, check=0)
    host.run("offsite", "sync", check=0)
    held = s3.objects(host.prefix.rstrip("/"))
    seen = len(s3.requests())
    r = host.run("prune", "--keep-last", "5", "--keep-daily", "0", "--keep-weekly", "0",
                 "--keep-monthly", "0", check=0)
    until = {c["name"]: c["retain_until"] for c in host.json("offsite", "status")["locked_copies"]}
    for name in ("s0", "s1"):
        assert "removed %s (kept offsite: locked until %s, GOVERNANCE)" % (name, until[name]) in r.stdout, r.stdout
    d = host.json("delete", "s2")
    assert d["offsite_lock"] == {"mode": "GOVERNANCE", "retain_until": until["s2"]}
    r = host.run("delete", "s3", check=0)
    assert "kept offsite: locked until %s (GOVERNANCE)" % until["s3"] in r.stdout
    # Nothing was asked of the bucket, and every copy is still there.
    assert mine(s3, host, seen) == []
    assert s3.objects(host.prefix.rstrip("/")) == held
    st = host.json("offsite", "status")
    copies = {c["name"]: c for c in st["locked_copies"]}
    assert set(copies) == {"s%d" % i for i in range(7)}
    assert {n for n, c in copies.items() if not c["local"]} == {"s0", "s1", "s2", "s3"}
    text = host.run("offsite", "status", check=0).stdout
    assert "[KEPT] s0: locked until %s (GOVERNANCE); pruned here, kept offsite" % until["s0"] in text
    assert "[LOCKED] s6: locked until" in text
    # A prune's JSON says the same.
    for name in ("s7", "s8", "s9"):
        host.run("create", "--name", name, check=0)
    host.run("offsite", "sync", check=0)
    p = host.json("prune", "--keep-last", "5", "--keep-daily", "0", "--keep-weekly", "0",
                  "--keep-monthly", "0")
    assert [x["name"] for x in p["removed"]] == ["s4"]
    assert p["removed"][0]["offsite_lock"]["retain_until"] == until["s4"]


def test_prune_without_a_lock_says_nothing_of_the_bucket(host, s3):
    for i in range(6):
        host.run("create", "--name", "u%d" % i, check=0)
    host.run("offsite", "sync", check=0)
    p = host.json("prune", "--keep-last", "5", "--keep-daily", "0", "--keep-weekly", "0",
                  "--keep-monthly", "0")
    assert [x["name"] for x in p["removed"]] == ["u0"] and p["removed"][0]["offsite_lock"] is None
    assert host.prefix + "u0.zip" in s3.objects(host.prefix.rstrip("/"))


def test_multipart_sends_each_parts_sha256_and_lists_them_on_completion(host, s3):
    locked(host, "COMPLIANCE", 1)
    snap = big_snapshot(host, "bigone")
    seen = len(s3.requests())
    host.run("offsite", "sync", check=0)
    reqs = mine(s3, host, seen)
    create = [q for q in reqs if q["method"] == "POST" and q["url"].endswith("?uploads=")]
    assert len(create) == 1 and create[0]["checksum_algorithm"] == "SHA256"
    assert create[0]["lock_mode"] == "COMPLIANCE" and ISO.match(create[0]["lock_until"])
    assert "x-amz-checksum-algorithm" in create[0]["signed_headers"]
    parts = [q for q in reqs if q["method"] == "PUT" and q["part"] is not None]
    n = (snap["size"] + PART - 1) // PART
    assert sorted(int(q["part"]) for q in parts) == list(range(1, n + 1))
    # Each part's checksum is the SHA-256 of exactly that slice of the archive.
    with open(os.path.join(host.store, "bigone.zip"), "rb") as f:
        for q in sorted(parts, key=lambda q: int(q["part"])):
            assert q["verified"] and q["checksum_sha256"] == b64sha(f.read(PART)), q["part"]
            assert q["lock_mode"] is None   # retention is the upload's, not each part's
    done = [q for q in reqs if q["method"] == "POST" and "uploadId=" in q["url"]]
    assert len(done) == 1 and done[0]["verified"] and done[0]["part_checksums"] == n
    assert s3.objects(host.prefix.rstrip("/"))[host.prefix + "bigone.zip"] == snap["archive_sha256"]
    assert host.json("offsite", "status")["locked_copies"][0]["name"] == "bigone"


def test_a_part_damaged_in_transit_is_rejected_and_sent_again(host, s3, clear_fault):
    host.lock = {}
    snap = big_snapshot(host, "flipped")
    fault(s3, {"flip_part": 2, "times": 1, "key": host.prefix})
    seen = len(s3.requests())
    r = host.run("offsite", "sync", check=0)
    assert "1 uploaded" in r.stdout
    part2 = [q for q in mine(s3, host, seen) if q["method"] == "PUT" and q["part"] == "2"]
    assert [q.get("error") for q in part2] == ["BadDigest", None], part2
    assert part2[0]["flipped"] and not part2[1]["flipped"]
    assert s3.objects(host.prefix.rstrip("/"))[host.prefix + "flipped.zip"] == snap["archive_sha256"]


def test_a_part_damaged_every_time_fails_the_upload_cleanly(host, s3, clear_fault):
    host.lock = {}
    snap = big_snapshot(host, "broken")
    fault(s3, {"flip_part": 3, "times": 100, "key": host.prefix})
    seen = len(s3.requests())
    r = host.run("offsite", "sync")
    assert r.returncode == 1
    assert "BadDigest" in r.stdout + r.stderr
    no_secrets(r.stdout, r.stderr)
    reqs = mine(s3, host, seen)
    part3 = [q for q in reqs if q["method"] == "PUT" and q["part"] == "3"]
    assert len(part3) == 2 and all(q["error"] == "BadDigest" for q in part3)   # once more, then no more
    assert not [q for q in reqs if q["method"] == "PUT" and q["part"] == "4"]
    # The upload was aborted, nothing was completed, no object appeared.
    assert [q for q in reqs if q["method"] == "DELETE" and "uploadId=" in q["url"]]
    assert not [q for q in reqs if q["method"] == "POST" and "uploadId=" in q["url"]]
    assert host.prefix + "broken.zip" not in s3.objects(host.prefix.rstrip("/"))
    s = host.snapshots()["broken"]
    assert s["offsite_state"] == "failed" and "BadDigest" in s["offsite_error"]
    # Once the line is clean the next round sends it.
    fault(s3, None)
    assert "1 uploaded" in host.run("offsite", "sync", check=0).stdout
    assert s3.objects(host.prefix.rstrip("/"))[host.prefix + "broken.zip"] == snap["archive_sha256"]


def test_a_composite_checksum_that_is_not_the_parts_fails_the_round(host, s3, clear_fault):
    host.lock = {}
    big_snapshot(host, "composite")
    fault(s3, {"bad_composite": True})
    r = host.run("offsite", "sync")
    assert r.returncode == 1 and "composite checksum" in r.stdout + r.stderr, r.stdout + r.stderr
    assert host.snapshots()["composite"]["offsite_state"] == "failed"


@pytest.mark.parametrize("lock, needle", [
    ({"mode": "governance", "days": 3}, '"offsite.object_lock.mode" must be "GOVERNANCE" or "COMPLIANCE"'),
    ({"mode": "LEGAL", "days": 3}, '"offsite.object_lock.mode"'),
    ({"days": 3}, '"offsite.object_lock.mode"'),
    ({"mode": "COMPLIANCE"}, '"offsite.object_lock.days" must be a whole number of days from 1 to 36500'),
    ({"mode": "COMPLIANCE", "days": 0}, '"offsite.object_lock.days"'),
    ({"mode": "COMPLIANCE", "days": 36501}, '"offsite.object_lock.days"'),
    ({"mode": "COMPLIANCE", "days": "30d"}, '"offsite.object_lock.days"'),
    ({"mode": "COMPLIANCE", "days": 3, "years": 1}, 'unknown key "offsite.object_lock.years"'),
    ("COMPLIANCE", '"offsite.object_lock" must be an object'),
])
def test_config_check_rejects_a_bad_object_lock(host, lock, needle):
    host.write_config(offsite={"object_lock": lock})
    r = host.run("config", "check")
    assert r.returncode == 2 and needle in r.stderr, r.stderr
    no_secrets(r.stdout, r.stderr)
    # And nothing is sent: a sync with this config stops before the bucket.
    assert host.run("offsite", "sync").returncode == 2


def schema_check(name, doc):
    """doc against openapi.yaml's components/schemas/NAME."""
    import jsonschema
    import yaml
    from conftest import REPO
    with open(os.path.join(REPO, "openapi.yaml")) as f:
        spec = yaml.safe_load(f)
    jsonschema.Draft202012Validator({"$ref": "#/components/schemas/" + name,
                                     "components": spec["components"]}).validate(doc)


def test_the_api_shows_locked_copies_and_a_delete_keeps_them(host, s3, tmp_path):
    import subprocess
    from conftest import BIN
    locked(host, "COMPLIANCE", 3)
    for name in ("a1", "a2"):
        host.run("create", "--name", name, check=0)
    host.run("offsite", "sync", check=0)
    until = {c["name"]: c["retain_until"] for c in host.json("offsite", "status")["locked_copies"]}
    port_file = str(tmp_path / "port")
    log = open(str(tmp_path / "serve.log"), "w")
    srv = subprocess.Popen([BIN, "--config", host.cfg, "serve", "--listen", "127.0.0.1:0",
                            "--port-file", port_file], stdout=log, stderr=log)
    try:
        for _ in range(200):
            if os.path.exists(port_file) and open(port_file).read().strip():
                break
            time.sleep(0.05)
        base = "http://127.0.0.1:%s" % open(port_file).read().strip()

        def call(method, path):
            req = urllib.request.Request(base + path, method=method)
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    return r.status, json.loads(r.read().decode())
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read().decode())

        st, d = call("DELETE", "/api/v1/snapshots/a1")
        assert st == 200 and d["offsite_lock"] == {"mode": "COMPLIANCE", "retain_until": until["a1"]}, d
        schema_check("DeleteResult", d)
        st, doc = call("GET", "/api/v1/offsite")
        assert st == 200, doc
        schema_check("OffsiteStatus", doc)
        assert doc["object_lock"] == {"mode": "COMPLIANCE", "days": 3}
        got = {c["name"]: (c["retain_until"], c["local"]) for c in doc["locked_copies"]}
        assert got == {"a1": (until["a1"], False), "a2": (until["a2"], True)}
    finally:
        srv.terminate()
        srv.wait(30)
        log.close()
    no_secrets(open(str(tmp_path / "serve.log")).read())
    assert host.prefix + "a1.zip" in s3.objects(host.prefix.rstrip("/"))


def test_a_delete_of_a_locked_copy_is_never_sent_or_is_refused_and_kept(s3):
    """offsite_delete_unless_locked, the one path for removing a bucket object
    (tests/unit/test_offsite_lock.c against this suite's proxy)."""
    import subprocess
    from conftest import BUCKET, REPO, TIMEOUT
    prefix = "t-lock-delete/"
    path = os.path.join(REPO, "build", "test", "unit", "test_offsite_lock")
    if not os.access(path, os.X_OK):
        subprocess.run(["make", "--no-print-directory", "build/test/unit/test_offsite_lock"], cwd=REPO,
                       check=True, capture_output=True, timeout=TIMEOUT)
    env = dict(os.environ, STATESNAP_TEST_S3_ENDPOINT="http://127.0.0.1:%d" % s3.port,
               STATESNAP_TEST_S3_BUCKET=BUCKET, STATESNAP_TEST_S3_REGION="eu-test-1",
               STATESNAP_TEST_S3_ACCESS_KEY=ACCESS_KEY, STATESNAP_TEST_S3_SECRET_KEY=SECRET_KEY,
               STATESNAP_TEST_S3_PREFIX=prefix)
    start = len(s3.requests())
    r = subprocess.run([path], capture_output=True, text=True, timeout=TIMEOUT, env=env)
    out = r.stdout + r.stderr
    assert r.returncode == 0 and "# offsite lock deletes: ok" in out and "SKIPPED" not in out, out
    no_secrets(out)
    deletes = {}
    for q in s3.requests()[start:]:
        if q["method"] == "DELETE" and prefix in q["url"]:
            deletes.setdefault(q["url"].rsplit("/", 1)[1], []).append((q["status"], q.get("error")))
    # Locked by the catalog's record: not even asked. Locked on the server: asked once, refused.
    assert "recorded.zip" not in deletes
    assert deletes["serverlocked.zip"] == [(403, "AccessDenied")]
    assert deletes["expired.zip"] == [(204, None)]
    held = s3.objects(prefix.rstrip("/"))
    assert set(held) == {prefix + "recorded.zip", prefix + "serverlocked.zip"}
