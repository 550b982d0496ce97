"""/healthz, /readyz?max_age=, /metrics (promtool-clean, age gauge moves)."""
import re
import shutil
import subprocess
import time

import pytest

import apilib


def metric(text, name):
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    assert m, "no sample %s in:\n%s" % (name, text)
    return float(m.group(1))


def test_healthz(anon):
    assert anon.get("/healthz", expect=200).json()["status"] == "ok"


def test_readyz_follows_the_latest_snapshot_age(anon, writer):
    r = anon.get("/readyz?max_age=60", expect=503).json()
    assert r["status"] == "unready" and "no snapshot" in r["reason"] and r["latest"] is None
    writer.create("fresh")
    r = anon.get("/readyz?max_age=60", expect=200).json()
    assert r == {"status": "ok", "latest": "fresh", "age_seconds": r["age_seconds"], "max_age": 60}
    assert r["age_seconds"] <= 5
    time.sleep(2.2)
    r = anon.get("/readyz?max_age=1", expect=503).json()
    assert r["latest"] == "fresh" and r["age_seconds"] >= 2 and "old" in r["reason"]
    anon.get("/readyz?max_age=0", expect=200)
    anon.get("/readyz", expect=200)        # the config's readyz_max_age (0: no age check)
    anon.get("/readyz?max_age=-1", expect=400)
    anon.get("/readyz?max_age=soon", expect=400)


def test_readyz_default_comes_from_config(make_server):
    s = make_server(config={"readyz_max_age": 1})
    api = s.api(s.token("writer"))
    api.create("cfg")
    time.sleep(2.2)
    assert "max_age 1" in api.get("/readyz", expect=503).json()["reason"]
    api.get("/readyz?max_age=3600", expect=200)


@pytest.fixture(scope="module")
def promtool():
    path = shutil.which("promtool")
    assert path, "promtool is missing: apt-get install prometheus (tests/api/run.sh does)"
    return path


def promtool_check(promtool, text):
    r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, "promtool check metrics failed:\n%s%s\n---\n%s" % (r.stdout, r.stderr, text)


def test_metrics_pass_promtool_and_the_age_gauge_moves(promtool, anon, writer, reader):
    empty = anon.get("/metrics", expect=200)
    assert empty.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    promtool_check(promtool, empty.text)
    assert metric(empty.text, "statesnap_snapshots") == 0
    assert metric(empty.text, "statesnap_latest_snapshot_age_seconds") == float("inf")
    writer.create("m1")
    time.sleep(2.2)
    t1 = anon.get("/metrics", expect=200).text
    promtool_check(promtool, t1)
    age1 = metric(t1, "statesnap_latest_snapshot_age_seconds")
    assert age1 >= 2
    writer.create("m2")
    reader.post("/api/v1/snapshots/m2/verify", expect=200)
    reader.get("/api/v1/snapshots/none", expect=404)
    t2 = anon.get("/metrics", expect=200).text
    promtool_check(promtool, t2)
    age2 = metric(t2, "statesnap_latest_snapshot_age_seconds")
    assert age2 < age1
    assert metric(t2, "statesnap_snapshots") == 2
    assert metric(t2, "statesnap_latest_snapshot_timestamp_seconds") > \
        metric(t1, "statesnap_latest_snapshot_timestamp_seconds")
    assert metric(t2, "statesnap_snapshots_bytes") > metric(t1, "statesnap_snapshots_bytes")
    assert metric(t2, 'statesnap_operations_total{op="create",result="success"}') == 2
    assert metric(t2, 'statesnap_operations_total{op="verify",result="success"}') == 1
    assert metric(t2, 'statesnap_operation_duration_seconds_count{op="create"}') == 2
    # Routes are labelled by template, never by raw path.
    assert metric(t2, 'statesnap_http_requests_total{route="/api/v1/snapshots",code="201"}') == 2
    assert metric(t2, 'statesnap_http_requests_total{route="/api/v1/snapshots/{name}",code="404"}') == 1
    assert "m2/verify" not in t2
    assert metric(t2, "statesnap_offsite_last_success_timestamp_seconds") == 0
    for family in ("statesnap_snapshots", "statesnap_snapshots_bytes",
                   "statesnap_latest_snapshot_timestamp_seconds",
                   "statesnap_latest_snapshot_age_seconds", "statesnap_operations_total",
                   "statesnap_operation_duration_seconds", "statesnap_http_requests_total",
                   "statesnap_offsite_last_success_timestamp_seconds"):
        assert "# HELP %s " % family in t2 and "# TYPE %s " % family in t2
