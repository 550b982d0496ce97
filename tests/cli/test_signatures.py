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
    assert "no longer verifies with any trusted key" in err, err


def test_another_stores_archive_is_refused_on_import_until_its_key_is_trusted(ss, tmp_path):
    other = snaplib.Statesnap(ss.root, tmp_path / "other-store", ss.tmp)
    other.create("theirs")
    other_pub = os.path.join(other.store, "signing_key.pub")
    ss.create("mine")                                   # this store's own key exists
    before = sorted(os.listdir(ss.store))
    rc, out, err = ss.run("import", other.archive("theirs"))
    assert rc == 1 and "does not verify with any trusted key" in err and "trusted_keys" in err, (rc, err)
    assert ss.names() == ["mine"] and sorted(os.listdir(ss.store)) == before
    assert os.listdir(os.path.join(ss.store, ".work")) == []
    # Trusted by path, and by the PEM text itself: admitted, signed by them.
    for i, trusted in enumerate((other_pub, open(other_pub).read())):
        cfg = write_cfg(ss, {"trusted_keys": [trusted]}, "cfg%d.json" % i)
        if i == 0:
            out = ss.ok("--config", cfg, "import", other.archive("theirs"))
            assert "signed by %s" % key_id(other_pub)[:16] in out, out
        doc = ss.json("--config", cfg, "verify", "theirs")
        assert doc["ok"] and doc["signature"] == {"state": "signed", "key_id": key_id(other_pub)}
        show = ss.json("--config", cfg, "show", "theirs")
        assert show["signature"] == {"state": "signed", "key_id": key_id(other_pub)}, show
    # Its own snapshots still verify as its own.
    assert ss.json("--config", cfg, "verify", "mine")["signature"]["key_id"] == \
        key_id(os.path.join(ss.store, "signing_key.pub"))


def test_allow_unsigned_admits_an_untrusted_archive_marked_as_such(ss, tmp_path):
    other = snaplib.Statesnap(ss.root, tmp_path / "other-store", ss.tmp)
    other.create("theirs")
    ss.create("mine")
    out = ss.ok("import", "--allow-unsigned", other.archive("theirs"))
    assert "untrusted: admitted with --allow-unsigned" in out, out
    doc = ss.json("verify", "theirs")                   # admitted as untrusted: reported, not failed
    assert doc["ok"] and doc["signature"] == {"state": "untrusted", "key_id": None}, doc
    rows = {r["name"]: r for r in ss.json("list")["snapshots"]}
    assert rows["theirs"]["signature"]["state"] == "untrusted"
    assert rows["mine"]["signature"]["state"] == "signed"
    listing = ss.ok("list")
    assert "[!] not signed by a trusted key: theirs (untrusted)" in listing, listing
    assert "Signature: [!] UNTRUSTED" in ss.ok("show", "theirs")
    assert "Signature: signed by key " + key_id(os.path.join(ss.store, "signing_key.pub")) in \
        ss.ok("show", "mine")
    # A restore says what it is restoring.
    prev = ss.json("restore", "theirs", "--dry-run")
    assert prev["signature"]["state"] == "untrusted", prev
    assert any("untrusted" in w for w in prev["warnings"]), prev


def test_an_unsigned_archive_is_refused_unless_allowed_and_then_says_so(ss, tmp_path):
    ss.create("one")
    plain = str(tmp_path / "plain.zip")
    rezip(ss.archive("one"), plain, lambda m: m.pop("manifest.json.sig"))
    other = snaplib.Statesnap(ss.root, tmp_path / "fresh", ss.tmp)
    rc, out, err = other.run("import", plain)
    assert rc == 1 and "is not signed" in err and "--allow-unsigned" in err, (rc, err)
    rc, out, err = other.run("--json", "import", plain)
    assert rc == 1 and json.loads(out)["status"] == 422, out
    other.ok("import", "--allow-unsigned", plain)
    doc = other.json("verify", "one")
    assert doc["ok"] and doc["signature"] == {"state": "unsigned", "key_id": None}, doc
    assert "[!] not signed by a trusted key: one (unsigned)" in other.ok("list")


def sign_stripped(m):
    m.pop("manifest.json.sig")


def relabeled(m):
    man = json.loads(m["manifest.json"])
    man["labels"] = {"approved": "yes"}
    m["manifest.json"] = (json.dumps(man, indent=2, sort_keys=True) + "\n").encode()


def test_restore_refuses_a_signed_snapshot_whose_signature_was_stripped_or_broken(ss):
    ss.create("one")
    path = ss.archive("one")
    good = open(path, "rb").read()
    for change, why in ((sign_stripped, "carries no signature"), (relabeled, "no longer verifies")):
        rezip(path, path + ".new", change)
        os.replace(path + ".new", path)
        rc, out, err = ss.run("restore", "one", "--dry-run")
        assert rc == 1 and why in err, (change, rc, err)
        rc, out, err = ss.run("--json", "verify", "one")
        assert rc == 1 and why in err and json.loads(out)["errors"][0]["path"] == "manifest.json.sig"
        with open(path, "wb") as f:
            f.write(good)
    assert ss.json("restore", "one", "--dry-run")["signature"]["state"] == "signed"


def test_reindex_skips_an_archive_no_trusted_key_signed_unless_allowed(ss, tmp_path):
    other = snaplib.Statesnap(ss.root, tmp_path / "other-store", ss.tmp)
    other.create("theirs")
    ss.create("mine")
    ss.ok("import", "--allow-unsigned", other.archive("theirs"))
    # Admitted before, same archive: a reindex keeps it, as what it is.
    ss.ok("reindex")
    assert sorted(ss.names()) == ["mine", "theirs"]
    assert ss.json("show", "theirs")["signature"]["state"] == "untrusted"
    # Dropped into the directory behind statesnap's back: not indexed without the flag.
    plain = os.path.join(ss.store, "dropped.zip")
    other.create("dropped")
    with open(other.archive("dropped"), "rb") as f, open(plain, "wb") as g:
        g.write(f.read())
    doc = ss.json("reindex")
    assert doc["indexed"] == 2, doc
    assert [s["file"] for s in doc["skipped"]] == ["dropped.zip"], doc
    assert "trusted" in doc["skipped"][0]["problem"], doc
    doc = ss.json("reindex", "--allow-unsigned")
    assert doc["indexed"] == 3 and doc["skipped"] == [], doc
    assert ss.json("show", "dropped")["signature"]["state"] == "untrusted"


def test_a_trusted_key_that_is_not_a_public_key_is_a_clear_error(ss, tmp_path):
    ss.create("one")
    bad = tmp_path / "not-a-key.pub"
    bad.write_text("hello\n")
    cfg = write_cfg(ss, {"trusted_keys": [str(bad)]})
    rc, out, err = ss.run("--config", cfg, "verify", "one")
    assert rc == 2 and "trusted key" in err and str(bad) in err, (rc, err)
