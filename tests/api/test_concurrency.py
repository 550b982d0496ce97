"""Many clients at once: distinct creates with readers alongside, and a race
for one name."""
import concurrent.futures
import os
import threading

import apilib


def test_parallel_creates_with_readers(server):
    w = server.token("writer")
    r = server.token("reader")
    stop = threading.Event()
    bad = []

    def create(i):
        return server.api(w).post("/api/v1/snapshots", {"name": "par_%02d" % i})

    def read_loop():
        api = server.api(r)
        n = 0
        while not stop.is_set() or n < 3:
            for path in ("/api/v1/snapshots/latest", "/api/v1/snapshots?limit=5", "/metrics"):
                resp = api.get(path)
                if resp.status_code >= 500 or resp.status_code not in (200, 404):
                    bad.append((path, resp.status_code, resp.text[:200]))
            n += 1

    with concurrent.futures.ThreadPoolExecutor(24) as ex:
        readers = [ex.submit(read_loop) for _ in range(8)]
        creates = list(ex.map(create, range(16)))
        stop.set()
        for f in readers:
            f.result()
    assert [c.status_code for c in creates] == [201] * 16, [c.text[:200] for c in creates if c.status_code != 201]
    assert bad == []
    api = server.api(r)
    page = api.get("/api/v1/snapshots?limit=1000", expect=200).json()
    names = {s["name"] for s in page["snapshots"]}
    assert names == {"par_%02d" % i for i in range(16)} and page["total_count"] == 16
    archives = {f[:-4] for f in os.listdir(server.store) if f.endswith(".zip")}
    assert archives == names
    for n in sorted(names):
        assert api.post("/api/v1/snapshots/%s/verify" % n, expect=200).json()["ok"] is True
    assert page["total_bytes"] == sum(os.path.getsize(os.path.join(server.store, n + ".zip")) for n in names)


def test_same_name_race_has_exactly_one_winner(server):
    w = server.token("writer")
    barrier = threading.Barrier(8)

    def create(_):
        api = server.api(w)
        barrier.wait()
        return api.post("/api/v1/snapshots", {"name": "contested"})

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        rs = list(ex.map(create, range(8)))
    codes = sorted(r.status_code for r in rs)
    assert codes == [201] + [409] * 7, [(r.status_code, r.text[:200]) for r in rs]
    assert sorted(f for f in os.listdir(server.store) if f.endswith(".zip")) == ["contested.zip"]
    api = server.api(server.token("reader"))
    assert api.get("/api/v1/snapshots", expect=200).json()["total_count"] == 1
    assert api.post("/api/v1/snapshots/contested/verify", expect=200).json()["ok"] is True
