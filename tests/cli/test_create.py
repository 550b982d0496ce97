"""create: the seed's SNAPSHOT CREATED block, the archive format, the manifest,
and that no .env value reaches the store or any output (issue 2, Done means 2)."""
import calendar
import json
import os
import re
import shutil
import socket
import subprocess
import time

import pytest

from snaplib import (BIN, ENV_MASKED, HEX64, RFC3339, expected_paths, human_size_ok, make_state, mask_env,
                     read_zip, secrets_of, sha256, sha256_file, tree)


def epoch(ts):
    return calendar.timegm(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ"))


def git_head(root):
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                          check=True).stdout.strip()


def root_bytes(root, path):
    if path == ENV_MASKED:
        with open(os.path.join(root, ".env")) as f:
            return mask_env(f.read()).encode()
    with open(os.path.join(root, path), "rb") as f:
        return f.read()


def parse_create_block(out):
    """Split the SNAPSHOT CREATED block into its fields, asserting its shape line by line."""
    lines = out.rstrip("\n").split("\n")
    assert lines[0] == "SNAPSHOT CREATED", out
    assert lines[1] == "================", out
    m_name = re.fullmatch(r"Name: (\S+)", lines[2])
    m_time = re.fullmatch(r"Time: (\S+)", lines[3])
    m_size = re.fullmatch(r"Size: (.+)", lines[4])
    assert m_name and m_time and m_size, out
    assert lines[5] == "" and lines[6] == "CONTENTS:", out
    contents, i = [], 7
    while i < len(lines) and lines[i] != "":
        m = re.fullmatch(r"  (\S+) \(SHA256: ([0-9a-f]{64})\)", lines[i])
        assert m, "bad CONTENTS line %r" % lines[i]
        contents.append((m.group(1), m.group(2)))
        i += 1
    rest = lines[i:]
    assert len(rest) == 5, "expected blank, Location, blank, RESTORE COMMAND:, command after CONTENTS:\n" + out
    assert rest[0] == "" and rest[2] == "" and rest[3] == "RESTORE COMMAND:", out
    m_loc = re.fullmatch(r"Location: (.+)", rest[1])
    assert m_loc, out
    return {"name": m_name.group(1), "time": m_time.group(1), "size": m_size.group(1), "contents": contents,
            "location": m_loc.group(1), "restore": rest[4]}


def test_create_prints_the_seed_block(ss):
    t0 = int(time.time())
    rc, out, err = ss.run("create", "--name", "pre_live_v1", "--dotenv", os.path.join(ss.root, ".env"))
    t1 = int(time.time())
    assert rc == 0, err
    b = parse_create_block(out)
    zpath = ss.archive("pre_live_v1")
    assert b["name"] == "pre_live_v1"
    assert RFC3339.match(b["time"]) and t0 - 1 <= epoch(b["time"]) <= t1 + 1, b["time"]
    assert human_size_ok(b["size"], os.path.getsize(zpath)), (b["size"], os.path.getsize(zpath))
    paths = [p for p, _ in b["contents"]]
    assert len(paths) == len(set(paths)), paths
    assert sorted(paths) == expected_paths(ss.root)
    for path, digest in b["contents"]:
        assert digest == sha256(root_bytes(ss.root, path)), path
    loc = b["location"] if os.path.isabs(b["location"]) else os.path.join(ss.tmp, b["location"])
    assert os.path.samefile(loc, zpath)
    assert re.fullmatch(r"  statesnap( --(root|store|config) \S+)* restore --name pre_live_v1"
                        r"( --(root|store|config) \S+)*", b["restore"]), b["restore"]
    shown = ss.json("show", "pre_live_v1")
    assert shown["created_at"] == b["time"]


def test_create_json_is_the_whole_document_laid_out_as_one(ss):
    """create --json streams files[] from the catalog into the document: the text is
    exactly one document's 2-space, sorted-key layout, with every file of show."""
    for i in range(3):
        with open(os.path.join(ss.root, "state", "f\u00f6rw\u00e4rts_%d.json" % i), "w") as f:
            f.write('{"n": %d}\n' % i)
    rc, out, err = ss.run("--json", "create", "--name", "streamed")
    assert rc == 0, err
    doc = json.loads(out)
    assert out == json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    shown = ss.json("show", "streamed")
    assert doc["files"] == shown["files"] and doc["file_count"] == len(doc["files"]) > 9
    assert [f["path"] for f in doc["files"]] == sorted(f["path"] for f in doc["files"])
    # The text block lists the same files, in the same order.
    rc, out, err = ss.run("create", "--name", "streamed_2")
    assert rc == 0, err
    assert [p for p, _ in parse_create_block(out)["contents"]] == [f["path"] for f in doc["files"]]


def test_archive_passes_unzip_and_sha256sum(ss, tmp_path):
    snap = ss.create("pre_live_v1", "--dotenv", os.path.join(ss.root, ".env"))
    zpath = ss.archive("pre_live_v1")
    r = subprocess.run(["unzip", "-t", zpath], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    out = tmp_path / "unzipped"
    r = subprocess.run(["unzip", "-q", zpath, "-d", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run(["sha256sum", "--strict", "-c", "SHA256SUMS"], cwd=out, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    checked = sorted(line.rsplit(": ", 1)[0] for line in r.stdout.splitlines())
    assert all(line.endswith(": OK") for line in r.stdout.splitlines()), r.stdout
    want = expected_paths(ss.root)
    assert set(want) <= set(checked) <= set(want) | {"manifest.json"}, checked

    entries = read_zip(zpath)
    assert sorted(entries) == sorted(want + ["manifest.json", "SHA256SUMS", "manifest.json.sig"])
    # The signature checks with the openssl command line and the store's public key alone.
    r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey",
                        os.path.join(ss.store, "signing_key.pub"), "-rawin", "-in",
                        str(out / "manifest.json"), "-sigfile", str(out / "manifest.json.sig")],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "Verified" in r.stdout, r.stdout + r.stderr
    for path in want:
        assert entries[path] == root_bytes(ss.root, path), path
        with open(out / path, "rb") as f:
            assert f.read() == entries[path], path
    assert snap["archive_sha256"] == sha256_file(zpath)
    assert snap["size"] == os.path.getsize(zpath)


def test_manifest_describes_the_capture(ss):
    snap = ss.create("m1")
    man = json.loads(read_zip(ss.archive("m1"))["manifest.json"])
    assert man["format"] == 1
    assert man["name"] == "m1"
    assert RFC3339.match(man["created_at"]) and man["created_at"] == snap["created_at"]
    assert man["version"] == "1.2.0" == snap["version"]
    assert man["git_commit"] == git_head(ss.root) == snap["git_commit"]
    assert man["host"] == socket.gethostname() == snap["host"]
    assert isinstance(man["created_by"], str) and man["created_by"]
    assert man["labels"] == {} and man["pinned"] is False
    assert man["positions_count"] == 5 == snap["positions_count"]
    groups = {"state": "state", "config": "config", "env": "secrets"}
    files = {f["path"]: f for f in man["files"]}
    assert sorted(files) == expected_paths(ss.root)
    for path, f in files.items():
        data = root_bytes(ss.root, path)
        assert f["size"] == len(data) and f["sha256"] == sha256(data), path
        assert f["group"] == groups[path.split("/")[0]], f
    assert [dict(f) for f in snap["files"]] == [dict(files[p]) for p in (f["path"] for f in snap["files"])]
    assert sorted(f["path"] for f in snap["files"]) == sorted(files)
    assert snap["file_count"] == len(files)
    assert isinstance(man["absent"], list) and not set(man["absent"]) & set(files)
    rc, version_out, _ = ss.run("version")
    assert rc == 0 and man["statesnap_version"] in version_out
    keys = ["BROKER_API_KEY", "BROKER_API_SECRET", "TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID", "DATABASE_URL", "MODE"]
    assert sorted(man["env_keys"]) == sorted(keys)
    values = dict(zip(keys, make_state(ss.root, "--print-secrets").splitlines()))
    for k, fp in man["env_keys"].items():
        assert HEX64.match(fp), fp
        assert fp != sha256(values[k].encode()), "%s fingerprint is a plain SHA-256 of the value" % k


def test_env_masking_keeps_comments_and_blank_lines(ss):
    with open(os.path.join(ss.root, ".env")) as f:
        text = f.read()
    ss.create("m1")
    masked = read_zip(ss.archive("m1"))[ENV_MASKED].decode()
    assert masked == mask_env(text)
    assert "# broker credentials\n" in masked and "\n\n" in masked
    assert masked.count("=********\n") == 6


def test_no_secret_reaches_the_store_or_any_output(ss, tmp_path):
    secrets = secrets_of(ss.root)
    outputs = []
    rc, out, err = ss.run("create", "--name", "pre_live_v1", "--dotenv", os.path.join(ss.root, ".env"))
    assert rc == 0, err
    outputs += [out, err]
    for args in (["--json", "create", "--name", "second", "--label", "reason=pre-deploy"],
                 ["list"], ["--json", "list"], ["show", "pre_live_v1"], ["--json", "show", "pre_live_v1"],
                 ["verify", "--all"], ["--json", "verify", "--all"],
                 ["diff", "--from", "pre_live_v1", "--to", "live"],
                 ["--json", "diff", "--from", "pre_live_v1", "--to", "second"],
                 ["restore", "--name", "pre_live_v1", "--dry-run"]):
        rc, out, err = ss.run(*args)
        assert rc == 0, (args, err)
        outputs += [out, err]
    # Change one value so a diff has something to say about it.
    env_path = os.path.join(ss.root, ".env")
    with open(env_path) as f:
        text = f.read()
    with open(env_path, "w") as f:
        f.write(text.replace("MODE=paper-", "MODE=live-"))
    rc, out, err = ss.run("--json", "diff", "--from", "pre_live_v1", "--to", "live")
    assert rc == 0, err
    assert json.loads(out)["env"]["changed"] == ["MODE"]
    outputs += [out, err]
    new_secrets = secrets + [v for v in make_state(ss.root, "--print-secrets").splitlines() if v not in secrets]

    blobs = {"output %d" % i: o.encode() for i, o in enumerate(outputs)}
    for rel, data in tree(ss.store).items():
        if data is None:
            continue
        blobs["store/" + rel] = data
        if rel.endswith(".zip"):
            for entry, content in read_zip(os.path.join(ss.store, rel)).items():
                blobs["store/%s!%s" % (rel, entry)] = content
    dump = subprocess.run(["sqlite3", os.path.join(ss.store, "catalog.db"), ".dump"], capture_output=True)
    assert dump.returncode == 0 and b"CREATE TABLE" in dump.stdout
    blobs["catalog.db .dump"] = dump.stdout
    assert any(k.endswith("!" + ENV_MASKED) for k in blobs)
    for secret in new_secrets:
        for where, data in blobs.items():
            assert secret.encode() not in data, "secret %r found in %s" % (secret[:6] + "...", where)


def test_store_secret_is_private(ss):
    ss.create("m1")
    st = os.stat(os.path.join(ss.store, ".secret"))
    assert st.st_mode & 0o777 == 0o600
    assert st.st_size >= 32


def test_fingerprints_are_stable_within_a_store(ss):
    ss.create("a")
    ss.create("b")
    a = json.loads(read_zip(ss.archive("a"))["manifest.json"])
    b = json.loads(read_zip(ss.archive("b"))["manifest.json"])
    assert len(a["env_keys"]) == 6 and a["env_keys"] == b["env_keys"]


def test_default_name_is_the_utc_timestamp(ss):
    snap = ss.json("create")
    m = re.fullmatch(r"snap_(\d{8})T(\d{6})Z", snap["name"])
    assert m, snap["name"]
    assert snap["created_at"] == "%s-%s-%sT%s:%s:%sZ" % (m.group(1)[:4], m.group(1)[4:6], m.group(1)[6:],
                                                          m.group(2)[:2], m.group(2)[2:4], m.group(2)[4:])
    assert os.path.isfile(ss.archive(snap["name"]))


def test_pinned_clock_gives_the_seed_time_and_default_name(ss):
    rc, out, err = ss.run("create", now=1735137000)   # 2024-12-25T14:30:00Z
    assert rc == 0, err
    b = parse_create_block(out)
    assert b["name"] == "snap_20241225T143000Z"
    assert b["time"] == "2024-12-25T14:30:00Z"
    assert b["restore"].endswith(" restore --name snap_20241225T143000Z") or \
        " restore --name snap_20241225T143000Z " in b["restore"]
    # A second auto-named create in the same second must not fail or overwrite.
    second = ss.json("create", now=1735137000)["name"]
    assert second != "snap_20241225T143000Z" and second.startswith("snap_20241225T143000Z")
    assert sorted(ss.names()) == sorted(["snap_20241225T143000Z", second])
    assert os.path.isfile(ss.archive(second)) and os.path.isfile(ss.archive("snap_20241225T143000Z"))


def test_labels_pin_and_version_tag(ss):
    snap = ss.create("lab", "--label", "reason=pre-deploy", "--label", "pipeline=123", "--pin",
                     "--version-tag", "9.9.9-rc1")
    assert snap["labels"] == {"reason": "pre-deploy", "pipeline": "123"}
    assert snap["pinned"] is True
    assert snap["version"] == "9.9.9-rc1"
    man = json.loads(read_zip(ss.archive("lab"))["manifest.json"])
    assert man["labels"] == snap["labels"] and man["pinned"] is True and man["version"] == "9.9.9-rc1"
    shown = ss.json("show", "lab")
    assert shown["labels"] == snap["labels"] and shown["pinned"] is True


def test_version_falls_back_to_config_then_unknown(ss):
    os.remove(os.path.join(ss.root, "VERSION"))
    cfg_path = os.path.join(ss.root, "config/config.json")
    with open(cfg_path) as f:
        cfg = json.load(f)
    cfg["version"] = "3.4.5"
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    assert ss.create("v1")["version"] == "3.4.5"
    del cfg["version"]
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    assert ss.create("v2")["version"] == "unknown"


def test_git_commit_from_packed_refs_and_null_without_git(ss):
    head = git_head(ss.root)
    subprocess.run(["git", "pack-refs", "--all", "--prune"], cwd=ss.root, check=True)
    assert not os.path.exists(os.path.join(ss.root, ".git/refs/heads/main"))
    assert ss.create("packed")["git_commit"] == head
    subprocess.run(["rm", "-rf", os.path.join(ss.root, ".git")], check=True)
    assert ss.create("nogit")["git_commit"] is None


def test_missing_optional_file_is_recorded_absent(ss):
    os.remove(os.path.join(ss.root, "state/orders.json"))
    snap = ss.create("partial")
    assert "state/orders.json" in snap["absent"]
    assert "state/orders.json" not in [f["path"] for f in snap["files"]]
    assert "state/orders.json" not in read_zip(ss.archive("partial"))


def test_kill_switch_and_extra_state_files_are_captured(ss):
    with open(os.path.join(ss.root, "state/KILL_SWITCH"), "w") as f:
        f.write("engaged 2024-12-01T14:30:00Z by operator\n")
    with open(os.path.join(ss.root, "state/extra_signals.jsonl"), "w") as f:
        f.write('{"s":1}\n')
    snap = ss.create("ks")
    entries = read_zip(ss.archive("ks"))
    assert entries["state/KILL_SWITCH"] == open(os.path.join(ss.root, "state/KILL_SWITCH"), "rb").read()
    assert entries["state/extra_signals.jsonl"] == b'{"s":1}\n'
    assert {"state/KILL_SWITCH", "state/extra_signals.jsonl"} <= {f["path"] for f in snap["files"]}


def test_symlink_out_of_root_is_not_followed(ss, tmp_path):
    outside = tmp_path / "outside.json"
    outside.write_text('{"stolen": "' + "x" * 40 + '"}\n')
    os.symlink(str(outside), os.path.join(ss.root, "state/escape.json"))
    snap = ss.create("links")
    for name, data in read_zip(ss.archive("links")).items():
        assert b"stolen" not in data, name
    assert any("state/escape.json" in w for w in snap["warnings"]), snap["warnings"]


def test_symlinked_state_dir_out_of_root_is_not_followed_and_is_warned(ss, tmp_path):
    """A state/ that is a symlink to another volume must not silently yield a
    snapshot with every state file 'absent' and exit 0 without a word."""
    outside = tmp_path / "volume_state"
    shutil.move(os.path.join(ss.root, "state"), str(outside))
    os.symlink(str(outside), os.path.join(ss.root, "state"))
    rc, out, err = ss.run("--json", "create", "--name", "dirlink")
    if rc == 0:
        snap = json.loads(out)
        assert not any(f["path"].startswith("state/") for f in snap["files"])
        assert any(w.startswith("skipped state") or "state:" in w or "state " in w for w in snap["warnings"]), \
            "state/ was skipped without a warning: %s" % snap["warnings"]
    else:
        assert rc in (1, 2) and err.startswith("statesnap: ") and "state" in err, err


@pytest.mark.parametrize("doc,count", [
    ({"positions": [{"symbol": "A"}, {"symbol": "B"}]}, 2),
    ([{"symbol": "A"}, {"symbol": "B"}, {"symbol": "C"}], 3),
    ({"AAPL": {"qty": 1}, "MSFT": {"qty": 2}, "NVDA": {"qty": 3}, "TSLA": {"qty": 4}}, 4),
    ({"positions": []}, 0),
], ids=["object-with-array", "bare-array", "object-map", "empty"])
def test_positions_count_shapes(ss, doc, count):
    with open(os.path.join(ss.root, "state/positions.json"), "w") as f:
        json.dump(doc, f)
    assert ss.create("pc")["positions_count"] == count
    assert json.loads(read_zip(ss.archive("pc"))["manifest.json"])["positions_count"] == count


def test_git_commit_on_a_detached_head(ss):
    head = git_head(ss.root)
    subprocess.run(["git", "checkout", "-q", "--detach"], cwd=ss.root, check=True)
    with open(os.path.join(ss.root, ".git/HEAD")) as f:
        assert f.read().strip() == head
    assert ss.create("detached")["git_commit"] == head


def test_dotenv_flag_masks_the_named_file(ss, tmp_path):
    other = tmp_path / "prod.env"
    other.write_text("# production\nFOO_TOKEN=abcdefghijklmnopqrstuvwx\nexport BAR_SECRET=0123456789abcdef0123\n")
    snap = ss.create("od", "--dotenv", str(other))
    entries = read_zip(ss.archive("od"))
    assert entries[ENV_MASKED] == b"# production\nFOO_TOKEN=********\nexport BAR_SECRET=********\n"
    man = json.loads(entries["manifest.json"])
    assert sorted(man["env_keys"]) == ["BAR_SECRET", "FOO_TOKEN"]
    assert snap["name"] == "od"
    for data in entries.values():
        assert b"abcdefghijklmnopqrstuvwx" not in data and b"0123456789abcdef0123" not in data


def test_root_given_through_a_symlink(ss, tmp_path):
    link = tmp_path / "root-link"
    os.symlink(ss.root, str(link))
    rc, out, err = ss.run("--root", str(link), "--json", "create", "--name", "vialink", root=False)
    assert rc == 0, err
    assert sorted(f["path"] for f in json.loads(out)["files"]) == expected_paths(ss.root)


def test_special_file_is_skipped_with_a_warning(ss):
    os.mkfifo(os.path.join(ss.root, "state/pipe.json"))
    rc, out, err = ss.run("--json", "create", "--name", "fifo", timeout=60)
    assert rc == 0, err
    snap = json.loads(out)
    assert "state/pipe.json" not in [f["path"] for f in snap["files"]]
    assert any("state/pipe.json" in w for w in snap["warnings"]), snap["warnings"]


@pytest.mark.parametrize("flag_last", [False, True])
def test_global_options_after_the_command(ss, flag_last):
    args = ["create", "--name", "g1", "--root", ss.root, "--store", ss.store, "--json"] if flag_last else \
        ["--json", "--root", ss.root, "--store", ss.store, "create", "--name", "g1"]
    rc, out, err = ss.run(*args, root=False, store=False)
    assert rc == 0, err
    assert json.loads(out)["name"] == "g1"
    assert os.path.isfile(ss.archive("g1"))


HARD_ENV = ('PRIVATE_KEY="-----BEGIN PRIVATE KEY-----\n'
            'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n'
            'MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n'
            '-----END PRIVATE KEY-----"\n'
            '  SPACED_KEY = spacedsecretvalue1234567\n'
            'JUSTATOKENLINEWITHOUTEQUALS1234567890\n'
            "QUOTED='single quoted secret 12345678'\n"
            'B64=c2VjcmV0LWJhc2U2NC12YWx1ZQ==\n')
HARD_SECRETS = ["MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj",
                "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu",
                "spacedsecretvalue1234567", "JUSTATOKENLINEWITHOUTEQUALS1234567890", "single quoted secret 12345678",
                "c2VjcmV0LWJhc2U2NC12YWx1ZQ"]


def test_awkward_env_lines_never_leak(ss):
    """Multi-line quoted values, spaces around '=', a line that is not KEY=value,
    quotes, '=' inside a value: no byte of any value reaches the archive."""
    with open(os.path.join(ss.root, ".env"), "a") as f:
        f.write(HARD_ENV)
    rc, out, err = ss.run("--json", "create", "--name", "hard")
    assert rc == 0, err
    entries = read_zip(ss.archive("hard"))
    man = json.loads(entries["manifest.json"])
    assert {"PRIVATE_KEY", "SPACED_KEY", "QUOTED", "B64"} <= set(man["env_keys"])
    masked = entries[ENV_MASKED].decode()
    for key in ("PRIVATE_KEY", "QUOTED", "B64"):
        assert key + "=********\n" in masked, masked
    blobs = [out, err] + [d.decode("latin-1") for d in entries.values()]
    blobs += [d.decode("latin-1") for d in tree(ss.store).values() if d]
    for s in HARD_SECRETS:
        assert not any(s in b for b in blobs), "%s... leaked" % s[:8]
    assert "BEGIN PRIVATE KEY" not in masked and "END PRIVATE KEY" not in masked


def test_large_files_deflated_on_several_threads_round_trip(ss, tmp_path):
    """A chain past PDEFLATE_MIN (2 MiB) is deflated on several threads
    (engine/pdeflate.c) and spliced into the zip as one stream: unzip, a
    SHA256SUMS check, verify and a restore all see the exact bytes. (On a
    one-CPU machine libzip deflates it instead; the checks are the same.)"""
    chain = os.path.join(ss.root, "state", "hash_chain.jsonl")
    with open(chain, "ab") as f:
        line = 0
        while f.tell() < 9 * (1 << 20) + 12345:      # 9+ blocks: every worker gets several
            f.write(b'{"seq":%d,"prev":"%064x","side":"buy"}\n' % (line, line * 2654435761 % (1 << 255)))
            line += 1
    want = sha256_file(chain)
    ss.create("big")
    zpath = ss.archive("big")
    r = subprocess.run(["unzip", "-t", zpath], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    out = tmp_path / "unzipped"
    r = subprocess.run(["unzip", "-q", zpath, "-d", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(["sha256sum", "--strict", "-c", "SHA256SUMS"], cwd=out, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert sha256_file(out / "state" / "hash_chain.jsonl") == want
    # Deflated, not stored: the JSON lines compress.
    assert os.path.getsize(zpath) < os.path.getsize(chain) / 2
    ss.ok("verify", "big")
    with open(chain, "ab") as f:
        f.write(b'{"seq":"later"}\n')
    ss.ok("restore", "big", "--yes")
    assert sha256_file(chain) == want


def _peak_threads(ss, *args):
    """Run statesnap ARGS, sampling its thread count from /proc until it
    exits; returns (exit status, stderr, most threads seen)."""
    cmd = [BIN, "--root", ss.root, "--store", ss.store] + list(args)
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ss.tmp)
    peak = 0
    while p.poll() is None:
        try:
            with open("/proc/%d/status" % p.pid) as f:
                for ln in f:
                    if ln.startswith("Threads:"):
                        peak = max(peak, int(ln.split()[1]))
        except (FileNotFoundError, ProcessLookupError):
            break
        time.sleep(0.001)
    err = p.stderr.read().decode(errors="replace")
    return p.wait(), err, peak


@pytest.mark.parametrize("threads", [1, 2])
def test_compress_threads_caps_the_deflate_threads(ss, tmp_path, threads):
    """compress_threads in the config bounds how many threads a create
    deflates on (a trading host may want its cores for the bot): 1 keeps the
    whole create on its one thread; 2 uses two workers beside it, whatever
    the CPU count. The archive round-trips either way."""
    chain = os.path.join(ss.root, "state", "hash_chain.jsonl")
    with open(chain, "ab") as f:
        line = 0
        while f.tell() < 24 * (1 << 20):      # long enough to be seen compressing
            f.write(b'{"seq":%d,"prev":"%064x","side":"sell"}\n' % (line, line * 2654435761 % (1 << 255)))
            line += 1
    want = sha256_file(chain)
    cfg = tmp_path / "statesnap.json"
    cfg.write_text(json.dumps({"compress_threads": threads}))
    rc, err, peak = _peak_threads(ss, "--config", str(cfg), "create", "--name", "capped")
    assert rc == 0, err
    if threads == 1:
        assert peak == 1, "a create with compress_threads 1 ran %d threads" % peak
    else:
        assert 2 <= peak <= 1 + threads, "a create with compress_threads %d ran %d threads" % (threads, peak)
    ss.ok("verify", "capped")
    with open(chain, "ab") as f:
        f.write(b'{"seq":"later"}\n')
    ss.ok("restore", "capped", "--yes")
    assert sha256_file(chain) == want


@pytest.mark.parametrize("value", [-1, 9, "2", 1.5])
def test_compress_threads_out_of_range_is_refused(ss, tmp_path, value):
    cfg = tmp_path / "statesnap.json"
    cfg.write_text(json.dumps({"compress_threads": value}))
    rc, out, err = ss.run("--config", str(cfg), "create", "--name", "never")
    assert rc == 2, (rc, out, err)
    assert "compress_threads" in err
    # Refused before the store is touched: not even an empty catalog is made.
    assert not os.path.exists(os.path.join(ss.store, "catalog.db"))
