"""Reuse under a running bot (issue 18): repeat creates while the bot appends
to the chain and rewrites its JSON copy the previous archive's deflate blocks
for the chain's unchanged prefix, and every snapshot is still a consistent,
verifiable, restorable, importable cut (livelib.Checker)."""
import json

import livelib
from livelib import Bot, Checker, cli

CHAIN = "state/hash_chain.jsonl"


def test_repeat_creates_under_a_writer_reuse_and_check_out(tmp_path):
    root = livelib.make_root(tmp_path / "root", "--seed", "18", "--chain-bytes", str(6 << 20))
    store = str(tmp_path / "store")
    config = str(tmp_path / "statesnap.json")
    with open(config, "w") as f:
        json.dump({"compression_level": 1, "compress_threads": 2}, f)
    snaps, refused = [], []
    bot = Bot(root, rate=250, style="mixed")
    try:
        for _ in range(8):
            rc, out, err = cli(root, store, "--json", "create", config=config)
            if rc == 0:
                snaps.append(json.loads(out))
            else:
                assert rc == 11 and "no consistent cut" in err, (rc, err)
                refused.append(err)
    finally:
        events = bot.stop()
    assert events >= 100, events
    assert len(snaps) >= 5, refused[:3]
    # Checked only now: the checker's restores add safety snapshots to the
    # store, which would be the "previous" snapshot of the next create.
    checker = Checker(tmp_path / "chk", store)
    prefix = 0
    for i, snap in enumerate(snaps):
        m = checker.check(snap)
        note = m.get("reuse", {}).get("files", {}).get(CHAIN, {})
        if i == 0:
            assert "reused" not in note and "from" not in m.get("reuse", {})
        elif note.get("reused") == "prefix":
            assert m["reuse"]["from"] == snaps[i - 1]["name"]
            assert note["reused_bytes"] > 0 and note["reused_bytes"] % (1 << 20) == 0
            prefix += 1
    # The chain only grew between creates: most of them continued its stream.
    assert prefix >= len(snaps) - 2, (prefix, len(snaps))
    checker.reindex_all([s["name"] for s in snaps])
