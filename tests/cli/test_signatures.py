"""Signed snapshots (#21): the store signs every new archive's manifest with its
own Ed25519 key; verify says who signed it and fails one whose signature no
trusted key makes good (an edited manifest, another store's key) until that
key is in trusted_keys."""
import hashlib
import io
import json
import os
import subprocess
import zipfile

import snaplib


def key_id(pub_path):
    der = subprocess.run(["openssl", "pkey", "-pubin", "-in", pub_path, "-outform", "DER"],
                         capture_output=True, check=True).stdout
    return hashlib.sha256(der).hexdigest()


def write_cfg(ss, doc, name="cfg.json"):
    path = os.path.join(ss.tmp, name)
    with open(path, "w") as f:
        json.dump(doc, f)
    return path


def rezip(src, dst, change):
    """Copy the zip at src to dst with change({name: bytes}) applied to its members."""
    members = snaplib.read_zip(src)
    change(members)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for n, b in members.items():
            info = zipfile.ZipInfo(n, date_time=(2024, 12, 25, 14, 30, 0))
            info.external_attr = 0o100600 << 16          # a regular file, as statesnap writes them
            info.create_system = 3
            z.writestr(info, b, compress_type=zipfile.ZIP_DEFLATED)
    with open(dst, "wb") as f:
        f.write(buf.getvalue())


def test_a_new_snapshot_is_signed_by_the_store(ss):
    ss.create("one")
    pub = os.path.join(ss.store, "signing_key.pub")
    key = os.path.join(ss.store, "signing_key.pem")
    assert oct(os.stat(key).st_mode & 0o777) == "0o600"
    doc = ss.json("verify", "one")
    assert doc["ok"] and doc["signature"] == {"state": "signed", "key_id": key_id(pub)}, doc
    # The same key signs the next one: it is made once.
    ss.create("two")
    assert ss.json("verify", "two")["signature"]["key_id"] == key_id(pub)


def test_an_edited_manifest_with_consistent_hashes_fails_verify(ss):
    ss.create("one")
    path = ss.archive("one")

    def relabel(m):
        man = json.loads(m["manifest.json"])
        man["labels"] = {"approved": "yes"}           # hashes untouched: only the signature sees it
        m["manifest.json"] = (json.dumps(man, indent=2, sort_keys=True) + "\n").encode()

    rezip(path, path + ".new", relabel)
    os.replace(path + ".new", path)
    rc, out, err = ss.run("--json", "verify", "one")
    assert rc == 1, (out, err)
    doc = json.loads(out)
    assert doc["signature"]["state"] == "untrusted" and doc["signature"]["key_id"] is None, doc
    assert doc["errors"][0]["path"] == "manifest.json.sig", doc
    assert "does not verify with any trusted key" in err, err


def test_another_stores_archive_verifies_once_its_key_is_trusted(ss, tmp_path):
    other = snaplib.Statesnap(ss.root, tmp_path / "other-store", ss.tmp)
    other.create("theirs")
    other_pub = os.path.join(other.store, "signing_key.pub")
    ss.create("mine")                                   # this store's own key exists
    ss.ok("import", other.archive("theirs"))
    rc, out, err = ss.run("--json", "verify", "theirs")
    assert rc == 1 and json.loads(out)["signature"]["state"] == "untrusted", (out, err)
    # Trusted by path, and by the PEM text itself.
    for trusted in (other_pub, open(other_pub).read()):
        cfg = write_cfg(ss, {"trusted_keys": [trusted]})
        doc = ss.json("--config", cfg, "verify", "theirs")
        assert doc["ok"] and doc["signature"] == {"state": "signed", "key_id": key_id(other_pub)}
    # Its own snapshots still verify as its own.
    assert ss.json("--config", cfg, "verify", "mine")["signature"]["key_id"] == \
        key_id(os.path.join(ss.store, "signing_key.pub"))


def test_an_unsigned_archive_verifies_and_says_so(ss, tmp_path):
    ss.create("one")
    plain = str(tmp_path / "plain.zip")
    rezip(ss.archive("one"), plain, lambda m: m.pop("manifest.json.sig"))
    other = snaplib.Statesnap(ss.root, tmp_path / "fresh", ss.tmp)
    other.ok("import", plain)
    doc = other.json("verify", "one")
    assert doc["ok"] and doc["signature"] == {"state": "unsigned", "key_id": None}, doc


def test_a_trusted_key_that_is_not_a_public_key_is_a_clear_error(ss, tmp_path):
    ss.create("one")
    bad = tmp_path / "not-a-key.pub"
    bad.write_text("hello\n")
    cfg = write_cfg(ss, {"trusted_keys": [str(bad)]})
    rc, out, err = ss.run("--config", cfg, "verify", "one")
    assert rc == 2 and "trusted key" in err and str(bad) in err, (rc, err)
