"""Config include/exclude globs replace the default capture set; .env files
matched by a glob are never captured raw."""
import json
import os

from snaplib import read_zip


def write_cfg(ss, doc):
    path = os.path.join(ss.tmp, "cfg.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    return path


def test_include_and_exclude_globs(ss):
    os.makedirs(os.path.join(ss.root, "models"), exist_ok=True)
    with open(os.path.join(ss.root, "models", "weights.bin"), "wb") as f:
        f.write(b"\x00\x01weights" * 100)
    with open(os.path.join(ss.root, "models", ".env.local"), "w") as f:
        f.write("LEAK=do-not-capture-me-123456\n")
    cfg = write_cfg(ss, {"include": ["state/*.json", "models/*", "models/.env*"],
                         "exclude": ["state/orders.json"]})
    snap = ss.json("--config", cfg, "create", "--name", "globs")
    paths = sorted(f["path"] for f in snap["files"])
    assert "models/weights.bin" in paths
    assert "state/positions.json" in paths
    assert "state/orders.json" not in paths            # excluded
    assert "state/hash_chain.jsonl" not in paths       # not included any more
    assert "models/.env.local" not in paths            # .env* never raw
    assert any(".env.local" in w for w in snap["warnings"])
    groups = {f["path"]: f["group"] for f in snap["files"]}
    assert groups["models/weights.bin"] == "other"
    members = read_zip(ss.archive("globs"))
    assert members["models/weights.bin"] == b"\x00\x01weights" * 100
    assert all(b"do-not-capture-me-123456" not in data for data in members.values())


def test_glob_with_dotdot_is_a_config_error(ss):
    cfg = write_cfg(ss, {"include": ["../outside/*"]})
    rc, out, err = ss.run("--config", cfg, "create", "--name", "x")
    assert rc == 2
    assert err.startswith("statesnap: ") and "include" in err
    assert not os.path.exists(ss.store)
