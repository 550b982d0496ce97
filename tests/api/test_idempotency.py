"""Idempotency-Key on create, restore and import."""
import concurrent.futures

import apilib


def test_retry_replays_the_same_body_and_creates_once(writer, reader):
    h = {"Idempotency-Key": "deploy-4711"}
    first = writer.post("/api/v1/snapshots", {"name": "idem", "labels": {"reason": "ci"}}, headers=h,
                        expect=201)
    again = writer.post("/api/v1/snapshots", {"name": "idem", "labels": {"reason": "ci"}}, headers=h,
                        expect=201)
    assert again.content == first.content
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert reader.get("/api/v1/snapshots", expect=200).json()["total_count"] == 1


def test_auto_named_create_is_not_repeated(writer, reader):
    h = {"Idempotency-Key": "nightly-2024-12-25"}
    a = writer.post("/api/v1/snapshots", headers=h, expect=201).json()
    b = writer.post("/api/v1/snapshots", headers=h, expect=201).json()
    assert a == b
    assert reader.get("/api/v1/snapshots", expect=200).json()["total_count"] == 1


def test_same_key_other_body_is_422(writer, reader):
    h = {"Idempotency-Key": "k-1"}
    writer.post("/api/v1/snapshots", {"name": "one"}, headers=h, expect=201)
    r = writer.post("/api/v1/snapshots", {"name": "two"}, headers=h, expect=422)
    assert r.json()["type"] == "urn:statesnap:problem:unprocessable"
    reader.get("/api/v1/snapshots/two", expect=404)


def test_keys_are_per_token(server, writer, admin, reader):
    h = {"Idempotency-Key": "shared"}
    writer.post("/api/v1/snapshots", {"name": "w"}, headers=h, expect=201)
    admin.post("/api/v1/snapshots", {"name": "a"}, headers=h, expect=201)
    assert reader.get("/api/v1/snapshots", expect=200).json()["total_count"] == 2


def test_definite_failures_are_replayed_but_validation_errors_are_not(writer):
    writer.create("taken")
    h = {"Idempotency-Key": "conflict-key"}
    r1 = writer.post("/api/v1/snapshots", {"name": "taken"}, headers=h, expect=409)
    r2 = writer.post("/api/v1/snapshots", {"name": "taken"}, headers=h, expect=409)
    assert r2.headers.get("Idempotent-Replayed") == "true" and r2.content == r1.content
    h = {"Idempotency-Key": "invalid-key"}
    writer.post("/api/v1/snapshots", {"name": "-bad"}, headers=h, expect=400)
    r = writer.post("/api/v1/snapshots", {"name": "-bad"}, headers=h, expect=400)
    assert "Idempotent-Replayed" not in r.headers


def test_bad_keys_are_400(writer):
    writer.post("/api/v1/snapshots", {}, headers={"Idempotency-Key": "x" * 256}, expect=400)
    writer.post("/api/v1/snapshots", {}, headers={"Idempotency-Key": "has space"}, expect=400)


def test_concurrent_retries_run_once(writer, reader):
    h = {"Idempotency-Key": "racing"}
    with concurrent.futures.ThreadPoolExecutor(6) as ex:
        rs = list(ex.map(lambda _: writer.post("/api/v1/snapshots", {"name": "race"}, headers=h),
                         range(6)))
    codes = sorted(r.status_code for r in rs)
    # One ran; the others either replayed it or were told it is still running.
    assert codes.count(201) >= 1 and set(codes) <= {201, 409}
    for r in rs:
        if r.status_code == 409:
            assert "still running" in r.json()["detail"]
    assert reader.get("/api/v1/snapshots", expect=200).json()["total_count"] == 1


def test_restore_retry_is_replayed(server, writer, admin, reader):
    writer.create("rs")
    apilib.make_state(server.root, "--advance", "3")
    prev = admin.post("/api/v1/snapshots/rs/restore/preview", expect=200).json()
    h = {"Idempotency-Key": "restore-1"}
    body = {"confirm_token": prev["confirm_token"]}
    a = admin.post("/api/v1/snapshots/rs/restore", body, headers=h, expect=200)
    b = admin.post("/api/v1/snapshots/rs/restore", body, headers=h, expect=200)
    assert a.content == b.content and b.headers["Idempotent-Replayed"] == "true"
    # One safety snapshot: the restore ran once.
    names = [s["name"] for s in reader.get("/api/v1/snapshots", expect=200).json()["snapshots"]]
    assert len([n for n in names if n.startswith("pre_restore_")]) == 1


def test_import_retry_is_replayed(writer, admin, reader):
    writer.create("imp")
    data = reader.get("/api/v1/snapshots/imp/archive", expect=200).content
    admin.delete("/api/v1/snapshots/imp", expect=200)
    h = {"Idempotency-Key": "import-1", "Content-Type": "application/zip"}
    a = admin.post("/api/v1/snapshots/import", data=data, headers=h, expect=201)
    b = admin.post("/api/v1/snapshots/import", data=data, headers=h, expect=201)
    assert a.content == b.content and b.headers["Idempotent-Replayed"] == "true"
    admin.post("/api/v1/snapshots/import", data=data[:-10] + b"0123456789", headers=h, expect=422)
