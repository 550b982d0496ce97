"""Offsite copies against a real S3-protocol server whose every request's
SigV4 signature and body checksums are verified (see s3.js)."""
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request

import pytest

from conftest import ACCESS_KEY, BIN, MAKE_STATE, SECRET_KEY, sha256_file

PART = 16 << 20
BIG_MB = max(80, int(os.environ.get("OFFSITE_BIG_MB", "300")))  # above the 64 MiB multipart threshold


def no_secrets(*texts):
    for t in texts:
        assert SECRET_KEY not in t and ACCESS_KEY not in t


def add_big_file(host, mb):
    """An incompressible state file: the archive grows by mb MiB (stored, level 0)."""
    with open(os.path.join(host.root, "state", "big.jsonl"), "wb") as f:
        for _ in range(mb):
            f.write(os.urandom(1 << 20))


def test_sync_uploads_every_snapshot_with_matching_sha256(host, s3):
    host.run("create", "--name", "first", check=0)
    host.run("create", "--name", "second", check=0)
    r = host.run("offsite", "sync", check=0)
    assert "2 uploaded, 0 already offsite, 0 failed" in r.stdout
    no_secrets(r.stdout, r.stderr)
    snaps = host.snapshots()
    for name in ("first", "second"):
        assert snaps[name]["offsite_state"] == "synced"
        assert snaps[name]["offsite_error"] is None
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", snaps[name]["offsite_at"])
    # What the server stores on disk is byte-identical to the archives.
    held = s3.objects(host.prefix.rstrip("/"))
    for name in ("first", "second"):
        assert held[host.prefix + name + ".zip"] == snaps[name]["archive_sha256"]
        assert host.prefix + name + ".manifest.json" in held
    # And the listing through the API says the same.
    listed = {o["name"]: o for o in host.json("offsite", "list")["objects"]}
    assert set(listed) == {"first", "second"}
    for name in ("first", "second"):
        assert listed[name]["sha256"] == snaps[name]["archive_sha256"]
        assert listed[name]["size"] == snaps[name]["size"]
    # Every request was signed correctly (the proxy checked); every PUT carried
    # Content-MD5 and x-amz-checksum-sha256 that the proxy verified.
    mine = [q for q in s3.requests() if host.prefix in q["url"] or
            "prefix=" + host.prefix.replace("/", "%2F") in q["url"]]
    assert mine and all(q.get("verified") for q in mine)
    puts = [q for q in mine if q["method"] == "PUT"]
    assert len(puts) == 4 and all(q["md5"] and q["checksum"] and q["payload_signed"] for q in puts)
    # A second round sends nothing again: it lists the prefix and HEADs each
    # synced copy (is it still there, still the same?), and that is all.
    n = len(s3.requests())
    r = host.run("offsite", "sync", check=0)
    assert "0 uploaded, 0 already offsite, 0 failed" in r.stdout
    assert "2 synced copies checked in the bucket, 0 found gone or replaced" in r.stdout
    again = s3.requests()[n:]
    assert sorted(q["method"] for q in again) == ["GET", "HEAD", "HEAD"], again
    st = host.json("offsite", "status")
    assert st["counts"]["synced"] == 2 and st["counts"]["failed"] == 0
    assert st["last_success"] is not None


def test_restore_fetches_an_archive_that_is_only_offsite(host, s3):
    before = host.tree("state", "config")
    host.run("create", "--name", "good", check=0)
    host.run("offsite", "sync", check=0)
    subprocess.run(["python3", MAKE_STATE, "--out", host.root, "--advance", "20"], check=True,
                   capture_output=True)
    assert host.tree("state", "config") != before
    os.unlink(os.path.join(host.store, "good.zip"))
    r = host.run("restore", "good", "--yes", check=0)
    assert "Fetched good from the offsite store" in r.stdout
    assert host.tree("state", "config") == before
    assert sha256_file(os.path.join(host.store, "good.zip")) == host.snapshots()["good"]["archive_sha256"]
    host.run("verify", "good", check=0)
    assert os.listdir(os.path.join(host.store, ".work")) == []


def test_fetch_refuses_an_object_that_does_not_match_the_catalog(host, s3):
    host.run("create", "--name", "one", check=0)
    host.run("create", "--name", "two", check=0)
    host.run("offsite", "sync", check=0)
    # Put two's bytes where one's object is: a valid archive, the wrong one.
    shutil.copyfile(s3.object_path(host.prefix + "two.zip"), s3.object_path(host.prefix + "one.zip"))
    meta = s3.object_path(host.prefix + "one.zip")[:-len("object")] + "metadata.json"
    two_meta = s3.object_path(host.prefix + "two.zip")[:-len("object")] + "metadata.json"
    shutil.copyfile(two_meta, meta)
    os.unlink(os.path.join(host.store, "one.zip"))
    r = host.run("offsite", "fetch", "one", check=1)
    assert "another snapshot" in r.stderr or "does not match" in r.stderr
    assert not os.path.exists(os.path.join(host.store, "one.zip"))
    assert os.listdir(os.path.join(host.store, ".work")) == []


def test_reindex_from_offsite_rebuilds_a_lost_store(host, s3):
    before = host.tree("state", "config")
    host.run("create", "--name", "alpha", "--label", "reason=pre-deploy", check=0)
    host.run("create", "--name", "beta", check=0)
    host.run("offsite", "sync", check=0)
    shas = {n: s["archive_sha256"] for n, s in host.snapshots().items()}
    # The operator kept the store's public key (README: Signed snapshots); the host is lost.
    pub = os.path.join(os.path.dirname(host.cfg), "old-store.pub")
    shutil.copy(os.path.join(host.store, "signing_key.pub"), pub)
    shutil.rmtree(host.store)
    subprocess.run(["python3", MAKE_STATE, "--out", host.root, "--advance", "10"], check=True,
                   capture_output=True)
    # Without the old key nothing proves the bucket's archives are this store's: skipped, saying so.
    r = host.run("reindex", "--from-offsite", check=0)
    assert "Reindexed 0 snapshots" in r.stdout and r.stdout.count("trusted_keys") == 2, r.stdout
    assert host.snapshots() == {}
    host.write_config(trusted_keys=[pub])
    r = host.run("reindex", "--from-offsite", check=0)
    assert "Reindexed 2 snapshots (2 downloaded" in r.stdout, r.stdout
    snaps = host.snapshots()
    assert {n: s["archive_sha256"] for n, s in snaps.items()} == shas
    assert all(s["offsite_state"] == "synced" for s in snaps.values())
    assert snaps["alpha"]["labels"] == {"reason": "pre-deploy"}
    host.run("restore", "alpha", "--yes", check=0)
    assert host.tree("state", "config") == before
    host.run("verify", "--all", check=0)


def test_wrong_secret_key_fails_clearly_and_changes_nothing_local(host, s3):
    host.run("create", "--name", "keep", check=0)
    host.write_config(secret="not-the-right-secret-key")
    files = host.store_files()
    tree = host.tree("state", "config")
    r = host.run("offsite", "sync", check=1)
    assert "SignatureDoesNotMatch" in r.stderr or "Forbidden" in r.stderr
    assert "check" in r.stderr
    no_secrets(r.stdout, r.stderr)
    assert "not-the-right-secret-key" not in r.stdout + r.stderr
    snap = host.snapshots()["keep"]
    assert snap["offsite_state"] == "failed"
    assert "403" in snap["offsite_error"]
    st = host.json("offsite", "status")
    assert st["counts"]["failed"] == 1 and st["failed_snapshots"][0]["name"] == "keep"
    no_secrets(json.dumps(st))
    # Nothing local changed: same archives, same audit file, same state root.
    assert host.store_files() == files
    assert host.tree("state", "config") == tree
    assert s3.objects(host.prefix.rstrip("/")) == {}
    # The next round, with the right key, succeeds.
    host.write_config()
    host.run("offsite", "sync", check=0)
    assert host.snapshots()["keep"]["offsite_state"] == "synced"


def test_server_stopped_mid_upload_then_next_round_succeeds(host, s3):
    add_big_file(host, 120)
    host.write_config(compression_level=0)
    host.run("create", "--name", "large", check=0)
    files = host.store_files()
    seen = len(s3.requests())
    p = subprocess.Popen([BIN, "--config", host.cfg, "offsite", "sync"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            if any("partNumber=1&" in q["url"] and host.prefix in q["url"] for q in s3.requests()[seen:]):
                break
            time.sleep(0.02)
        else:
            pytest.fail("no part was uploaded")
        s3.kill_proxy()
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
        if s3.proxy.poll() is not None:
            s3.start_proxy()
    assert p.returncode == 11, (out, err)     # the endpoint went away: retry later
    assert "large" in err and ("connect" in err.lower() or "recv" in err.lower() or "send" in err.lower())
    snap = host.snapshots()["large"]
    assert snap["offsite_state"] == "failed" and snap["offsite_error"]
    assert host.store_files() == files
    r = host.run("offsite", "sync", check=0)
    assert "1 uploaded" in r.stdout
    assert host.snapshots()["large"]["offsite_state"] == "synced"
    assert s3.objects(host.prefix.rstrip("/"))[host.prefix + "large.zip"] == snap["archive_sha256"]


def test_large_archive_uploads_in_parts_with_bounded_memory(host, s3):
    add_big_file(host, BIG_MB)
    host.write_config(compression_level=0)
    host.run("create", "--name", "huge", check=0)
    snap = host.snapshots()["huge"]
    assert snap["size"] > BIG_MB << 20
    seen = len(s3.requests())
    r = subprocess.run(["/usr/bin/time", "-v", BIN, "--config", host.cfg, "offsite", "sync"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1))
    print("offsite sync of a %d MiB archive: peak RSS %d KiB" % (snap["size"] >> 20, rss_kb))
    # ASan keeps freed memory in quarantine: the bound applies to plain builds.
    if not os.environ.get("STATESNAP_SANITIZED"):
        assert rss_kb < 64 * 1024
    parts = [q for q in s3.requests()[seen:] if "partNumber=" in q["url"] and q["method"] == "PUT"]
    assert len(parts) == (snap["size"] + PART - 1) // PART
    assert all(q["verified"] and q["md5"] and q["payload_signed"] for q in parts)
    assert s3.objects(host.prefix.rstrip("/"))[host.prefix + "huge.zip"] == snap["archive_sha256"]
    os.unlink(os.path.join(host.root, "state", "big.jsonl"))


def http(method, url, body=None):
    req = urllib.request.Request(url, data=body, method=method)
    # Every POST route takes JSON, and says so even without a body.
    if body is not None or method == "POST":
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def doc_sha(base, name):
    st, body = http("GET", base + "/api/v1/snapshots/" + name)
    assert st == 200, body
    return json.loads(body)["archive_sha256"]


def test_server_syncs_after_create_and_reports_it(host, s3, tmp_path):
    host.write_config(offsite={"sync_after_create": True, "interval": "7d"})
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
        st, body = http("POST", base + "/api/v1/snapshots", b'{"name": "api1"}')
        assert st == 201, body
        for _ in range(200):
            st, body = http("GET", base + "/api/v1/snapshots/api1")
            if json.loads(body)["offsite_state"] == "synced":
                break
            time.sleep(0.05)
        assert json.loads(body)["offsite_state"] == "synced", body
        st, body = http("GET", base + "/api/v1/offsite")
        doc = json.loads(body)
        assert st == 200 and doc["enabled"] and doc["counts"]["synced"] == 1
        assert doc["interval_seconds"] == 7 * 86400 and doc["last_success"]
        st, body = http("POST", base + "/api/v1/offsite/sync")
        assert st == 202, body
        # A restore through the API of an archive that is only offsite fetches it first.
        os.unlink(os.path.join(host.store, "api1.zip"))
        st, body = http("POST", base + "/api/v1/snapshots/api1/restore/preview", b"{}")
        assert st == 200, body
        token = json.loads(body)["confirm_token"]
        assert sha256_file(os.path.join(host.store, "api1.zip")) == doc_sha(base, "api1")
        st, body = http("POST", base + "/api/v1/snapshots/api1/restore",
                        json.dumps({"confirm_token": token}).encode())
        assert st == 200, body
        st, metrics = http("GET", base + "/metrics")
        assert "statesnap_offsite_enabled 1" in metrics
        # 1 or 2: the restore's safety snapshot may already be synced too.
        assert re.search(r'^statesnap_offsite_snapshots\{state="synced"\} [12]$', metrics, re.M)
        ts = int(re.search(r"^statesnap_offsite_last_success_timestamp_seconds (\d+)$", metrics, re.M).group(1))
        assert abs(ts - time.time()) < 600
        if shutil.which("promtool"):
            r = subprocess.run(["promtool", "check", "metrics"], input=metrics, capture_output=True,
                               text=True)
            assert r.returncode == 0, r.stdout + r.stderr
    finally:
        srv.terminate()
        srv.wait(30)
        log.close()
    text = open(str(tmp_path / "serve.log")).read()
    no_secrets(text)
    assert host.prefix + "api1.zip" in s3.objects(host.prefix.rstrip("/"))


@pytest.mark.parametrize("change,needle", [
    ({"storage_class": "GLACIER"}, '"offsite.storage_class"'),
    ({"endpoint": "ftp://x"}, "offsite.endpoint"),
    ({"endpoint": "http://h/some/path"}, "offsite.endpoint"),
    ({"bucket": "Bad_Bucket"}, "offsite.bucket"),
    ({"prefix": "../up"}, "offsite.prefix"),
    ({"interval": "5s"}, "offsite.interval"),
    ({"path_style": "yes"}, "offsite.path_style"),
    ({"secret_key": None}, "secret_key"),
])
def test_config_check_rejects_a_bad_offsite_section(host, change, needle):
    off = dict(change)
    host.write_config(offsite={k: v for k, v in off.items() if v is not None})
    if None in off.values():
        doc = json.load(open(host.cfg))
        for k, v in off.items():
            if v is None:
                del doc["offsite"][k]
        json.dump(doc, open(host.cfg, "w"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATESNAP_OFFSITE_")}
    r = host.run("config", "check", env=env)
    assert r.returncode == 2 and needle in r.stderr, r.stderr
    no_secrets(r.stdout, r.stderr)


def test_keys_may_come_from_the_environment(host, s3, monkeypatch):
    doc = json.load(open(host.cfg))
    del doc["offsite"]["access_key"]
    doc["offsite"]["secret_key"] = "placeholder"
    json.dump(doc, open(host.cfg, "w"))
    monkeypatch.setenv("STATESNAP_OFFSITE_ACCESS_KEY", ACCESS_KEY)
    monkeypatch.setenv("STATESNAP_OFFSITE_SECRET_KEY", SECRET_KEY)
    host.run("config", "check", check=0)
    host.run("create", "--name", "envkeys", check=0)
    r = host.run("offsite", "sync", check=0)
    no_secrets(r.stdout, r.stderr)
    assert host.snapshots()["envkeys"]["offsite_state"] == "synced"


def test_example_config_passes_check():
    example = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy",
                           "statesnap.example.json")
    r = subprocess.run([BIN, "config", "check", "--file", example], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_restore_of_a_name_the_catalog_does_not_know_asks_nothing_of_the_bucket(host, s3):
    # One fetch-before-restore for both fronts (offsite_fetch_if_missing): only a
    # catalogued snapshot whose archive is gone is fetched; an unknown name is the
    # restore's own "not found", and a name only in the bucket is `offsite fetch`'s job.
    host.run("create", "--name", "known", check=0)
    host.run("offsite", "sync", check=0)
    n = len(s3.requests())
    r = host.run("restore", "unknown", "--yes", check=1)
    assert "unknown" in r.stderr, r.stderr
    assert s3.requests()[n:] == []
    # A catalogued snapshot whose archive is present is restored without the bucket too.
    host.run("restore", "known", "--yes", check=0)
    assert s3.requests()[n:] == []
