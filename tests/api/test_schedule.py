"""The scheduler: snapshots every schedule_interval, labelled reason=scheduled,
each followed by a prune; status in GET /api/v1/schedule and /metrics; the
rhythm survives a restart; a failed run is reported; SIGTERM stops it cleanly."""
import calendar
import json
import os
import re
import shutil
import subprocess
import time

import pytest

import apilib

INTERVAL = 2


def ts(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


def metric(text, name):
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    assert m, "no sample %s in:\n%s" % (name, text)
    return float(m.group(1))


def promtool_check(text):
    path = shutil.which("promtool")
    assert path, "promtool is missing: apt-get install prometheus (tests/api/run.sh does)"
    r = subprocess.run([path, "check", "metrics"], input=text, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, "promtool check metrics failed:\n%s%s" % (r.stdout, r.stderr)


def scheduled(api):
    page = api.get("/api/v1/snapshots?label=reason=scheduled&limit=100", expect=200).json()
    return page["snapshots"]


def wait_runs(api, n, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = api.get("/api/v1/schedule", expect=200).json()
        if st["runs"]["success"] + st["runs"]["failure"] >= n and not st["running"]:
            return st
        time.sleep(0.1)
    raise AssertionError("fewer than %d scheduled runs in %ss: %s" % (n, timeout, st))


def test_scheduler_snapshots_on_time_and_prunes_after_each(make_server):
    s = make_server(config={"schedule_interval": "%ds" % INTERVAL, "retention": {"keep_last": 5}},
                    start=False)
    # Five older snapshots first, so every scheduled run has one to prune.
    for i in range(5):
        rc, out, err = s.cli("create", "--name", "m%d" % i)
        assert rc == 0, err
    s.start()
    api = s.api(s.token("reader"))
    st = wait_runs(api, 4, 4 * INTERVAL + 10 * apilib.SLOW)
    # The status and the metrics while it runs.
    assert st["enabled"] is True and st["interval_seconds"] == INTERVAL
    assert st["last_result"] == "success" and st["last_error"] is None
    assert st["last_prune"] == {"kept": 5, "removed": 1}
    assert st["last_snapshot"].startswith("snap_")
    assert ts(st["last_start"]) <= ts(st["last_end"])
    assert ts(st["next_run"]) > ts(st["last_start"])
    assert (ts(st["next_run"]) - ts(st["last_start"])) % INTERVAL == 0
    text = s.api(None).get("/metrics", expect=200).text
    promtool_check(text)
    assert metric(text, "statesnap_schedule_enabled") == 1
    assert metric(text, "statesnap_schedule_interval_seconds") == INTERVAL
    assert metric(text, 'statesnap_schedule_runs_total{result="success"}') >= 4
    assert metric(text, 'statesnap_schedule_runs_total{result="failure"}') == 0
    assert metric(text, "statesnap_schedule_last_success_timestamp_seconds") >= ts(st["last_end"])
    assert metric(text, "statesnap_schedule_next_run_timestamp_seconds") > time.time() - INTERVAL
    # Stop (a run in progress finishes, prune included), then look at the store.
    assert s.stop() == 0
    snaps = scheduled_from_cli(s)
    names = [x["name"] for x in cli_json(s, "list")["snapshots"]]
    assert len(snaps) >= 4
    assert all(x["labels"] == {"reason": "scheduled"} for x in snaps)
    assert all(re.match(r"^snap_\d{8}T\d{6}Z(-\d)?$", x["name"]) for x in snaps)
    # On time: every run on the interval's grid (the clock ticks in whole
    # seconds, so one second of slack); under a sanitizer a slow run may skip a slot.
    times = sorted(ts(x["created_at"]) for x in snaps)
    slack = 1 if apilib.SLOW == 1 else 2
    slots = []
    for t in times:
        k = round((t - times[0]) / INTERVAL)
        assert abs(t - times[0] - k * INTERVAL) <= slack, times
        slots.append(k)
    assert slots == sorted(set(slots)), times
    if apilib.SLOW == 1:
        assert slots == list(range(len(slots))), times
    # Pruned after each: never more than keep_last, the manual ones went oldest first.
    sched = [e for e in cli_json(s, "audit", "--limit", "1000")["entries"]
             if e["actor"] == "scheduler"]
    ops = [e["op"] for e in sched]
    runs = ops.count("create")
    # create, prune, create, prune, ...: each prune removed exactly one.
    assert runs >= 4 and ops == ["create", "prune"] * runs, ops
    assert len(names) == 5 and len(snaps) == min(runs, 5), names
    assert [n for n in names if n.startswith("m")] == ["m%d" % i for i in range(runs, 5)][::-1]
    assert all(len(e["details"]["removed"]) == 1 for e in sched if e["op"] == "prune")
    assert st["last_snapshot"] in [x["name"] for x in snaps]
    assert any(l.get("msg") == "scheduled snapshot" for l in s.log_lines())


def test_rhythm_survives_a_restart_and_sigterm_stops_cleanly(make_server):
    s = make_server(config={"schedule_interval": "%ds" % INTERVAL})
    api = s.api(s.token("reader"))
    wait_runs(api, 2, 2 * INTERVAL + 10 * apilib.SLOW)
    t0 = time.time()
    assert s.stop() == 0
    assert time.time() - t0 < 10 * apilib.SLOW
    # Nothing half-made: every archive is catalogued and .work is empty.
    assert os.listdir(os.path.join(s.store, ".work")) == []
    newest = max(ts(x["created_at"]) for x in scheduled_from_cli(s))
    # Restart with an hour's interval: the next run is an hour after the newest
    # scheduled snapshot, not now.
    with open(s.config_path) as f:
        cfg = f.read().replace('"%ds"' % INTERVAL, '"1h"')
    with open(s.config_path, "w") as f:
        f.write(cfg)
    s.start()
    time.sleep(1)
    st = s.api(s.token("reader")).get("/api/v1/schedule", expect=200).json()
    assert st["enabled"] is True and st["interval_seconds"] == 3600
    assert st["runs"] == {"success": 0, "failure": 0} and st["last_start"] is None
    assert ts(st["next_run"]) == newest + 3600


def cli_json(s, *args):
    rc, out, err = s.cli("--json", *args)
    assert rc == 0, err
    return json.loads(out)


def scheduled_from_cli(s):
    return cli_json(s, "list", "--label", "reason=scheduled", "--limit", "100")["snapshots"]


def test_schedule_off_by_default(server, reader, anon):
    st = reader.get("/api/v1/schedule", expect=200).json()
    assert st == {"enabled": False, "interval_seconds": 0, "if_changed": False, "running": False,
                  "last_start": None, "last_end": None, "last_result": None, "last_error": None,
                  "last_snapshot": None, "last_skipped": False, "last_prune": None, "next_run": None,
                  "runs": {"success": 0, "failure": 0}}
    text = anon.get("/metrics", expect=200).text
    assert metric(text, "statesnap_schedule_enabled") == 0
    assert metric(text, "statesnap_schedule_next_run_timestamp_seconds") == 0
    assert metric(text, "statesnap_schedule_last_success_timestamp_seconds") == 0
    anon.get("/api/v1/schedule", expect=401)
    reader.post("/api/v1/schedule", expect=405)


def test_failed_run_is_reported(make_server, tmp_path):
    # A state root that does not exist: every scheduled create fails.
    # The store exists (serve makes one only when its state root does).
    s = make_server(config={"schedule_interval": "1h"}, root_dir=str(tmp_path / "missing"), start=False)
    apilib.init_store(s)
    s.start()
    api = s.api(s.token("reader"))
    st = wait_runs(api, 1, 10 * apilib.SLOW)
    assert st["last_result"] == "failure" and st["last_error"].startswith("create: ")
    assert st["last_snapshot"] is None and st["last_prune"] is None
    assert st["runs"] == {"success": 0, "failure": 1}
    assert ts(st["next_run"]) - ts(st["last_start"]) == 3600
    text = s.api(None).get("/metrics", expect=200).text
    promtool_check(text)
    assert metric(text, 'statesnap_schedule_runs_total{result="failure"}') == 1
    assert metric(text, "statesnap_schedule_last_success_timestamp_seconds") == 0
    assert any(l.get("msg") == "scheduled snapshot failed" for l in s.log_lines())


@pytest.mark.parametrize("bad", ["soon", "-2s", "2x", True])
def test_bad_interval_is_a_config_error(make_server, bad):
    s = make_server(config={"schedule_interval": bad}, start=False)
    s.start(expect_ok=False)
    assert s.proc.wait(timeout=10) == 2
    assert "schedule_interval" in s.log_text()
    s.proc = None
    s.log.close()


def test_schedule_if_changed_writes_one_snapshot_while_nothing_changes(make_server):
    s = make_server(config={"schedule_interval": "%ds" % INTERVAL, "schedule_if_changed": True})
    api = s.api(s.token("reader"))
    st = wait_runs(api, 3, 3 * INTERVAL + 10 * apilib.SLOW)
    assert st["if_changed"] is True and st["last_result"] == "success", st
    assert st["last_skipped"] is True, st
    snaps = scheduled_from_cli(s)
    assert len(snaps) == 1 and st["last_snapshot"] == snaps[0]["name"], (st, snaps)
    assert st["last_prune"] is not None
