"""deploy/statesnap.example.json: passes `statesnap config check`, holds every key
conf/ and the modules it hands sections to know (tokens as hashes only), and every key is documented in the
README's config reference; an unknown key anywhere fails with a clear message."""
import copy
import json
import re
import subprocess

import pytest

import opslib


def load_example():
    with open(opslib.EXAMPLE_CONFIG) as f:
        return json.load(f)


def dotted_keys(doc):
    """The keys a config document sets, spelled like opslib.config_keys_dotted()."""
    out = set()
    for k, v in doc.items():
        out.add(k)
        if k == "tokens":
            for t in v:
                out.update("tokens[].%s" % tk for tk in t)
        elif isinstance(v, dict):
            for sk, sv in v.items():
                out.add("%s.%s" % (k, sk))
                if isinstance(sv, dict):
                    out.update("%s.%s.%s" % (k, sk, x) for x in sv)
    return out


def config_check(binary, path, cwd, via="--file"):
    args = [binary, "config", "check", "--file", path] if via == "--file" else \
        [binary, "--config", path, "config", "check"]
    return opslib.run(args, cwd=cwd)


@pytest.mark.parametrize("via", ["--file", "--config"])
def test_example_config_passes_config_check(statesnap_bin, tmp_path, via):
    r = config_check(statesnap_bin, opslib.EXAMPLE_CONFIG, tmp_path, via)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "OK " + opslib.EXAMPLE_CONFIG and r.stderr == ""


def test_example_config_sets_every_key(statesnap_bin):
    want = set(opslib.config_keys_dotted())
    have = dotted_keys(load_example())
    assert want - have == set(), "keys missing from the example: %s" % sorted(want - have)
    assert have - want == set(), "keys the parser does not know: %s" % sorted(have - want)


def test_example_tokens_are_hashes_with_distinct_names_and_every_role():
    tokens = load_example()["tokens"]
    assert {t["role"] for t in tokens} == {"read", "write", "admin"}
    assert len({t["name"] for t in tokens}) == len(tokens)
    for t in tokens:
        assert set(t) == {"name", "role", "sha256"}, t
        assert re.fullmatch(r"[0-9a-f]{64}", t["sha256"]), t


# (where, edit) - each edit adds one unknown key; the message must name it with its path.
UNKNOWN = [
    ("top level", lambda d: d.update(listen_address="0.0.0.0:8443"), '"listen_address"'),
    ("retention", lambda d: d["retention"].update(keep_hourly=24), '"retention.keep_hourly"'),
    ("offsite", lambda d: d["offsite"].update(storage_class="GLACIER"), '"offsite.storage_class"'),
    ("tokens", lambda d: d["tokens"][0].update(token="plain-text"), '"tokens[].token"'),
    ("alerts.telegram", lambda d: d["alerts"]["telegram"].update(parse_mode="HTML"),
     '"alerts.telegram.parse_mode"'),
]


@pytest.mark.parametrize("where,edit,named", UNKNOWN, ids=[u[0] for u in UNKNOWN])
@pytest.mark.parametrize("via", ["--file", "--config"])
def test_unknown_key_fails_with_a_clear_message(statesnap_bin, tmp_path, where, edit, named, via):
    doc = copy.deepcopy(load_example())
    edit(doc)
    bad = tmp_path / "statesnap.json"
    bad.write_text(json.dumps(doc, indent=2))
    r = config_check(statesnap_bin, str(bad), tmp_path, via)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("statesnap: ") and "unknown key" in lines[0] \
        and named in lines[0], r.stderr


def test_a_typo_in_a_value_fails_too(statesnap_bin, tmp_path):
    doc = load_example()
    doc["retention"]["keep_last"] = 2     # below the floor of 5
    bad = tmp_path / "c.json"
    bad.write_text(json.dumps(doc))
    r = config_check(statesnap_bin, str(bad), tmp_path)
    assert r.returncode == 2 and "keep_last" in r.stderr, r.stderr


def test_readme_config_reference_documents_every_key():
    ref = opslib.readme_section("Config reference")
    documented = set(re.findall(r"^\|\s*`([a-z0-9_\[\].]+)`", ref, re.M))
    want = set(opslib.config_keys_dotted())
    assert want - documented == set(), "not in the README's config reference: %s" % sorted(want - documented)
    assert documented - want == set(), "documented but unknown to the parser: %s" % sorted(documented - want)
    for var in ("STATESNAP_ROOT", "STATESNAP_STORE", "STATESNAP_TOKEN_READ", "STATESNAP_TOKEN_WRITE",
                "STATESNAP_TOKEN_ADMIN"):
        assert var in ref, var


def test_readme_example_config_is_the_shipped_file():
    # The README points at deploy/statesnap.example.json rather than copying it,
    # so the two cannot drift; it must say so.
    assert "deploy/statesnap.example.json" in opslib.readme_section("Config reference")


def test_example_config_runs_a_server(make_server, tmp_path):
    # Every section is accepted by serve too (alerts worker, scheduler), not
    # only by config check. Root, store and listen come from the test; TLS
    # files, the offsite encryption key pair and token hashes of the example
    # are replaced by the test's own.
    doc = load_example()
    for key in ("root", "store", "listen", "tls_cert", "tls_key", "tokens", "dotenv"):
        doc.pop(key)
    cert, key = str(tmp_path / "recipient.crt"), str(tmp_path / "recipient.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-subj", "/CN=statesnap-offsite", "-days", "2"], check=True, capture_output=True)
    doc["offsite"].update(encrypt_to=cert, decrypt_key=key)
    s = make_server(config=doc)
    reader = s.api(s.token("reader"))
    reader.get("/healthz", expect=200)
    sched = reader.get("/api/v1/schedule", expect=200).json()
    assert sched["enabled"] is True and sched["interval_seconds"] == 24 * 3600, sched
