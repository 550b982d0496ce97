"""Every curl recipe in README.md runs, as written, against a real server.

A recipe is a ```sh block whose first line is `# recipe: NAME`. Each is run by
/bin/sh (POSIX: dash on Debian) in a fresh directory with the variables the
README documents pointing at a test server, and `statesnap` on PATH. Every sh
block that calls curl must be a recipe, and every recipe must be run here."""
import hashlib
import json
import os
import re
import shutil
import zipfile

import pytest

import opslib

RECIPES = opslib.readme_recipes()
TESTED = {"pre-deploy-snapshot", "download-artifact", "readyz-probe", "metrics-check",
          "restore-api", "restore-cli", "drill-cli", "drill-api", "verify-signature"}


def test_every_curl_block_is_a_recipe_and_every_recipe_is_tested():
    for lang, body in opslib.readme_blocks():
        if re.search(r"\bcurl\b", body) and lang != "yaml":
            assert body.startswith("# recipe: "), "a README block calls curl but is not a recipe:\n" + body
        if lang == "yaml":
            assert not re.search(r"^\s*-?\s*(run|script):.*\bcurl\b", body, re.M), \
                "a CI snippet calls curl directly; make it run a recipe:\n" + body
    assert set(RECIPES) == TESTED, "recipes %s, tested %s" % (sorted(RECIPES), sorted(TESTED))


class Recipes:
    """One server, a working directory, and the README's variables."""

    def __init__(self, server, tmp_path, statesnap_bin):
        self.server = server
        self.dir = tmp_path / "ci"
        self.dir.mkdir()
        bindir = tmp_path / "bin"
        bindir.mkdir()
        os.symlink(statesnap_bin, bindir / "statesnap")
        config = tmp_path / "statesnap.json"
        config.write_text(json.dumps({"root": server.root, "store": server.store}))
        self.env = {
            "PATH": "%s:%s" % (bindir, os.environ.get("PATH", "/usr/bin:/bin")),
            "HOME": str(tmp_path),
            "STATESNAP_URL": server.base,
            "STATESNAP_TOKEN": server.token("writer"),
            "STATESNAP_ADMIN_TOKEN": server.token("admin"),
            "CI_PIPELINE_ID": "4711",
            "CONFIG": str(config),
        }

    def run(self, name, stdin="", **env):
        r = opslib.run(["/bin/sh", "-c", RECIPES[name]], cwd=self.dir, input=stdin,
                       env=dict(self.env, **env))
        # A token must never show up in what a CI log would keep.
        for tok in (self.env["STATESNAP_TOKEN"], self.env["STATESNAP_ADMIN_TOKEN"]):
            assert tok not in r.stdout + r.stderr
        return r

    def snapshots(self):
        return sorted(x[:-4] for x in os.listdir(self.server.store) if x.endswith(".zip"))

    def api(self, role="admin"):
        return self.server.api(self.server.token(role))


@pytest.fixture
def recipes(make_server, tmp_path, statesnap_bin):
    return Recipes(make_server(), tmp_path, statesnap_bin)


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def positions_path(r):
    return os.path.join(r.server.root, "state", "positions.json")


def change_positions(r):
    with open(positions_path(r), "w") as f:
        json.dump({"positions": []}, f)
    return sha256_file(positions_path(r))


# ---------------------------------------------------------------- CI/CD

def test_pre_deploy_snapshot_creates_a_labelled_snapshot(recipes):
    r = recipes.run("pre-deploy-snapshot")
    assert r.returncode == 0, r.stderr
    doc = json.loads((recipes.dir / "snapshot.json").read_text())
    assert doc["name"] == "pre_deploy_4711"
    assert doc["labels"] == {"reason": "pre-deploy", "pipeline": "4711"}
    assert re.fullmatch(r"snapshot pre_deploy_4711: \d+ files, \d+ bytes, sha256 [0-9a-f]{64}\n", r.stdout)
    assert recipes.snapshots() == ["pre_deploy_4711"]


def test_pre_deploy_snapshot_retried_replays_instead_of_failing(recipes):
    assert recipes.run("pre-deploy-snapshot").returncode == 0
    first = (recipes.dir / "snapshot.json").read_text()
    # The same pipeline re-run: without the Idempotency-Key this would be a 409.
    r = recipes.run("pre-deploy-snapshot")
    assert r.returncode == 0, r.stderr
    assert json.loads((recipes.dir / "snapshot.json").read_text()) == json.loads(first)
    assert recipes.snapshots() == ["pre_deploy_4711"]


def test_pre_deploy_snapshot_fails_the_pipeline_on_a_bad_role(recipes):
    r = recipes.run("pre-deploy-snapshot", STATESNAP_TOKEN=recipes.server.token("reader"))
    assert r.returncode != 0
    assert "stopping the deploy" in r.stderr and re.search(r'"status":\s*403', r.stderr), r.stderr
    assert recipes.snapshots() == []


def test_pre_deploy_snapshot_fails_the_pipeline_on_a_taken_name(recipes):
    recipes.api("writer").create("pre_deploy_4711")
    r = recipes.run("pre-deploy-snapshot")
    assert r.returncode != 0
    assert "stopping the deploy" in r.stderr and "409" in r.stderr, r.stderr


def test_download_artifact_is_the_archive_and_is_checked(recipes):
    assert recipes.run("pre-deploy-snapshot").returncode == 0
    r = recipes.run("download-artifact")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "artifacts/pre_deploy_4711.zip: OK"
    got = recipes.dir / "artifacts" / "pre_deploy_4711.zip"
    assert got.read_bytes() == open(os.path.join(recipes.server.store, "pre_deploy_4711.zip"), "rb").read()


def test_download_artifact_fails_when_the_hash_does_not_match(recipes):
    assert recipes.run("pre-deploy-snapshot").returncode == 0
    doc = json.loads((recipes.dir / "snapshot.json").read_text())
    doc["archive_sha256"] = "0" * 64
    (recipes.dir / "snapshot.json").write_text(json.dumps(doc))
    assert recipes.run("download-artifact").returncode != 0


# ---------------------------------------------------------------- monitoring

def test_readyz_probe_follows_the_newest_snapshot(recipes):
    r = recipes.run("readyz-probe")
    assert r.returncode != 0, r.stdout                # no snapshot yet: 503
    recipes.api("writer").create("first")
    r = recipes.run("readyz-probe")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["status"] == "ok"


def test_metrics_check_shows_the_gauges(recipes):
    recipes.api("writer").create("first")
    r = recipes.run("metrics-check")
    assert r.returncode == 0, r.stderr
    assert re.search(r"^statesnap_snapshots 1$", r.stdout, re.M), r.stdout
    assert re.search(r"^statesnap_latest_snapshot_age_seconds \d+$", r.stdout, re.M), r.stdout


# ---------------------------------------------------------------- restore runbook

def test_restore_api_asks_and_does_nothing_on_no(recipes):
    recipes.api("writer").create("good")
    changed = change_positions(recipes)
    r = recipes.run("restore-api", stdin="n\n", SNAPSHOT="good")
    assert r.returncode != 0 and "not restored" in r.stdout, r.stdout + r.stderr
    assert "Current positions: 0 / Snapshot positions: 3" in r.stdout, r.stdout
    assert sha256_file(positions_path(recipes)) == changed
    assert recipes.snapshots() == ["good"]


def test_restore_api_restores_with_a_safety_snapshot(recipes):
    before = sha256_file(positions_path(recipes))
    recipes.api("writer").create("good")
    change_positions(recipes)
    r = recipes.run("restore-api", stdin="y\n", SNAPSHOT="good")
    assert r.returncode == 0, r.stderr
    assert "[OK] overwrite state/positions.json" in r.stdout, r.stdout
    assert re.search(r"^Safety snapshot: pre_restore_\S+$", r.stdout, re.M), r.stdout
    assert r.stdout.rstrip().endswith("Run /preflight to verify system state.")
    assert sha256_file(positions_path(recipes)) == before
    assert any(n.startswith("pre_restore_") for n in recipes.snapshots())


def test_restore_cli_runbook(recipes):
    before = sha256_file(positions_path(recipes))
    recipes.api("writer").create("good")
    change_positions(recipes)
    r = recipes.run("restore-cli", SNAPSHOT="good")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Run /preflight to verify system state." in r.stdout
    assert re.search(r"pre_restore_\d{8}T\d{6}Z", r.stdout.split("Run /preflight")[-1]), r.stdout
    assert sha256_file(positions_path(recipes)) == before


# ---------------------------------------------------------------- drill runbook

def flip_middle_byte(zpath, entry):
    import struct
    import zipfile
    with zipfile.ZipFile(zpath) as z:
        info = z.getinfo(entry)
    with open(zpath, "r+b") as f:
        f.seek(info.header_offset)
        name_len, extra_len = struct.unpack("<HH", f.read(30)[26:30])
        at = info.header_offset + 30 + name_len + extra_len + info.compress_size // 2
        f.seek(at)
        b = f.read(1)
        f.seek(at)
        f.write(bytes([b[0] ^ 0xFF]))


def test_drill_cli_runbook(recipes):
    recipes.api("writer").create("older")
    recipes.api("writer").create("newest")
    r = recipes.run("drill-cli")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "[OK] DRILL PASSED" in r.stdout, r.stdout
    assert "newest\tok" in r.stdout and "older\tnever drilled" in r.stdout, r.stdout


def test_drill_api_passes_and_fails_on_a_corrupted_archive(recipes):
    recipes.api("writer").create("good")
    r = recipes.run("drill-api")
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^good: ok, \d+ files, \d+ ms$", r.stdout, re.M), r.stdout
    recipes.api("writer").create("bad")
    flip_middle_byte(os.path.join(recipes.server.store, "bad.zip"), "state/positions.json")
    r = recipes.run("drill-api")
    assert r.returncode != 0 and "422" in r.stderr, r.stdout + r.stderr


# ---------------------------------------------------------------- README configs

def test_readme_config_examples_pass_config_check(statesnap_bin, tmp_path):
    configs = [b for lang, b in opslib.readme_blocks("json") if '"root"' in b]
    assert configs
    for i, body in enumerate(configs):
        text = re.sub(r"<sha256 of [^>]*>", lambda m: hashlib.sha256(m.group(0).encode()).hexdigest(), body)
        path = tmp_path / ("c%d.json" % i)
        path.write_text(text)
        r = opslib.run([statesnap_bin, "config", "check", "--file", str(path)], cwd=tmp_path)
        assert r.returncode == 0, "%s\n%s" % (r.stderr, body)


def test_verify_signature_accepts_the_stores_archive_and_refuses_an_edited_manifest(recipes):
    recipes.api("writer").create("signed_one")
    shutil.copy(os.path.join(recipes.server.store, "signed_one.zip"), recipes.dir / "NAME.zip")
    shutil.copy(os.path.join(recipes.server.store, "signing_key.pub"), recipes.dir / "signing_key.pub")
    r = recipes.run("verify-signature")
    assert r.returncode == 0 and "Signature Verified Successfully" in r.stdout, (r.stdout, r.stderr)
    # The same archive with one label changed: hashes all consistent, the signature is not.
    src = recipes.dir / "NAME.zip"
    with zipfile.ZipFile(src) as z:
        members = [(i, z.read(i.filename)) for i in z.infolist()]
    with zipfile.ZipFile(src, "w", zipfile.ZIP_DEFLATED) as z:
        for info, body in members:
            if info.filename == "manifest.json":
                m = json.loads(body)
                m["labels"] = {"approved": "yes"}
                body = (json.dumps(m, indent=2, sort_keys=True) + "\n").encode()
            z.writestr(info, body)
    shutil.rmtree(recipes.dir / "x")
    r = recipes.run("verify-signature")
    assert r.returncode != 0 and "Signature Verification Failure" in r.stdout + r.stderr, (r.stdout, r.stderr)
