"""Offsite copies that are gone do not stay "synced" (issue 17 item 2). The
bucket is changed behind statesnap's back with a real S3 client (boto3, as
awscli would), through the same SigV4-checking proxy; each sync round lists
the prefix and re-checks what the catalog calls synced, a round that cannot
reach the endpoint fails, `offsite list` names catalogued snapshots the bucket
lacks and the objects it skipped, and `offsite fetch` brings back a name that
exists only in the bucket."""
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request

import pytest

from conftest import ACCESS_KEY, BIN, BUCKET, SECRET_KEY, sha256_file

boto3 = pytest.importorskip("boto3", reason="python3-boto3 (tests/offsite/run.sh installs it)")


def client(s3):
    from botocore.config import Config
    return boto3.client("s3", endpoint_url="http://127.0.0.1:%d" % s3.port, region_name="eu-test-1",
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


def remote_sha(c, key):
    return hashlib.sha256(c.get_object(Bucket=BUCKET, Key=key)["Body"].read()).hexdigest()


def synced_pair(host):
    host.run("create", "--name", "one", check=0)
    host.run("create", "--name", "two", check=0)
    r = host.run("offsite", "sync", check=0)
    assert "2 uploaded" in r.stdout
    return host.snapshots()


def test_a_deleted_copy_goes_back_to_pending_and_is_sent_again(host, s3):
    snaps = synced_pair(host)
    c = client(s3)
    c.delete_object(Bucket=BUCKET, Key=host.prefix + "one.zip")
    c.delete_object(Bucket=BUCKET, Key=host.prefix + "one.manifest.json")
    keys = {o["Key"] for o in c.list_objects_v2(Bucket=BUCKET, Prefix=host.prefix).get("Contents", [])}
    assert host.prefix + "one.zip" not in keys
    # offsite list flags it: catalogued here, missing there.
    doc = host.json("offsite", "list")
    assert [o["name"] for o in doc["objects"]] == ["two"]
    assert doc["missing"] == [{"name": "one", "catalog_state": "synced"}]
    r = host.run("offsite", "list", check=0)
    assert "MISSING FROM THE BUCKET" in r.stdout and "one" in r.stdout.split("MISSING")[1]
    # The next round finds it gone, says so and sends it again.
    rep = host.json("offsite", "sync")
    assert [l["name"] for l in rep["lost"]] == ["one"] and "gone" in rep["lost"][0]["problem"], rep
    assert rep["uploaded"] == ["one"] and rep["failed"] == [] and rep["checked"] == 2, rep
    assert remote_sha(c, host.prefix + "one.zip") == snaps["one"]["archive_sha256"]
    head = c.head_object(Bucket=BUCKET, Key=host.prefix + "one.zip")
    assert head["Metadata"]["sha256"] == snaps["one"]["archive_sha256"]
    c.head_object(Bucket=BUCKET, Key=host.prefix + "one.manifest.json")
    assert host.snapshots()["one"]["offsite_state"] == "synced"
    # The human report says what happened too.
    c.delete_object(Bucket=BUCKET, Key=host.prefix + "two.zip")
    r = host.run("offsite", "sync", check=0)
    assert "[LOST] two: gone from the bucket" in r.stdout and "1 uploaded" in r.stdout, r.stdout


def test_an_overwritten_copy_is_found_and_replaced(host, s3):
    snaps = synced_pair(host)
    c = client(s3)
    # Another archive of the same size class under one's key, claiming its own hash.
    body = open(os.path.join(host.store, "two.zip"), "rb").read()
    c.put_object(Bucket=BUCKET, Key=host.prefix + "one.zip", Body=body,
                 Metadata={"sha256": snaps["two"]["archive_sha256"]})
    assert remote_sha(c, host.prefix + "one.zip") != snaps["one"]["archive_sha256"]
    rep = host.json("offsite", "sync")
    assert [l["name"] for l in rep["lost"]] == ["one"] and "another object" in rep["lost"][0]["problem"], rep
    assert rep["uploaded"] == ["one"], rep
    assert remote_sha(c, host.prefix + "one.zip") == snaps["one"]["archive_sha256"]
    # Same bytes, a lying checksum: found by the HEAD, not the size.
    c.put_object(Bucket=BUCKET, Key=host.prefix + "one.zip", Body=open(os.path.join(host.store, "one.zip"),
                                                                       "rb").read(),
                 Metadata={"sha256": "0" * 64})
    rep = host.json("offsite", "sync")
    assert [l["name"] for l in rep["lost"]] == ["one"], rep
    assert c.head_object(Bucket=BUCKET, Key=host.prefix + "one.zip")["Metadata"]["sha256"] == \
        snaps["one"]["archive_sha256"]


def http(method, url, body=None):
    req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metric(text, series):
    m = re.search(r"^%s (\S+)$" % re.escape(series), text, re.M)
    return float(m.group(1)) if m else None


class Served:
    def __init__(self, host, tmp_path):
        self.port_file = str(tmp_path / "port")
        self.log = open(str(tmp_path / "serve.log"), "w")
        self.proc = subprocess.Popen([BIN, "--config", host.cfg, "serve", "--listen", "127.0.0.1:0",
                                      "--port-file", self.port_file], stdout=self.log, stderr=self.log)
        for _ in range(600):
            if os.path.exists(self.port_file) and open(self.port_file).read().strip():
                break
            assert self.proc.poll() is None, "serve exited"
            time.sleep(0.05)
        self.base = "http://127.0.0.1:%s" % open(self.port_file).read().strip()

    def offsite(self):
        st, body = http("GET", self.base + "/api/v1/offsite")
        assert st == 200, body
        return json.loads(body)

    def wait_rounds(self, n):
        for _ in range(1200):
            doc = self.offsite()
            if doc["rounds"]["success"] + doc["rounds"]["failure"] >= n and not doc["running"]:
                return doc
            time.sleep(0.05)
        raise AssertionError("no offsite round finished: %s" % doc)

    def close(self):
        self.proc.terminate()
        self.proc.wait(30)
        self.log.close()


def test_a_copy_lost_with_its_local_archive_is_failed_everywhere(host, s3, tmp_path):
    """Gone from the bucket and (a disk loss) from the store: no longer synced
    in offsite status, list --json, GET /api/v1/offsite and /metrics."""
    synced_pair(host)
    c = client(s3)
    c.delete_object(Bucket=BUCKET, Key=host.prefix + "one.zip")
    os.unlink(os.path.join(host.store, "one.zip"))
    host.write_config(offsite={"interval": "7d"})
    srv = Served(host, tmp_path)
    try:
        doc = srv.wait_rounds(1)
        assert doc["counts"]["synced"] == 1 and doc["counts"]["failed"] == 1, doc
        assert doc["last_result"] == "failure", doc
        st, text = http("GET", srv.base + "/metrics")
        assert metric(text, 'statesnap_offsite_snapshots{state="synced"}') == 1, text
        assert metric(text, 'statesnap_offsite_snapshots{state="failed"}') == 1
        assert metric(text, 'statesnap_offsite_rounds_total{result="failure"}') == 1
    finally:
        srv.close()
    one = host.snapshots()["one"]
    assert one["offsite_state"] == "failed" and one["offsite_error"], one
    st = host.json("offsite", "status")
    assert st["counts"]["synced"] == 1 and st["counts"]["failed"] == 1, st
    log = open(str(tmp_path / "serve.log")).read()
    assert "gone from the bucket" in log or "offsite" in log


def test_an_unreachable_endpoint_fails_the_round_even_with_nothing_new(host, s3, tmp_path):
    synced_pair(host)
    host.run("offsite", "sync", check=0)   # nothing new: still asks the bucket
    s3.kill_proxy()
    try:
        # An endpoint that does not answer is a retry-later (exit 11), not a
        # failure on the merits; --json gives the API's problem document.
        r = host.run("offsite", "sync", check=11)
        assert "cannot list the bucket" in r.stderr, r.stderr
        os.unlink(os.path.join(host.store, "one.zip"))
        r = host.run("--json", "offsite", "fetch", "one", check=11)
        doc = json.loads(r.stdout)
        assert doc["type"].endswith(":offsite-unreachable") and doc["status"] == 502, doc
        r = host.run("restore", "one", "--yes", check=11)
        assert "offsite" in r.stderr, r.stderr
        host.write_config(offsite={"interval": "7d"})
        srv = Served(host, tmp_path)
        try:
            doc = srv.wait_rounds(1)
            assert doc["rounds"] == {"success": 0, "failure": 1}, doc
            assert doc["last_result"] == "failure" and "cannot list" in doc["last_error"], doc
            st, text = http("GET", srv.base + "/metrics")
            assert metric(text, 'statesnap_offsite_rounds_total{result="success"}') == 0
            assert metric(text, 'statesnap_offsite_rounds_total{result="failure"}') == 1
            # The API's restore of a snapshot only offsite: 502, worth a retry.
            req = urllib.request.Request(srv.base + "/api/v1/snapshots/one/restore/preview", data=b"{}",
                                         method="POST", headers={"Content-Type": "application/json"})
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(req, timeout=60)
            assert err.value.code == 502 and int(err.value.headers["Retry-After"]) > 0
            assert json.loads(err.value.read())["type"].endswith(":offsite-unreachable")
        finally:
            srv.close()
    finally:
        s3.start_proxy()
    # Unknown is not lost: the catalog still says what it last knew.
    assert all(s["offsite_state"] == "synced" for s in host.snapshots().values())


def test_offsite_list_reports_what_it_skipped(host, s3):
    synced_pair(host)
    c = client(s3)
    odd = {host.prefix + "sub/x.zip": "in a folder below the prefix",
           host.prefix + "notes.txt": "not NAME.zip, NAME.zip.p7m, NAME.manifest.json or NAME.manifest.json.p7m",
           host.prefix + "bad name!.zip": "not a valid snapshot name"}
    for key in odd:
        c.put_object(Bucket=BUCKET, Key=key, Body=b"not ours")
    doc = host.json("offsite", "list")
    assert sorted(o["name"] for o in doc["objects"]) == ["one", "two"]
    assert {f["key"]: f["reason"] for f in doc["foreign"]} == odd, doc["foreign"]
    assert all(f["size"] == 8 for f in doc["foreign"])
    r = host.run("offsite", "list", check=0)
    assert "OTHER OBJECTS UNDER THE PREFIX (skipped)" in r.stdout
    for key in odd:
        assert key in r.stdout
    # A sync leaves them alone and is not disturbed by them.
    rep = host.json("offsite", "sync")
    assert rep["lost"] == [] and rep["failed"] == []


def test_fetch_a_name_that_exists_only_in_the_bucket(host, s3):
    snaps = synced_pair(host)
    pub = os.path.join(os.path.dirname(host.cfg), "old-store.pub")
    shutil.copy(os.path.join(host.store, "signing_key.pub"), pub)
    shutil.rmtree(host.store)
    # Only the old store's key makes its archives welcome in a new one.
    r = host.run("offsite", "fetch", "two", check=1)
    assert "does not verify with any trusted key" in r.stderr, r.stderr
    assert host.snapshots() == {}
    host.write_config(trusted_keys=[pub])
    r = host.run("offsite", "fetch", "two", check=0)
    assert "Fetched two" in r.stdout, r.stdout
    now = host.snapshots()
    assert list(now) == ["two"] and now["two"]["archive_sha256"] == snaps["two"]["archive_sha256"]
    assert now["two"]["offsite_state"] == "synced"
    host.run("verify", "two", check=0)
    r = host.run("offsite", "fetch", "three", check=1)
    assert "no snapshot named" in r.stderr and "three" in r.stderr
    # A bucket object whose manifest names another snapshot is refused.
    c = client(s3)
    c.copy_object(Bucket=BUCKET, Key=host.prefix + "alias.zip",
                  CopySource={"Bucket": BUCKET, "Key": host.prefix + "one.zip"})
    r = host.run("offsite", "fetch", "alias", check=1)
    assert "not \"alias\"" in r.stderr, r.stderr
    assert "alias" not in host.snapshots()


# ---- temporary credentials (issue 17 item 3) ----

TOKEN = "FwoGZXIvYXdzEJr//////////wEaDOtest+session/token=" + "A" * 600


def token_requests(s3, host, start):
    return [q for q in s3.requests()[start:] if host.prefix in q["url"] or
            "prefix=" + host.prefix.replace("/", "%2F") in q["url"]]


def assert_token_on_the_wire(reqs, token):
    assert reqs, "no request reached the bucket"
    for q in reqs:
        assert q.get("verified"), q
        assert q["security_token"] == token, q
        assert "x-amz-security-token" in q["signed_headers"].split(";"), q


def test_session_token_from_the_config_is_sent_and_signed(host, s3):
    host.write_config(offsite={"session_token": TOKEN})
    host.run("config", "check", check=0)
    host.run("create", "--name", "sts", check=0)
    n = len(s3.requests())
    r = host.run("offsite", "sync", check=0)
    assert TOKEN not in r.stdout + r.stderr
    assert_token_on_the_wire(token_requests(s3, host, n), TOKEN)
    assert host.snapshots()["sts"]["offsite_state"] == "synced"


def test_standard_aws_environment_variables_are_read(host, s3):
    doc = json.load(open(host.cfg))
    for k in ("access_key", "secret_key"):
        del doc["offsite"][k]
    json.dump(doc, open(host.cfg, "w"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STATESNAP_OFFSITE_"))}
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_SESSION_TOKEN=TOKEN)
    host.run("create", "--name", "awsenv", check=0, env=env)
    n = len(s3.requests())
    r = host.run("offsite", "sync", check=0, env=env)
    assert TOKEN not in r.stdout + r.stderr and SECRET_KEY not in r.stdout + r.stderr
    assert_token_on_the_wire(token_requests(s3, host, n), TOKEN)
    # Without a token: plain keys from the environment, no token header.
    env.pop("AWS_SESSION_TOKEN")
    host.run("create", "--name", "awsenv2", check=0, env=env)
    n = len(s3.requests())
    host.run("offsite", "sync", check=0, env=env)
    reqs = token_requests(s3, host, n)
    assert reqs and all(q["security_token"] is None and q.get("verified") for q in reqs)
    # The config's keys come first; a token is never mixed in from AWS_*.
    host.write_config()
    env["AWS_ACCESS_KEY_ID"], env["AWS_SESSION_TOKEN"] = "AKIDNOTTHISONE", TOKEN
    n = len(s3.requests())
    host.run("offsite", "sync", check=0, env=env)
    reqs = token_requests(s3, host, n)
    assert reqs and all(q["security_token"] is None and q.get("verified") for q in reqs)
    # STATESNAP_OFFSITE_SESSION_TOKEN sets the token for the configured keys.
    env["STATESNAP_OFFSITE_SESSION_TOKEN"] = TOKEN + "B"
    n = len(s3.requests())
    host.run("offsite", "sync", check=0, env=env)
    assert_token_on_the_wire(token_requests(s3, host, n), TOKEN + "B")
