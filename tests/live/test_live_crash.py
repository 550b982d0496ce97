"""SIGKILL at a random instant of creates of a running bot's root, then every
invariant: after the next command the catalog names exactly the archives in
the store, .work is empty, every catalogued snapshot verifies, and the audit
chain holds. Random delays, not failpoints: the kill lands in the scan, the
cut, the compression, the read-back or the commit."""
import json
import os
import random
import signal
import subprocess
import time

import livelib
from livelib import Bot, cli

KILLS = 40


def archives(store):
    return sorted(n[:-4] for n in os.listdir(store) if n.endswith(".zip"))


def catalogued(root, store):
    rc, out, err = cli(root, store, "--json", "list", "--limit", "1000")
    assert rc == 0, err
    return sorted(s["name"] for s in json.loads(out)["snapshots"])


def test_random_kills_of_creates_under_a_live_writer(tmp_path):
    root = livelib.make_root(tmp_path / "root", "--seed", "21", "--chain-bytes", str(8 << 20))
    store = str(tmp_path / "store")
    rng = random.Random(2026)
    rc, out, err = cli(root, store, "create", "--name", "base")
    assert rc == 0, err
    # How long an unkilled create takes here, so the kills spread over all of it.
    t0 = time.monotonic()
    rc, out, err = cli(root, store, "create", "--name", "timing")
    span = max(time.monotonic() - t0, 0.05)
    assert rc == 0, err
    bot = Bot(root, rate=250, style="mixed")
    killed_done = 0
    try:
        for i in range(KILLS):
            p = subprocess.Popen([livelib.BIN, "--root", root, "--store", store, "create",
                                  "--name", "k%02d" % i], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0, span * 1.2))
            p.send_signal(signal.SIGKILL)
            p.wait()
            killed_done += p.returncode == 0
            # The next command (a write) finishes or removes what the kill left.
            rc, out, err = cli(root, store, "--json", "create", "--name", "after%02d" % i)
            # 11 is "no consistent cut, retry later": a 250 events/s writer
            # can outrun every attempt of a slow (sanitized) build; the
            # recovery of what the kill left must have happened all the same.
            assert rc in (0, 1) or (rc == 11 and "no consistent cut" in err), err
            assert catalogued(root, store) == archives(store)
            assert os.listdir(os.path.join(store, ".work")) == []
    finally:
        bot.stop()
    rc, out, err = cli(root, store, "verify", "--all")
    assert rc == 0, out + err
    rc, out, err = cli(root, store, "audit", "verify")
    assert rc == 0, out + err
    names = catalogued(root, store)
    # Each killed create either never appears or is a whole snapshot.
    for n in names:
        assert n in ("base", "timing") or n.startswith(("k", "after")), n
