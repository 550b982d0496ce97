"""SIGTERM drains: a create in flight finishes, the server exits 0, the store is consistent."""
import json
import os
import threading
import time

import apilib


def test_sigterm_during_create_finishes_it_and_exits_0(make_server, tmp_path, template_root):
    root = apilib.copy_root(template_root, tmp_path / "bigroot")
    # A large extra state file makes the create last long enough to be interrupted.
    with open(os.path.join(root, "state", "bulk.jsonl"), "w") as f:
        line = os.urandom(48).hex()
        for i in range(600000):
            f.write('{"seq":%d,"h":"%s"}\n' % (i, line))
    s = make_server(root_dir=root)
    api = s.api(s.token("writer"))
    result = {}

    def create():
        try:
            result["r"] = api.post("/api/v1/snapshots", {"name": "inflight"})
        except Exception as e:  # the connection may be refused if SIGTERM won the race
            result["e"] = e

    t = threading.Thread(target=create)
    t.start()
    # Wait until the request is being handled, then ask the server to stop.
    deadline = time.time() + 10 * apilib.SLOW
    while time.time() < deadline and not os.listdir(os.path.join(s.store, ".work")):
        time.sleep(0.005)
    rc = s.stop()
    t.join(60 * apilib.SLOW)
    assert rc == 0, s.log_text()[-2000:]
    lines = s.log_lines()
    assert any(l.get("msg", "").startswith("shutting down") for l in lines)
    # The create either completed and was answered, or never started: nothing half-done.
    names = [f for f in os.listdir(s.store) if f.endswith(".zip")]
    if "r" in result:
        assert result["r"].status_code == 201, result["r"].text
        assert names == ["inflight.zip"]
        # It was in flight when the signal came: answered after the drain began.
        msgs = [l.get("msg") + ":" + str(l.get("path")) for l in lines]
        assert msgs.index("request:/api/v1/snapshots") > \
            [i for i, m in enumerate(msgs) if m.startswith("shutting down")][0], msgs
    else:
        assert names == []
    assert [f for f in os.listdir(os.path.join(s.store, ".work")) if not f.startswith(".")] == []
    rc, out, err = s.cli("--json", "verify", "--all")
    assert rc == 0, err
    report = json.loads(out)
    assert report["ok"] is True
    rc, out, err = s.cli("--json", "list")
    assert rc == 0, err
    assert sorted(x["name"] + ".zip" for x in json.loads(out)["snapshots"]) == sorted(names)


def test_sigint_also_stops_cleanly(make_server):
    import signal
    s = make_server()
    s.api(s.token("reader")).get("/healthz", expect=200)
    assert s.stop(sig=signal.SIGINT) == 0
    assert any(l.get("msg") == "stopped" for l in s.log_lines())
