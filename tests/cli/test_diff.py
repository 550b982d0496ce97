"""diff: per-file status, positions per symbol, .env keys by fingerprint, and
the hash chain's extends/rewritten verdict (issue 2, Done means 4)."""
import json
import os

import pytest

from snaplib import chain_lines, make_state, positions_doc, secrets_of, write_json

A_POSITIONS = [("AAPL", "long", 100, 150.0), ("MSFT", "short", 50, 300.0), ("NVDA", "long", 10, 800.0)]
B_POSITIONS = [("AAPL", "long", 120, 150.0), ("NVDA", "long", 10, 800.0), ("TSLA", "long", 5, 200.0)]


def symbol_of(entry):
    return entry if isinstance(entry, str) else entry["symbol"]


def file_status(diff):
    return {f["path"]: f["status"] for f in diff["files"]}


def find_change(doc, suffix, old, new):
    """True when some object inside doc has old/new values and a string ending in suffix."""
    if isinstance(doc, dict):
        if doc.get("old") == old and doc.get("new") == new and \
                any(isinstance(v, str) and v.endswith(suffix) for v in doc.values()):
            return True
        return any(find_change(v, suffix, old, new) for v in doc.values())
    if isinstance(doc, list):
        return any(find_change(v, suffix, old, new) for v in doc)
    return False


@pytest.fixture
def ab(ss):
    """Snapshot A; then AAPL 100->120, MSFT closed, TSLA opened, 20 chain events
    appended; snapshot B."""
    write_json(os.path.join(ss.root, "state/positions.json"), positions_doc(A_POSITIONS))
    ss.create("snap_001")
    make_state(ss.root, "--advance", "20", "--seed", "42")
    write_json(os.path.join(ss.root, "state/positions.json"), positions_doc(B_POSITIONS))
    ss.create("snap_002")
    return ss


def test_diff_positions_per_symbol_and_chain_extends(ab):
    d = ab.json("diff", "--from", "snap_001", "--to", "snap_002")
    pos = d["positions"]
    assert [symbol_of(x) for x in pos["opened"]] == ["TSLA"]
    assert [symbol_of(x) for x in pos["closed"]] == ["MSFT"]
    assert [c["symbol"] for c in pos["changed"]] == ["AAPL"]
    aapl = pos["changed"][0]
    assert aapl["old"]["qty"] == 100 and aapl["new"]["qty"] == 120, aapl
    chain = d["hash_chain"]
    assert chain["relation"] == "extends"
    assert chain["lines_added"] == 20
    st = file_status(d)
    assert st["state/positions.json"] == "modified"
    assert st["state/hash_chain.jsonl"] == "modified"
    assert st["config/config.json"] == "unchanged"
    assert st["config/risk_limits.json"] == "unchanged"
    assert st["env/.env.masked"] == "unchanged"
    assert (d["env"]["added"], d["env"]["removed"], d["env"]["changed"]) == ([], [], [])
    assert d["config_changes"] == []


def test_diff_json_changes_use_json_pointers(ab):
    d = ab.json("diff", "--from", "snap_001", "--to", "snap_002")
    assert find_change(d["json_changes"], "/positions/0/qty", 100, 120), json.dumps(d["json_changes"])[:2000]


def test_diff_human_output_names_the_changes(ab):
    rc, out, err = ab.run("diff", "--from", "snap_001", "--to", "snap_002")
    assert rc == 0, err
    assert "extends" in out
    assert "AAPL" in out and "MSFT" in out and "TSLA" in out
    assert "state/positions.json" in out


def test_diff_rewritten_chain_is_flagged(ab):
    make_state(ab.root, "--edit-chain-line", "3")
    ab.create("snap_003")
    d = ab.json("diff", "--from", "snap_002", "--to", "snap_003")
    assert d["hash_chain"]["relation"] == "rewritten"
    assert file_status(d)["state/hash_chain.jsonl"] == "modified"
    d = ab.json("diff", "--from", "snap_001", "--to", "snap_003")
    assert d["hash_chain"]["relation"] == "rewritten"
    rc, out, err = ab.run("diff", "--from", "snap_001", "--to", "snap_003")
    assert rc == 0 and "rewritten" in out, err


def test_diff_truncated_chain_is_not_an_extension(ab):
    path = os.path.join(ab.root, "state/hash_chain.jsonl")
    lines = chain_lines(path)
    with open(path, "wb") as f:
        f.write(b"\n".join(lines[:-5]) + b"\n")
    d = ab.json("diff", "--from", "snap_002", "--to", "live")
    assert d["hash_chain"]["relation"] == "rewritten"


def test_diff_to_live(ab):
    d = ab.json("diff", "--from", "snap_002", "--to", "live")
    assert d["hash_chain"]["relation"] == "identical"
    assert d["hash_chain"]["lines_added"] == 0
    assert all(s == "unchanged" for s in file_status(d).values()), file_status(d)
    make_state(ab.root, "--advance", "7", "--seed", "42")
    write_json(os.path.join(ab.root, "state/positions.json"), positions_doc(A_POSITIONS))
    d = ab.json("diff", "--from", "snap_002", "--to", "live")
    assert d["hash_chain"]["relation"] == "extends" and d["hash_chain"]["lines_added"] == 7
    assert [symbol_of(x) for x in d["positions"]["opened"]] == ["MSFT"]
    assert [symbol_of(x) for x in d["positions"]["closed"]] == ["TSLA"]
    make_state(ab.root, "--edit-chain-line", "1")
    d = ab.json("diff", "--from", "snap_002", "--to", "live")
    assert d["hash_chain"]["relation"] == "rewritten"
    rc, out, err = ab.run("diff", "--from", "snap_001", "--to", "live")
    assert rc == 0 and "rewritten" in out, err


def test_diff_identical_snapshots(ab):
    d = ab.json("diff", "--from", "snap_001", "--to", "snap_001")
    assert d["hash_chain"]["relation"] == "identical"
    assert all(s == "unchanged" for s in file_status(d).values())
    assert d["positions"]["changed"] == [] and d["positions"]["opened"] == [] and d["positions"]["closed"] == []


def test_diff_env_keys_by_fingerprint_without_values(ab):
    secrets = secrets_of(ab.root)
    env_path = os.path.join(ab.root, ".env")
    with open(env_path) as f:
        lines = f.read().splitlines(keepends=True)
    new_key = "BROKER_API_KEY=PKZZZZ" + "9" * 26 + "\n"
    out = []
    for line in lines:
        if line.startswith("BROKER_API_KEY="):
            out.append(new_key)
        elif line.startswith("MODE="):
            continue
        else:
            out.append(line)
    out.append("SLACK_WEBHOOK=https://hooks.example.invalid/" + "k" * 24 + "\n")
    with open(env_path, "w") as f:
        f.write("".join(out))
    rc, text, err = ab.run("--json", "diff", "--from", "snap_002", "--to", "live")
    assert rc == 0, err
    d = json.loads(text)
    assert d["env"]["changed"] == ["BROKER_API_KEY"]
    assert d["env"]["added"] == ["SLACK_WEBHOOK"]
    assert d["env"]["removed"] == ["MODE"]
    assert file_status(d)["env/.env.masked"] == "modified"
    rc, human, err2 = ab.run("diff", "--from", "snap_002", "--to", "live")
    assert rc == 0 and "BROKER_API_KEY" in human, err2
    for s in secrets + ["PKZZZZ" + "9" * 26, "k" * 24]:
        for where in (text, err, human, err2):
            assert s not in where, "a .env value leaked into diff output"


def test_diff_lists_config_value_changes(ab):
    path = os.path.join(ab.root, "config/risk_limits.json")
    with open(path) as f:
        risk = json.load(f)
    risk["max_daily_loss_usd"] = 25000
    write_json(path, risk)
    d = ab.json("diff", "--from", "snap_002", "--to", "live")
    assert file_status(d)["config/risk_limits.json"] == "modified"
    assert find_change(d["config_changes"], "max_daily_loss_usd", 50000, 25000), d["config_changes"]


def test_diff_added_and_removed_files(ab):
    os.remove(os.path.join(ab.root, "state/orders.json"))
    with open(os.path.join(ab.root, "state/KILL_SWITCH"), "w") as f:
        f.write("engaged\n")
    d = ab.json("diff", "--from", "snap_002", "--to", "live")
    st = file_status(d)
    assert st["state/orders.json"] == "removed"
    assert st["state/KILL_SWITCH"] == "added"


def test_diff_unknown_snapshot_fails(ab):
    rc, out, err = ab.run("diff", "--from", "snap_001", "--to", "nope")
    assert rc == 1 and err.startswith("statesnap: ") and len(err.splitlines()) == 1, (rc, err)
    assert out == ""
