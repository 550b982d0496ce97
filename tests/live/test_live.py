"""Snapshots of a running bot (issue: consistent, restorable snapshots).

The bot (tests/fixtures/bot.py) appends to the chain and rewrites positions.json
and orders.json at >= 200 events a second, in place or by rename. Every snapshot
create reports is checked by livelib.Checker; refusals must be the documented
ones (exit 1 / 409 state-changing with Retry-After) and must leave nothing.
"""
import json
import os

import pytest

import livelib
from livelib import Bot, Checker, cli

RATE = 250
# A sanitized build reads several times slower, so an in-place writer tears
# more of its attempts (CI under ASan once got 40 of 60 through): the tests
# still ask that most of them get through, by a lower bar.
SANITIZED = bool(os.environ.get("STATESNAP_SANITIZED"))


@pytest.fixture
def live_root(tmp_path):
    return livelib.make_root(tmp_path / "root", "--seed", "11")


def write_config(tmp_path, **cfg):
    path = str(tmp_path / "statesnap.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    return path


def new_server(tmp_path, root, config):
    """A server (not yet started) whose store and config the CLI shares."""
    work = tmp_path / "srv"
    os.makedirs(work, exist_ok=True)
    return livelib.apilib.Server(work, root, tokens=livelib.apilib.new_tokens(), config=config)


def zips(store):
    return sorted(n for n in os.listdir(store) if n.endswith(".zip")) if os.path.isdir(store) else []


def take_cli(root, store, config, n, checker, refused, **kw):
    done = []
    for i in range(n):
        rc, out, err = cli(root, store, "--json", "create", config=config)
        if rc == 0:
            snap = json.loads(out)
            checker.check(snap, **kw)
            done.append(snap["name"])
        else:
            # No consistent cut is "retry later" (exit 11, issue 20), not a failure (1).
            assert rc == 11 and "no consistent cut" in err, (rc, err)
            refused.append(err)
    return done


def take_api(server, n, checker, refused, **kw):
    api = server.api(server.token("writer"))
    done = []
    for i in range(n):
        r = api.post("/api/v1/snapshots", {})
        if r.status_code == 201:
            snap = r.json()
            checker.check(snap, **kw)
            done.append(snap["name"])
        else:
            assert r.status_code == 409, r.text
            doc = r.json()
            assert doc["type"].endswith(":state-changing"), doc
            assert r.headers.get("Retry-After"), r.headers
            refused.append(doc["detail"])
    return done


@pytest.mark.parametrize("style", ["inplace", "rename"])
def test_snapshots_of_a_running_bot_cli_and_api(tmp_path, live_root, style):
    """>= 200 events/s, 30 CLI + 30 API creates per write style: every reported
    snapshot is verifiable, restorable, importable, reindexable, untorn and a
    consistent cut (the default refuses anything else)."""
    server = new_server(tmp_path, live_root, {"compression_level": 1})
    store = server.store
    config = server.config_path
    checker = Checker(tmp_path, store)
    refused = []
    bot = Bot(live_root, rate=RATE, style=style)
    try:
        names = take_cli(live_root, store, config, 30, checker, refused)
        server.start()
        names += take_api(server, 30, checker, refused)
    finally:
        server.stop()
        events = bot.stop()
    assert events >= 200, "the bot wrote only %d events" % events
    # The test means something only if most creates got through.
    assert checker.checked >= (30 if SANITIZED else 45), (checker.checked, refused[:3])
    assert checker.consistent == checker.checked
    checker.reindex_all(names)


def test_flagged_snapshots_when_configured_to_keep(tmp_path, live_root):
    """capture.on_inconsistent = keep with few attempts: snapshots that
    changed are kept, flagged in the manifest, the catalog, list and show, and
    still never torn; each file is one intact read."""
    store = str(tmp_path / "store")
    config = write_config(tmp_path, compression_level=1,
                          capture={"on_inconsistent": "keep", "max_attempts": 4})
    checker = Checker(tmp_path, store)
    refused = []
    bot = Bot(live_root, rate=400, style="inplace")
    try:
        names = take_cli(live_root, store, config, 40, checker, refused, allow_flagged=True)
        first_checked = checker.checked
        # A flag needs the writer to change a file in every one of the 4
        # attempts; with reads as fast as they are now (one read per small
        # file, entries copied from the previous archive) that is a few
        # per cent of creates, and CI once saw none in 120. So the rounds
        # after the first allow one attempt: any change met during it flags
        # the snapshot (same store, same keep mode), up to 120 more creates.
        one = str(tmp_path / "statesnap-one-attempt.json")
        with open(one, "w") as f:
            json.dump({"compression_level": 1,
                       "capture": {"on_inconsistent": "keep", "max_attempts": 1}}, f)
        for _ in range(3):
            if checker.flagged:
                break
            names += take_cli(live_root, store, one, 40, checker, refused, allow_flagged=True)
    finally:
        bot.stop()
    # Refused only when some file had no intact read in any attempt (an
    # in-place rewrite every 2.5 ms can tear every read on a loaded machine:
    # CI once refused 11 of 40 with 2 attempts). The test means something
    # only if most got through.
    assert all("kept changing" in r for r in refused), refused[:3]
    assert first_checked >= (16 if SANITIZED else 24), (first_checked, refused[:3])
    assert checker.flagged > 0, "no snapshot was flagged in 160 creates: the writer never met the window"
    rc, out, err = cli(live_root, store, "--json", "list", "--limit", "1000", config=config)
    listed = {s["name"]: s for s in json.loads(out)["snapshots"]}
    flagged = [n for n in names if listed[n]["consistency"]["state"] == "changed"]
    assert len(flagged) == checker.flagged
    rc, out, err = cli(live_root, store, "show", flagged[0], config=config)
    assert rc == 0 and "changed" in out and "NOT A CONSISTENT CUT" in out.upper(), out
    # The text list names the flagged ones under its table (every row: the
    # checker's restores add safety snapshots, so a flagged one may be past
    # the first page).
    rc, out, err = cli(live_root, store, "list", "--limit", "1000", config=config)
    note = [line for line in out.splitlines() if line.startswith("[!] not a consistent cut")]
    assert len(note) == 1 and flagged[0] in note[0], out
    checker.reindex_all(names)


def test_paused_by_hooks_every_snapshot_is_at_the_tip(tmp_path, live_root):
    """With pre/post hooks that pause the bot at a safe point, 100% are
    consistent cuts with positions and orders at the chain's last seq."""
    bot = Bot(live_root, rate=RATE, style="mixed", pause=True)
    server = new_server(tmp_path, live_root, {"compression_level": 1,
                                              "hooks": bot.pause_hooks()})
    store = server.store
    config = server.config_path
    checker = Checker(tmp_path, store)
    refused = []
    try:
        names = take_cli(live_root, store, config, 30, checker, refused, paused=True)
        server.start()
        names += take_api(server, 20, checker, refused, paused=True)
    finally:
        server.stop()
        events = bot.stop()
    assert refused == []
    assert checker.checked == checker.consistent == 50
    assert events >= 200
    assert not os.path.exists(bot.pause_file), "the post hook did not resume the bot"
    checker.reindex_all(names)


def test_100mb_root_with_a_line_a_second(tmp_path):
    """A 100 MB root whose chain gains a line a second: every snapshot verifies
    (the manifest describes the bytes archived, not the file's size later)."""
    root = livelib.make_root(tmp_path / "root", "--seed", "5", "--chain-bytes", str(100 << 20))
    store = str(tmp_path / "store")
    config = write_config(tmp_path, compression_level=1)
    checker = Checker(tmp_path, store)
    bot = Bot(root, rate=1, style="rename")
    names = []
    try:
        for _ in range(5):
            rc, out, err = cli(root, store, "--json", "create", config=config)
            assert rc == 0, err
            snap = json.loads(out)
            names.append(snap["name"])
            rc, out, err = cli(root, store, "verify", snap["name"])
            assert rc == 0, out + err
    finally:
        bot.stop()
    checker.reindex_all([])
    rc, out, err = cli(root, store, "verify", "--all")
    assert rc == 0 and "5 verified, 0 failed" in out, out + err
