"""Bearer tokens and roles; dev mode; tokens never reach the log."""
import subprocess

import apilib


def test_read_token_gets_403_on_writes(server, writer, reader):
    writer.create("r1")
    for method, path, body in (("POST", "/api/v1/snapshots", {"name": "nope"}),
                               ("POST", "/api/v1/snapshots/r1/restore/preview", {}),
                               ("POST", "/api/v1/snapshots/r1/restore", {"confirm_token": "t.1.x"}),
                               ("DELETE", "/api/v1/snapshots/r1", None),
                               ("PATCH", "/api/v1/snapshots/r1", {"pin": True})):
        r = reader.request(method, path, json=body, expect=403)
        assert r.json()["type"] == "urn:statesnap:problem:forbidden"
    reader.post("/api/v1/snapshots/import", data=b"PK", headers={"Content-Type": "application/zip"},
                expect=403)
    # write may create and patch but not restore, import or delete.
    writer.post("/api/v1/snapshots/r1/restore/preview", expect=403)
    writer.delete("/api/v1/snapshots/r1", expect=403)
    reader.get("/api/v1/snapshots/r1", expect=200)
    assert reader.get("/api/v1/snapshots", expect=200).json()["total_count"] == 1


def test_no_token_and_wrong_token_are_401(server, anon):
    r = anon.get("/api/v1/snapshots", expect=401)
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = anon.get("/api/v1/snapshots", token="not-a-configured-token", expect=401)
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    anon.post("/api/v1/snapshots", {"name": "x"}, expect=401)
    anon.get("/api/v1/snapshots", headers={"Authorization": "Basic dXNlcjpwYXNz"}, expect=401)
    # The probes and the dashboard need no token.
    anon.get("/healthz", expect=200)
    anon.get("/readyz", expect=503)
    anon.get("/metrics", expect=200)


def test_tokens_never_appear_in_the_log(server, writer, reader, admin, anon):
    writer.create("logged")
    reader.get("/api/v1/snapshots/logged", expect=200)
    admin.delete("/api/v1/snapshots/logged", expect=200)
    anon.get("/api/v1/snapshots", token="wrong-secret-token-123", expect=401)
    assert server.stop() == 0
    text = server.log_text()
    for role, tok in server.tokens.values():
        assert tok not in text
    assert "wrong-secret-token-123" not in text
    reqs = [l for l in server.log_lines() if l.get("msg") == "request"]
    assert len(reqs) >= 4
    for l in reqs:
        assert set(l) >= {"request_id", "method", "path", "status", "duration_ms", "token"}
    assert {l["token"] for l in reqs} >= {"writer", "reader", "admin", None}


def test_metrics_can_require_a_token(make_server):
    s = make_server(config={"metrics_public": False})
    s.api(None).get("/metrics", expect=401)
    s.api(s.token("reader")).get("/metrics", expect=200)


def test_dev_mode_serves_loopback_without_tokens(make_server):
    s = make_server(tokens={})
    api = s.api(None)
    snap = api.create("dev1")
    assert snap["created_by"] == "dev"
    api.delete("/api/v1/snapshots/dev1", expect=200)
    assert any("dev mode" in l.get("msg", "") for l in s.log_lines())


def test_dev_mode_refuses_a_non_loopback_address(make_server):
    s = make_server(tokens={}, listen="0.0.0.0:0", start=False)
    r = subprocess.run(s.cmd, capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "loopback" in r.stderr
    # With tokens the same address is accepted.
    t = make_server(listen="0.0.0.0:0")
    t.api(t.token("reader")).get("/api/v1/snapshots", expect=200)
