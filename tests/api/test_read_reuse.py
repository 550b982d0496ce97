"""Read answers reused while the catalog stands still (server/cache.c keeps
the latest and list answers per worker thread, keyed by the catalog's version
and the second), the /metrics catalog figures reused within a second
(store_summary_recent), and the request log line written without jansson.

Each check reads many times in a row, so every worker thread has the old
answer kept, then changes the catalog and reads again at once, within the
same second: a stale answer anywhere is a failure."""
import concurrent.futures
import json
import re
import time

import apilib

READS = 40   # enough requests to reach every worker thread (HTTP_THREADS is 8)


def many(api, path, n=READS):
    """n GETs on fresh connections (so they spread over the worker threads)."""
    def one(_):
        return apilib.Api(api.base, api.token).get(path, expect=200)

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        return list(ex.map(one, range(n)))


def metric(text, name):
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    assert m, "no sample %s in:\n%s" % (name, text)
    return float(m.group(1))


def test_latest_and_list_follow_a_create_by_another_process(server, reader, writer):
    writer.create("first")
    for r in many(reader, "/api/v1/snapshots/latest"):
        assert r.json()["name"] == "first"
    for r in many(reader, "/api/v1/snapshots?limit=5"):
        assert [s["name"] for s in r.json()["snapshots"]] == ["first"]
    # A create through the CLI commits on another connection, in another process.
    rc, out, err = server.cli("create", "--name", "second")
    assert rc == 0, out + err
    for r in many(reader, "/api/v1/snapshots/latest"):
        assert r.json()["name"] == "second"
    for r in many(reader, "/api/v1/snapshots?limit=5"):
        body = r.json()
        assert [s["name"] for s in body["snapshots"]] == ["second", "first"]
        assert body["total_count"] == 2


def test_list_follows_pin_and_delete_through_the_api(reader, writer, admin):
    writer.create("keep")
    writer.create("gone")
    for r in many(reader, "/api/v1/snapshots"):
        assert {s["name"]: s["pinned"] for s in r.json()["snapshots"]} == {"keep": False, "gone": False}
    admin.patch("/api/v1/snapshots/keep", {"pin": True}, expect=200)
    for r in many(reader, "/api/v1/snapshots"):
        assert {s["name"]: s["pinned"] for s in r.json()["snapshots"]} == {"keep": True, "gone": False}
    admin.delete("/api/v1/snapshots/gone", expect=200)
    for r in many(reader, "/api/v1/snapshots"):
        assert [s["name"] for s in r.json()["snapshots"]] == ["keep"]
    for r in many(reader, "/api/v1/snapshots/latest"):
        assert r.json()["name"] == "keep"


def test_query_arguments_are_part_of_the_key(reader, writer):
    writer.create("alpha_1", labels={"env": "prod"})
    writer.create("beta_1", labels={"env": "test"})
    for _ in range(3):
        assert [s["name"] for s in reader.get("/api/v1/snapshots?prefix=alpha", expect=200).json()["snapshots"]] \
            == ["alpha_1"]
        assert [s["name"] for s in reader.get("/api/v1/snapshots?prefix=beta", expect=200).json()["snapshots"]] \
            == ["beta_1"]
        assert [s["name"] for s in reader.get("/api/v1/snapshots?label=env%3Dtest", expect=200)
                .json()["snapshots"]] == ["beta_1"]
        assert len(reader.get("/api/v1/snapshots?limit=1", expect=200).json()["snapshots"]) == 1
        assert len(reader.get("/api/v1/snapshots", expect=200).json()["snapshots"]) == 2
    # A value holding what looks like another argument is not confused with it.
    assert reader.get("/api/v1/snapshots?label=env%3Dprod%26limit%3D1", expect=200).json()["snapshots"] == []
    assert [s["name"] for s in reader.get("/api/v1/snapshots?label=env%3Dprod", expect=200)
            .json()["snapshots"]] == ["alpha_1"]


def test_latest_404_turns_into_200_at_once(server, reader):
    for _ in range(READS):
        reader.get("/api/v1/snapshots/latest", expect=404)
    rc, out, err = server.cli("create", "--name", "now_there")
    assert rc == 0, out + err
    for r in many(reader, "/api/v1/snapshots/latest"):
        assert r.json()["name"] == "now_there"


def test_metrics_catalog_figures_follow_changes(server, anon, writer):
    """/metrics reads the catalog at most once a second per worker thread,
    and at once after a write through this server; a change by another
    process (the CLI) shows within a second."""
    def scrape():
        return [r.text for r in many(anon, "/metrics", 16)]

    for t in scrape():
        assert metric(t, "statesnap_snapshots") == 0
        assert metric(t, "statesnap_latest_snapshot_timestamp_seconds") == 0
    writer.create("m1")
    for t in scrape():            # through this server: at once, on every thread
        assert metric(t, "statesnap_snapshots") == 1
        assert metric(t, 'statesnap_offsite_snapshots{state="none"}') == 1
    rc, out, err = server.cli("delete", "m1")
    assert rc == 0, out + err
    start = time.monotonic()
    while True:
        texts = scrape()
        if all(metric(t, "statesnap_snapshots") == 0 for t in texts):
            break
        assert time.monotonic() - start < 2.5, "the CLI's delete did not show within a second"
        time.sleep(0.1)
    for t in texts:
        assert metric(t, "statesnap_snapshots_bytes") == 0
        assert metric(t, 'statesnap_offsite_snapshots{state="none"}') == 0


def raw_status(port, target):
    return int(apilib.raw_get(port, target).split(b" ", 2)[1])


def test_request_log_lines_are_json_for_any_path(server, reader):
    reader.get("/api/v1/snapshots", expect=200)
    targets = {b"/api/v1/snap%22shots": '/api/v1/snap"shots',
               b"/api/v1/back%5Cslash": "/api/v1/back\\slash",
               b"/api/v1/tab%09here": "/api/v1/tab\there",
               b"/api/v1/caf%C3%A9": "/api/v1/caf\u00e9"}
    for t in targets:
        assert raw_status(server.port, t) == 404
    assert raw_status(server.port, b"/api/v1/bad%FF") == 404
    assert server.stop() == 0
    lines = server.log_text().splitlines()
    reqs = []
    for l in lines:
        doc = json.loads(l)          # every line is one JSON document
        if doc.get("msg") == "request":
            reqs.append(doc)
    paths = [r["path"] for r in reqs]
    for want in targets.values():
        assert want in paths
    assert None in paths             # not UTF-8: logged as null
    ok = [r for r in reqs if r["path"] == "/api/v1/snapshots"][0]
    assert ok["method"] == "GET" and ok["status"] == 200 and ok["token"] == "reader"
    assert isinstance(ok["duration_ms"], float) and ok["duration_ms"] >= 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", ok["time"])
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{12}", ok["request_id"])
