"""Restore drills over HTTP: POST /api/v1/snapshots/{name}/drill (write role)
round trips into the Snapshot's last_drill, GET /api/v1/drills, the audit
chain and /metrics (CLI drills count too); a failing drill_check and a
corrupted archive are 422 drill-failed with the report, counted and alerted;
/readyz with readyz_max_drill_age; drill_interval drills on a schedule
(issue 15)."""
import glob
import os
import re
import time

import apilib
from test_alerts import Receiver
from test_schedule import metric, promtool_check

CHECK = ["/bin/sh", "-c", "test -f \"$STATESNAP_DRILL_DIR/state/positions.json\" && "
         "test ! -e \"$STATESNAP_DRILL_DIR/env\" && test \"$STATESNAP_REASON\" = \"${WANT_REASON:-api}\" && "
         "echo preflight ok; exit ${DRILL_EXIT:-0}"]


def flip_byte(zpath, entry):
    import struct
    import zipfile
    with zipfile.ZipFile(zpath) as z:
        info = z.getinfo(entry)
    with open(zpath, "r+b") as f:
        f.seek(info.header_offset)
        header = f.read(30)
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        at = info.header_offset + 30 + name_len + extra_len + info.compress_size // 2
        f.seek(at)
        b = f.read(1)
        f.seek(at)
        f.write(bytes([b[0] ^ 0xFF]))


def drill_metrics(api):
    text = api.get("/metrics", expect=200).text
    promtool_check(text)
    return (metric(text, 'statesnap_drills_total{result="ok"}'),
            metric(text, 'statesnap_drills_total{result="failed"}'),
            metric(text, "statesnap_last_drill_success_timestamp_seconds"),
            metric(text, "statesnap_last_drill_failure_timestamp_seconds"))


def no_scratch(server):
    return glob.glob(os.path.join(server.store, ".work", "drill-*")) == []


def test_drill_round_trip_and_metrics(make_server):
    s = make_server(config={"hooks": {"drill_check": {"argv": CHECK}}})
    writer, reader = s.api(s.token("writer")), s.api(s.token("reader"))
    writer.create("pre_live")
    assert reader.get("/api/v1/snapshots/pre_live", expect=200).json()["last_drill"] is None
    assert drill_metrics(reader) == (0, 0, 0, 0)
    # A reader may look, not drill.
    reader.post("/api/v1/snapshots/pre_live/drill", expect=403)
    rep = writer.post("/api/v1/snapshots/pre_live/drill", expect=200).json()
    assert rep["snapshot"] == "pre_live" and rep["result"] == "ok" and rep["error"] is None
    assert rep["check"]["exit_code"] == 0 and "preflight ok" in rep["check"]["output"]
    assert rep["files_checked"] >= 9 and rep["bytes"] > 0
    assert no_scratch(s)
    snap = reader.get("/api/v1/snapshots/pre_live", expect=200).json()
    assert snap["last_drill"] == {"at": rep["drilled_at"], "result": "ok"}
    listed = reader.get("/api/v1/snapshots", expect=200).json()["snapshots"]
    assert listed[0]["last_drill"]["result"] == "ok"
    ok, failed, last_ok, last_failed = drill_metrics(reader)
    assert (ok, failed, last_failed) == (1, 0, 0) and abs(last_ok - time.time()) < 120
    st = reader.get("/api/v1/drills", expect=200).json()
    assert st["counts"] == {"ok": 1, "failed": 0} and st["last_success"] == rep["drilled_at"]
    assert st["schedule"]["enabled"] is False
    assert [d["snapshot"] for d in st["recent"]] == ["pre_live"]
    audit = reader.get("/api/v1/audit?limit=1000", expect=200).json()["entries"]
    drills = [e for e in audit if e["op"] == "drill"]
    assert len(drills) == 1 and drills[0]["result"] == "ok" and drills[0]["actor"].startswith("token:")
    # latest = the newest snapshot; a body must be empty.
    writer.create("newer")
    assert writer.post("/api/v1/snapshots/latest/drill", {}, expect=200).json()["snapshot"] == "newer"
    writer.post("/api/v1/snapshots/newer/drill", {"only": ["x"]}, expect=400)
    writer.post("/api/v1/snapshots/nosuch/drill", expect=404)
    writer.post("/api/v1/snapshots/bad%20name/drill", expect=400)
    writer.request("POST", "/api/v1/snapshots/newer/drill", headers={"Content-Type": "text/plain"},
                   data=b"{}", expect=415)
    # A drill by the CLI shows in the server's figures (within a second).
    rc, out, err = s.cli("drill", "pre_live")
    assert rc == 0, err
    deadline = time.time() + 5
    while drill_metrics(reader)[0] != 3 and time.time() < deadline:
        time.sleep(0.2)
    assert drill_metrics(reader)[0] == 3
    assert reader.get("/api/v1/drills?limit=2", expect=200).json()["counts"]["ok"] == 3
    assert len(reader.get("/api/v1/drills?limit=2", expect=200).json()["recent"]) == 2
    reader.get("/api/v1/drills?limit=0", expect=400)


def test_failing_check_and_corrupted_archive_are_422_counted_and_alerted(make_server):
    rx = Receiver()
    try:
        s = make_server(config={"hooks": {"drill_check": {"argv": CHECK}},
                                "alerts": {"webhook_url": rx.base + "/hook", "on": ["failures"]}},
                        env={"DRILL_EXIT": "7"})
        writer = s.api(s.token("writer"))
        writer.create("checked")
        r = writer.post("/api/v1/snapshots/checked/drill", expect=422)
        doc = r.json()
        assert doc["type"] == "urn:statesnap:problem:drill-failed", doc
        assert doc["report"]["result"] == "failed" and doc["report"]["check"]["exit_code"] == 7
        assert "exit status 7" in doc["detail"]
        assert no_scratch(s)
        writer.create("corrupt")
        flip_byte(os.path.join(s.store, "corrupt.zip"), "state/positions.json")
        doc = writer.post("/api/v1/snapshots/corrupt/drill", expect=422).json()
        assert doc["report"]["check"] is None and "state/positions.json" in doc["report"]["error"]
        assert no_scratch(s)
        ok, failed, last_ok, last_failed = drill_metrics(writer)
        assert (ok, failed, last_ok) == (0, 2, 0) and last_failed > 0
        assert writer.get("/api/v1/snapshots/corrupt", expect=200).json()["last_drill"]["result"] == "failed"
        got = rx.wait(2)
        events = [q["body"] for q in got if q["path"] == "/hook"]
        assert sorted((e["op"], e["result"], e["snapshot"]) for e in events) == \
            [("drill", "error", "checked"), ("drill", "error", "corrupt")], events
        # The alert never carries the hook's environment secrets; the summary says FAILED.
        assert all("FAILED" in e["summary"] for e in events)
        text = writer.get("/metrics", expect=200).text
        assert re.search(r'^statesnap_operations_total\{op="drill",result="failure"\} 2$', text, re.M), text
    finally:
        rx.close()


def test_readyz_requires_a_recent_successful_drill(make_server, tmp_path):
    """Real time, no pinned clock: the suite also runs on the release binary."""
    s = make_server(config={"readyz_max_drill_age": "3s"})
    anon, writer = s.api(None), s.api(s.token("writer"))
    writer.create("r1")
    r = anon.get("/readyz", expect=503).json()
    assert r["reason"] == "no restore drill has succeeded yet" and r["drill_age_seconds"] is None
    assert r["max_drill_age"] == 3 and r["latest"] == "r1"
    writer.post("/api/v1/snapshots/r1/drill", expect=200)
    assert anon.get("/readyz", expect=200).json()["status"] == "ok"
    # A little later the same drill is too old.
    time.sleep(4.5)
    r = anon.get("/readyz", expect=503).json()
    assert r["drill_age_seconds"] >= 4 and "restore drill is" in r["reason"], r
    s.stop()
    # Without the key, drills do not matter to /readyz.
    s3 = make_server(config={}, start=False)
    s3.cmd[s3.cmd.index("--store") + 1] = s.store
    s3.start()
    assert s3.api(None).get("/readyz", expect=200).json()["status"] == "ok"


def test_drill_interval_drills_the_latest_on_a_schedule(make_server):
    s = make_server(config={"drill_interval": "2s", "hooks": {"drill_check": {"argv": CHECK}}},
                    env={"WANT_REASON": "schedule"}, start=False)
    rc, out, err = s.cli("create", "--name", "first")
    assert rc == 0, err
    s.start()
    reader = s.api(s.token("reader"))
    deadline = time.time() + 30 * apilib.SLOW
    while time.time() < deadline:
        st = reader.get("/api/v1/drills", expect=200).json()
        if st["counts"]["ok"] >= 2 and not st["schedule"]["running"]:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("fewer than 2 scheduled drills: %s" % st)
    assert st["schedule"]["enabled"] is True and st["schedule"]["interval_seconds"] == 2
    assert st["schedule"]["last_result"] == "success" and st["schedule"]["last_snapshot"] == "first"
    assert st["counts"]["failed"] == 0 and st["schedule"]["next_run"] is not None
    text = reader.get("/metrics", expect=200).text
    assert metric(text, "statesnap_drill_interval_seconds") == 2
    audit = reader.get("/api/v1/audit?limit=1000", expect=200).json()["entries"]
    assert {e["actor"] for e in audit if e["op"] == "drill"} == {"drill-scheduler"}
    assert no_scratch(s)
