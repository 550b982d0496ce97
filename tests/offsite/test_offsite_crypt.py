"""Encrypted offsite copies (#21): with offsite.encrypt_to every archive goes to
the bucket as CMS AuthEnvelopedData (NAME.zip.p7m, its manifest as
NAME.manifest.json.p7m) that `openssl cms -decrypt` reads back byte for byte;
the bucket holds no plaintext; `offsite fetch`, a restore of an archive only
offsite and `reindex --from-offsite` decrypt with offsite.decrypt_key; no key
or the wrong key is a clear error that changes nothing; a plain bucket is
re-sent encrypted; a large archive is sent within the memory bound."""
import hashlib
import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import ACCESS_KEY, BIN, BUCKET, SECRET_KEY, sha256_file

boto3 = pytest.importorskip("boto3", reason="python3-boto3 (tests/offsite/run.sh installs it)")

PART = 16 << 20
# The case: a 1 GiB archive encrypted and sent (and fetched back) within 64 MB RSS.
# A sanitized build is not held to the bound (ASan's shadow memory), so it sends less.
BIG_MB = max(80, int(os.environ.get("OFFSITE_CRYPT_BIG_MB",
                                    "300" if os.environ.get("STATESNAP_SANITIZED") else "1024")))


def client(s3):
    from botocore.config import Config
    return boto3.client("s3", endpoint_url="http://127.0.0.1:%d" % s3.port, region_name="eu-test-1",
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


def keypair(d, name, newkey=("rsa:2048",)):
    key, cert = os.path.join(d, name + ".key"), os.path.join(d, name + ".crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey"] + list(newkey) + ["-nodes", "-keyout", key,
                    "-out", cert, "-subj", "/CN=" + name, "-days", "30"], check=True, capture_output=True)
    return cert, key


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("keys"))
    a = keypair(d, "recipient")
    b = keypair(d, "other", ("ec", "-pkeyopt", "ec_paramgen_curve:P-256"))
    pub = os.path.join(d, "recipient.pub")
    subprocess.run(["openssl", "pkey", "-in", a[1], "-pubout", "-out", pub], check=True)
    return {"cert": a[0], "key": a[1], "other_cert": b[0], "other_key": b[1], "pub": pub, "dir": d}


def encrypted(host, keys, with_key=True, **extra):
    off = {"encrypt_to": keys["cert"]}
    if with_key:
        off["decrypt_key"] = keys["key"]
    off.update(extra.pop("offsite", {}))
    host.write_config(offsite=off, **extra)


def key_lines(path):
    """The base64 lines of a PEM key: none may ever be printed."""
    return [l for l in open(path).read().splitlines() if l and not l.startswith("-----")]


def no_secrets(keys, *texts):
    for t in texts:
        assert SECRET_KEY not in t and ACCESS_KEY not in t
        assert "-----BEGIN" not in t
        for k in ("key", "other_key"):
            for line in key_lines(keys[k]):
                assert line not in t


def bucket_keys(c, prefix):
    return {o["Key"] for o in c.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])}


def openssl_decrypt(blob, key, tmp):
    src, out = os.path.join(tmp, "obj.p7m"), os.path.join(tmp, "obj.out")
    with open(src, "wb") as f:
        f.write(blob)
    r = subprocess.run(["openssl", "cms", "-decrypt", "-binary", "-inform", "DER", "-in", src,
                        "-inkey", key, "-out", out], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    data = open(out, "rb").read()
    os.unlink(out)
    return data


def test_encrypted_copy_is_what_openssl_decrypts_and_holds_no_plaintext(host, s3, keys, tmp_path):
    encrypted(host, keys, compression_level=0)     # stored: the plain zip holds the files' bytes
    host.run("create", "--name", "sealed", check=0)
    seen = len(s3.requests())
    r = host.run("offsite", "sync", check=0)
    assert "1 uploaded, 0 already offsite, 0 failed" in r.stdout, r.stdout
    no_secrets(keys, r.stdout, r.stderr)
    snap = host.snapshots()["sealed"]
    assert snap["offsite_state"] == "synced"
    c = client(s3)
    p = host.prefix
    assert bucket_keys(c, p) == {p + "sealed.zip.p7m", p + "sealed.manifest.json.p7m"}
    local = open(os.path.join(host.store, "sealed.zip"), "rb").read()
    blob = c.get_object(Bucket=BUCKET, Key=p + "sealed.zip.p7m")["Body"].read()
    # The documented recipe gives back the archive byte for byte ...
    assert openssl_decrypt(blob, keys["key"], str(tmp_path)) == local
    assert hashlib.sha256(local).hexdigest() == snap["archive_sha256"]
    # ... and its manifest; then unzip and sha256sum -c check it.
    mblob = c.get_object(Bucket=BUCKET, Key=p + "sealed.manifest.json.p7m")["Body"].read()
    manifest = json.loads(openssl_decrypt(mblob, keys["key"], str(tmp_path)))
    assert manifest["name"] == "sealed"
    if shutil.which("unzip") and shutil.which("sha256sum"):
        z, x = str(tmp_path / "sealed.zip"), str(tmp_path / "x")
        open(z, "wb").write(openssl_decrypt(blob, keys["key"], str(tmp_path)))
        subprocess.run(["unzip", "-q", z, "-d", x], check=True)
        r2 = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=x, capture_output=True, text=True)
        assert r2.returncode == 0, r2.stdout + r2.stderr
    # No plaintext in the bucket: file names and contents are in the clear
    # in the stored zip, and nowhere in what the bucket holds.
    needles = [b"state/positions.json", b"manifest.json", b"SHA256SUMS",
               open(os.path.join(host.root, "state", "hash_chain.jsonl"), "rb").read()[:64]]
    for n in needles:
        assert n in local, n
        assert n not in blob and n not in mblob, n
    for path in s3.objects(p.rstrip("/")):
        data = open(s3.object_path(path), "rb").read()
        assert all(n not in data for n in needles), path
    # S3's checksums were of the bytes sent (the proxy checked each), and the
    # stored SHA-256 is the object's own.
    puts = [q for q in s3.requests()[seen:] if q["method"] == "PUT"]
    assert len(puts) == 2 and all(q["verified"] and q["md5"] and q["checksum"] for q in puts), puts
    head = c.head_object(Bucket=BUCKET, Key=p + "sealed.zip.p7m")
    assert head["Metadata"]["sha256"] == hashlib.sha256(blob).hexdigest()
    listed = {o["name"]: o for o in host.json("offsite", "list")["objects"]}
    assert listed["sealed"]["encrypted"] is True and listed["sealed"]["key"] == p + "sealed.zip.p7m"
    # The next round knows the copy is current: nothing sent, nothing lost.
    rep = host.json("offsite", "sync")
    assert rep["uploaded"] == [] and rep["lost"] == [] and rep["checked"] == 1, rep
    # Another encryption of the same archive to the same (public) certificate
    # is another object: found by the re-check and replaced.
    other = subprocess.run(["openssl", "cms", "-encrypt", "-binary", "-outform", "DER", "-aes-256-gcm",
                            "-in", os.path.join(host.store, "sealed.zip"), keys["cert"]],
                           capture_output=True, check=True).stdout
    c.put_object(Bucket=BUCKET, Key=p + "sealed.zip.p7m", Body=other,
                 Metadata={"sha256": hashlib.sha256(other).hexdigest()})
    rep = host.json("offsite", "sync")
    assert [l["name"] for l in rep["lost"]] == ["sealed"] and "another object" in rep["lost"][0]["problem"], rep
    assert rep["uploaded"] == ["sealed"], rep


def test_fetch_and_restore_decrypt_an_archive_only_offsite(host, s3, keys):
    encrypted(host, keys)
    before = host.tree("state", "config")
    host.run("create", "--name", "good", check=0)
    host.run("offsite", "sync", check=0)
    sha = host.snapshots()["good"]["archive_sha256"]
    os.unlink(os.path.join(host.store, "good.zip"))
    r = host.run("offsite", "fetch", "good", check=0)
    no_secrets(keys, r.stdout, r.stderr)
    assert sha256_file(os.path.join(host.store, "good.zip")) == sha
    assert os.listdir(os.path.join(host.store, ".work")) == []
    # A restore whose archive is gone fetches and decrypts it first.
    subprocess.run(["python3", os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                            "fixtures", "make_state.py"), "--out", host.root, "--advance", "5"],
                   check=True, capture_output=True)
    os.unlink(os.path.join(host.store, "good.zip"))
    r = host.run("restore", "good", "--yes", check=0)
    assert "Fetched good from the offsite store" in r.stdout
    assert host.tree("state", "config") == before
    host.run("verify", "good", check=0)
    assert os.listdir(os.path.join(host.store, ".work")) == []
    # A name only in the bucket is imported from its encrypted copy.
    host.run("create", "--name", "elsewhere", check=0)
    host.run("offsite", "sync", check=0)
    esha = host.snapshots()["elsewhere"]["archive_sha256"]
    host.run("delete", "--name", "elsewhere", check=0)
    assert "elsewhere" not in host.snapshots()
    host.run("offsite", "fetch", "elsewhere", check=0)
    snap = host.snapshots()["elsewhere"]
    assert snap["archive_sha256"] == esha and snap["offsite_state"] == "synced"
    rep = host.json("offsite", "sync")
    assert rep["uploaded"] == [] and rep["lost"] == [], rep


def test_no_key_or_the_wrong_key_is_a_clear_error_and_changes_nothing(host, s3, keys):
    encrypted(host, keys)
    host.run("create", "--name", "locked", check=0)
    host.run("offsite", "sync", check=0)
    os.unlink(os.path.join(host.store, "locked.zip"))
    files = host.store_files()
    tree = host.tree("state", "config")
    # No decrypt_key: a config problem (exit 2, 400), named.
    encrypted(host, keys, with_key=False)
    for args in (("offsite", "fetch", "locked"), ("restore", "locked", "--yes")):
        r = host.run(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "locked.zip.p7m is an encrypted copy" in r.stderr and "offsite.decrypt_key" in r.stderr
        no_secrets(keys, r.stdout, r.stderr)
        assert host.store_files() == files and host.tree("state", "config") == tree
        assert os.listdir(os.path.join(host.store, ".work")) == []
    r = host.run("--json", "offsite", "fetch", "locked")
    assert r.returncode == 2 and json.loads(r.stdout)["status"] == 400, r.stdout
    # A key the copy was not encrypted to: refused (exit 1, 422), nothing changed.
    host.write_config(offsite={"decrypt_key": keys["other_key"]})
    r = host.run("offsite", "fetch", "locked")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "cannot decrypt" in r.stderr and "not encrypted to this key" in r.stderr, r.stderr
    no_secrets(keys, r.stdout, r.stderr)
    r = host.run("--json", "offsite", "fetch", "locked")
    assert json.loads(r.stdout)["status"] == 422, r.stdout
    assert host.store_files() == files and host.tree("state", "config") == tree
    assert os.listdir(os.path.join(host.store, ".work")) == []
    # The right key brings it back.
    encrypted(host, keys)
    host.run("offsite", "fetch", "locked", check=0)
    host.run("verify", "locked", check=0)


def test_reindex_from_offsite_decrypts_every_copy(host, s3, keys):
    encrypted(host, keys)
    before = host.tree("state", "config")
    host.run("create", "--name", "alpha", "--label", "reason=pre-deploy", check=0)
    host.run("create", "--name", "beta", check=0)
    host.run("offsite", "sync", check=0)
    shas = {n: s["archive_sha256"] for n, s in host.snapshots().items()}
    # The lost store's public key, kept by the operator: its archives are signed by it.
    pub = os.path.join(os.path.dirname(host.cfg), "old-store.pub")
    shutil.copy(os.path.join(host.store, "signing_key.pub"), pub)
    shutil.rmtree(host.store)
    encrypted(host, keys, trusted_keys=[pub])
    r = host.run("reindex", "--from-offsite", check=0)
    assert "Reindexed 2 snapshots (2 downloaded" in r.stdout, r.stdout
    assert all(s["signature"]["state"] == "signed" for s in host.snapshots().values())
    snaps = host.snapshots()
    assert {n: s["archive_sha256"] for n, s in snaps.items()} == shas
    assert all(s["offsite_state"] == "synced" for s in snaps.values())
    assert snaps["alpha"]["labels"] == {"reason": "pre-deploy"}
    # What reindex recorded is what a sync recognises as current.
    rep = host.json("offsite", "sync")
    assert rep["uploaded"] == [] and rep["lost"] == [] and rep["checked"] == 2, rep
    host.run("restore", "alpha", "--yes", check=0)
    assert host.tree("state", "config") == before
    # Without the key, reindex skips the encrypted objects and says why.
    shutil.rmtree(host.store)
    encrypted(host, keys, with_key=False, trusted_keys=[pub])
    rep = host.json("reindex", "--from-offsite")
    assert rep["downloaded"] == [] and len(rep["skipped"]) == 2, rep
    assert all("offsite.decrypt_key" in s["problem"] for s in rep["skipped"]), rep


def test_encrypt_to_on_a_plain_bucket_sends_every_copy_again_encrypted(host, s3, keys):
    host.run("create", "--name", "one", check=0)
    host.run("create", "--name", "two", check=0)
    host.run("offsite", "sync", check=0)
    c = client(s3)
    p = host.prefix
    assert bucket_keys(c, p) == {p + "one.zip", p + "one.manifest.json", p + "two.zip",
                                 p + "two.manifest.json"}
    encrypted(host, keys)
    rep = host.json("offsite", "sync")
    assert sorted(rep["uploaded"]) == ["one", "two"] and rep["lost"] == [] and rep["failed"] == [], rep
    assert bucket_keys(c, p) == {p + "one.zip.p7m", p + "one.manifest.json.p7m", p + "two.zip.p7m",
                                 p + "two.manifest.json.p7m"}
    st = host.json("offsite", "status")
    assert st["counts"]["synced"] == 2 and st["encrypted"] is True
    assert "Encrypted:    yes" in host.run("offsite", "status", check=0).stdout
    # Turned off again: the encrypted copies stay current, new ones go plain.
    host.write_config()
    host.run("create", "--name", "three", check=0)
    rep = host.json("offsite", "sync")
    assert rep["uploaded"] == ["three"] and rep["lost"] == [] and rep["checked"] == 2, rep
    assert host.json("offsite", "status")["encrypted"] is False
    assert p + "three.zip" in bucket_keys(c, p) and p + "one.zip.p7m" in bucket_keys(c, p)


@pytest.mark.parametrize("change,needle,at_check", [
    ({"encrypt_to": "relative/cert.pem"}, "must be the absolute path", True),
    ({"decrypt_key": "key.pem"}, "must be the absolute path", True),
    ({"encrypt_to": 7}, '"offsite.encrypt_to" must be a string', True),
    ({"encrypt_to": "/nonexistent/cert.pem"}, "offsite.encrypt_to /nonexistent/cert.pem", False),
    ({"encrypt_to": "KEY"}, "not a PEM X.509 certificate", False),
    ({"encrypt_to": "PUB"}, "bare public key", False),
    ({"encrypt_to": "CERT", "decrypt_key": "OTHER_KEY"}, "is not the private key of the offsite.encrypt_to",
     False),
    ({"decrypt_key": "CERT"}, "not a PEM private key", False),
    ({"decrypt_key": "/nonexistent/key.pem"}, "offsite.decrypt_key /nonexistent/key.pem", False),
])
def test_bad_encryption_settings_are_config_errors(host, s3, keys, change, needle, at_check):
    names = {"KEY": keys["key"], "PUB": keys["pub"], "CERT": keys["cert"], "OTHER_KEY": keys["other_key"]}
    host.write_config(offsite={k: names.get(v, v) if isinstance(v, str) else v for k, v in change.items()})
    host.run("create", "--name", "kept", check=0) if at_check is False else None
    r = host.run("config", "check")
    if at_check:
        assert r.returncode == 2 and needle in r.stderr, r.stderr
    else:
        # The form is checked here; the files where the bucket is used.
        assert r.returncode == 0, r.stderr
    no_secrets(keys, r.stdout, r.stderr)
    # Every use of the bucket refuses the same way (exit 2, 400), sending nothing.
    seen = len(s3.requests())
    for args in (("offsite", "sync"), ("offsite", "status"), ("offsite", "fetch", "kept")):
        r = host.run(*args)
        assert r.returncode == 2 and needle in r.stderr, (args, r.stderr)
        no_secrets(keys, r.stdout, r.stderr)
    assert [q for q in s3.requests()[seen:] if host.prefix in q["url"]] == []
    if at_check is False:
        assert host.snapshots()["kept"]["offsite_state"] in ("", None, "none")


def test_large_archive_is_encrypted_and_sent_within_the_memory_bound(host, s3, keys, tmp_path):
    with open(os.path.join(host.root, "state", "big.jsonl"), "wb") as f:
        for _ in range(BIG_MB):
            f.write(os.urandom(1 << 20))
    encrypted(host, keys, compression_level=0)
    host.run("create", "--name", "huge", check=0)
    snap = host.snapshots()["huge"]
    assert snap["size"] > BIG_MB << 20
    if not os.environ.get("STATESNAP_SANITIZED"):
        assert snap["size"] >= 1 << 30, "the memory bound is the issue's: for a 1 GiB archive"
    seen = len(s3.requests())
    r = subprocess.run(["/usr/bin/time", "-v", BIN, "--config", host.cfg, "offsite", "sync"],
                       capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stderr
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1))
    print("encrypted offsite sync of a %d MiB archive: peak RSS %d KiB" % (snap["size"] >> 20, rss_kb))
    if not os.environ.get("STATESNAP_SANITIZED"):
        assert rss_kb < 64 * 1024
    c = client(s3)
    key = host.prefix + "huge.zip.p7m"
    size = c.head_object(Bucket=BUCKET, Key=key)["ContentLength"]
    assert size > snap["size"]
    parts = [q for q in s3.requests()[seen:] if "partNumber=" in q["url"] and q["method"] == "PUT"]
    assert len(parts) == (size + PART - 1) // PART
    assert all(q["verified"] and q["md5"] and q["payload_signed"] for q in parts)
    assert os.listdir(os.path.join(host.store, ".work")) == []
    # Fetched back through the decryption: the same archive.
    os.unlink(os.path.join(host.store, "huge.zip"))
    r = subprocess.run(["/usr/bin/time", "-v", BIN, "--config", host.cfg, "offsite", "fetch", "huge"],
                       capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stderr
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1))
    print("offsite fetch of the encrypted %d MiB archive: peak RSS %d KiB" % (size >> 20, rss_kb))
    # Decryption streams too (the header parsed apart, the content read as it is decrypted).
    if not os.environ.get("STATESNAP_SANITIZED"):
        assert rss_kb < 64 * 1024
    assert sha256_file(os.path.join(host.store, "huge.zip")) == snap["archive_sha256"]
    os.unlink(os.path.join(host.root, "state", "big.jsonl"))


def test_api_restore_decrypts_or_answers_a_problem(host, s3, keys, tmp_path):
    """The HTTP front fetches through the same offsite_fetch_if_missing: an
    encrypted copy is decrypted before the preview; without decrypt_key the
    answer is a 400 problem naming the setting, and nothing is kept."""
    import time
    import urllib.request

    def http(method, url, body=None):
        req = urllib.request.Request(url, data=body, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    encrypted(host, keys)
    host.run("create", "--name", "api1", check=0)
    host.run("offsite", "sync", check=0)
    sha = host.snapshots()["api1"]["archive_sha256"]
    for with_key in (False, True):
        encrypted(host, keys, with_key=with_key, offsite={"interval": "7d"})
        if os.path.exists(os.path.join(host.store, "api1.zip")):
            os.unlink(os.path.join(host.store, "api1.zip"))
        port_file = str(tmp_path / ("port%d" % with_key))
        log = open(str(tmp_path / "serve.log"), "a")
        srv = subprocess.Popen([BIN, "--config", host.cfg, "serve", "--listen", "127.0.0.1:0",
                                "--port-file", port_file], stdout=log, stderr=log)
        try:
            for _ in range(400):
                if os.path.exists(port_file) and open(port_file).read().strip():
                    break
                assert srv.poll() is None, open(str(tmp_path / "serve.log")).read()
                time.sleep(0.05)
            base = "http://127.0.0.1:%s" % open(port_file).read().strip()
            st, body = http("POST", base + "/api/v1/snapshots/api1/restore/preview", b"{}")
            if with_key:
                assert st == 200, body
                assert sha256_file(os.path.join(host.store, "api1.zip")) == sha
            else:
                assert st == 400, body
                doc = json.loads(body)
                assert "offsite.decrypt_key" in doc["detail"], doc
                assert not os.path.exists(os.path.join(host.store, "api1.zip"))
                assert [f for f in os.listdir(os.path.join(host.store, ".work"))
                        if f.startswith("upload-")] == []
        finally:
            srv.terminate()
            srv.wait(30)
            log.close()
    no_secrets(keys, open(str(tmp_path / "serve.log")).read())
