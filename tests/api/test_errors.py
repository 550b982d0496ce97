"""Errors are problem+json everywhere: 400, 404, 405, 413 (with and without
Content-Length), 415, 423 with Retry-After."""
import fcntl
import os
import socket

import apilib

JSON = {"Content-Type": "application/json"}


def test_unknown_route_is_404_problem(anon, reader):
    r = reader.get("/api/v1/nothing-here", expect=404)
    assert r.json()["type"] == "urn:statesnap:problem:not-found"
    reader.get("/api/v1/snapshots/a/b/c", expect=404)
    anon.get("/nope", expect=404)


def test_wrong_method_is_405_with_allow(reader, admin):
    r = reader.request("PUT", "/api/v1/snapshots/x", expect=405)
    assert set(r.headers["Allow"].split(", ")) == {"GET", "HEAD", "PATCH", "DELETE"}
    r = admin.request("DELETE", "/api/v1/snapshots", expect=405)
    assert set(r.headers["Allow"].split(", ")) == {"GET", "HEAD", "POST"}
    r = admin.request("GET", "/api/v1/snapshots/x/restore", expect=405)
    assert r.headers["Allow"] == "POST"


def test_malformed_json_unknown_keys_and_wrong_types_are_400(writer):
    for body in (b"{bad", b"[1,2]", b'"str"', b'{"name": "a", "name": "b"}'):
        r = writer.post("/api/v1/snapshots", data=body, headers=JSON, expect=400)
        assert r.json()["status"] == 400
    writer.post("/api/v1/snapshots", {"nam": "x"}, expect=400)
    writer.post("/api/v1/snapshots", {"name": 5}, expect=400)
    writer.post("/api/v1/snapshots", {"pin": "yes"}, expect=400)
    writer.post("/api/v1/snapshots", {"labels": ["a"]}, expect=400)
    writer.post("/api/v1/snapshots", {"labels": {"a": 1}}, expect=400)
    writer.post("/api/v1/snapshots", {"version_tag": ""}, expect=400)


def test_body_over_limit_is_413_with_and_without_content_length(make_server):
    s = make_server(config={"max_body_bytes": 1024})
    api = s.api(s.token("writer"))
    big = b'{"name": "' + b"x" * 4000 + b'"}'
    r = api.post("/api/v1/snapshots", data=big, headers=JSON, expect=413)
    assert r.json()["type"] == "urn:statesnap:problem:too-large"
    # A generator body is sent chunked: no Content-Length, the cap is a running count.
    r = api.post("/api/v1/snapshots", data=iter([big[:600], big[600:]]), headers=JSON, expect=413)
    assert r.json()["type"] == "urn:statesnap:problem:too-large"
    # Just under the limit, chunked, still works.
    ok = b'{"name": "chunked_ok"}'
    api.post("/api/v1/snapshots", data=iter([ok[:5], ok[5:]]), headers=JSON, expect=201)
    assert api.get("/api/v1/snapshots", expect=200).json()["total_count"] == 1


def test_wrong_content_type_is_415(writer, admin):
    writer.post("/api/v1/snapshots", data=b'{"name":"t"}', headers={"Content-Type": "text/plain"},
                expect=415)
    writer.post("/api/v1/snapshots", data=b'{"name":"t"}',
                headers={"Content-Type": "application/x-www-form-urlencoded"}, expect=415)
    writer.patch("/api/v1/snapshots/t", data=b'{"pin":true}', headers={"Content-Type": "text/xml"},
                 expect=415)
    admin.post("/api/v1/snapshots/t/restore/preview", data=b"{}", headers={"Content-Type": "text/plain"},
               expect=415)
    # JSON with a charset parameter is fine.
    writer.post("/api/v1/snapshots", data=b'{"name":"t"}',
                headers={"Content-Type": "application/json; charset=utf-8"}, expect=201)


def test_body_without_content_type_is_415(server):
    """curl-like raw request: a body and no Content-Type header."""
    body = b'{"name":"raw"}'
    req = (b"POST /api/v1/snapshots HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " +
           server.token("writer").encode() + b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as c:
        c.sendall(req)
        data = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
    head = data.split(b"\r\n", 1)[0]
    assert b" 415 " in head, data[:300]
    assert b"application/problem+json" in data


def test_store_locked_past_timeout_is_423_with_retry_after(make_server):
    s = make_server(config={"lock_timeout_ms": 200})
    api = s.api(s.token("admin"))
    api.post("/api/v1/snapshots", {"name": "first"}, expect=201)
    fd = os.open(os.path.join(s.store, ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        r = api.post("/api/v1/snapshots", {"name": "second"}, expect=423)
        assert r.headers["Retry-After"].isdigit()
        assert r.json()["type"] == "urn:statesnap:problem:locked"
        # Reads do not take the lock.
        api.get("/api/v1/snapshots/latest", expect=200)
    finally:
        os.close(fd)
    api.post("/api/v1/snapshots", {"name": "second"}, expect=201)


def test_request_id_is_echoed_or_generated(reader):
    r = reader.get("/healthz", headers={"X-Request-Id": "ci-run-42.step_3"}, expect=200)
    assert r.headers["X-Request-Id"] == "ci-run-42.step_3"
    r = reader.get("/healthz", headers={"X-Request-Id": "bad id with spaces"}, expect=200)
    assert r.headers["X-Request-Id"] != "bad id with spaces"
    a = reader.get("/healthz", expect=200).headers["X-Request-Id"]
    b = reader.get("/healthz", expect=200).headers["X-Request-Id"]
    assert a != b


def test_store_io_failure_is_500_problem(make_server):
    """A failure of the store itself (here its work directory replaced by a
    file, so no temp file can be made) is a server-side error: 500
    problem+json, the snapshot list unchanged, and the next create works once
    the store is whole again."""
    s = make_server()
    api = s.api(s.token("admin"))
    api.post("/api/v1/snapshots", {"name": "before"}, expect=201)
    work = os.path.join(s.store, ".work")
    os.rename(work, work + ".saved")
    with open(work, "w") as f:
        f.write("not a directory\n")
    try:
        r = api.post("/api/v1/snapshots", {"name": "during"}, expect=500)
        assert r.json()["type"] == "urn:statesnap:problem:internal"
        assert ".work" in r.json()["detail"]
    finally:
        os.remove(work)
        os.rename(work + ".saved", work)
    names = [x["name"] for x in api.get("/api/v1/snapshots", expect=200).json()["snapshots"]]
    assert names == ["before"]
    api.post("/api/v1/snapshots", {"name": "after"}, expect=201)


def test_store_that_cannot_be_opened_is_503(make_server):
    """Worker threads open the store on their first request; when catalog.db is
    not a database any more, every request that needs the store is 503 while
    the liveness probe stays up."""
    s = make_server()
    api = s.api(s.token("admin"))
    cat = os.path.join(s.store, "catalog.db")
    os.rename(cat, cat + ".saved")
    os.mkdir(cat)
    try:
        r = api.get("/api/v1/snapshots", expect=503)
        assert r.json()["type"] == "urn:statesnap:problem:unavailable"
        assert "store cannot be opened" in r.json()["detail"]
        api.get("/healthz", expect=200)
    finally:
        os.rmdir(cat)
        os.rename(cat + ".saved", cat)
