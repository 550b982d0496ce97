"""Cross-site requests and DNS rebinding (issue #16, item 2), at the HTTP level:
every POST/PATCH route needs Content-Type: application/json (415 otherwise,
an empty body included), a request whose Host is not a name of this server is
403, and a mutating request from another origin (Origin, Sec-Fetch-Site) is
403, in dev mode too. The browser itself is tests/e2e (cross-site page)."""
import io
import os
import zipfile

import pytest

import apilib

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def dev(make_server):
    """Dev mode (no tokens: every request is admin), what `make run` serves."""
    s = make_server(tokens={})
    api = s.api(None)
    api.create("base")
    for i in range(6):
        api.create("u_%d" % i)
    return s, api


def listing(s, api):
    return sorted(x["name"] for x in api.get("/api/v1/snapshots?limit=1000", expect=200).json()["snapshots"])


SIMPLE_TYPES = [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]


@pytest.mark.parametrize("ctype", SIMPLE_TYPES)
def test_mutating_json_routes_need_json_content_type(dev, ctype):
    """What a form, sendBeacon or a no-cors fetch can send: refused, and nothing changes."""
    s, api = dev
    before, files = listing(s, api), apilib.store_listing(s.store)
    h = {"Content-Type": ctype} if ctype else {}
    for path, body in (("/api/v1/prune", b""), ("/api/v1/prune", b"{}"),
                       ("/api/v1/snapshots", b""), ("/api/v1/snapshots", b'{"name":"x"}'),
                       ("/api/v1/snapshots/base/verify", b""),
                       ("/api/v1/snapshots/base/restore/preview", b""),
                       ("/api/v1/snapshots/base/restore", b'{"confirm_token":"x"}'),
                       ("/api/v1/offsite/sync", b"")):
        r = api.post(path, data=body, headers=h, expect=415)
        assert r.headers["Content-Type"].startswith("application/problem+json")
    api.patch("/api/v1/snapshots/base", data=b'{"pin":true}', headers=h, expect=415)
    assert listing(s, api) == before and apilib.store_listing(s.store) == files
    assert api.get("/api/v1/snapshots/base", expect=200).json()["pinned"] is False


def test_json_content_type_with_an_empty_body_still_works(dev):
    s, api = dev
    api.post("/api/v1/snapshots/base/verify", data=b"", headers=JSON, expect=200)
    api.post("/api/v1/snapshots", data=b"", headers=JSON, expect=201)
    api.post("/api/v1/snapshots", data=b"", headers={"Content-Type": "Application/JSON; charset=utf-8"},
             expect=201)


FOREIGN = [{"Origin": "http://evil.example"}, {"Origin": "null"}, {"Origin": "http://127.0.0.1:1"},
           {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
           {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}]


@pytest.mark.parametrize("extra", FOREIGN)
def test_foreign_origin_may_not_change_anything(dev, extra):
    s, api = dev
    before, files = listing(s, api), apilib.store_listing(s.store)
    h = dict(JSON, **extra)
    for path in ("/api/v1/prune", "/api/v1/snapshots", "/api/v1/snapshots/base/verify",
                 "/api/v1/snapshots/base/restore/preview", "/api/v1/offsite/sync"):
        r = api.post(path, data=b"{}", headers=h, expect=403)
        assert r.json()["type"] == "urn:statesnap:problem:forbidden"
    api.patch("/api/v1/snapshots/base", {"pin": True}, headers=extra, expect=403)
    api.delete("/api/v1/snapshots/u_0", headers=extra, expect=403)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("x", "y")
    api.post("/api/v1/snapshots/import", data=buf.getvalue(),
             headers=dict(extra, **{"Content-Type": "application/zip"}), expect=403)
    assert listing(s, api) == before and apilib.store_listing(s.store) == files
    # Reads carry no such check (a cross-site page cannot read the answer).
    api.get("/api/v1/snapshots", headers=extra, expect=200)


def test_same_origin_requests_pass(dev):
    s, api = dev
    for origin in ("http://127.0.0.1:%d" % s.port, "HTTP://127.0.0.1:%d" % s.port):
        api.post("/api/v1/snapshots/base/verify", data=b"", expect=200,
                 headers=dict(JSON, Origin=origin, **{"Sec-Fetch-Site": "same-origin"}))
    api.patch("/api/v1/snapshots/base", {"labels": {"a": "b"}}, expect=200,
              headers={"Origin": "http://localhost:%d" % s.port, "Host": "localhost:%d" % s.port})


def test_token_mode_has_the_same_checks(server, admin):
    admin.create("t")
    admin.post("/api/v1/prune", data=b"", expect=415, headers={})
    admin.post("/api/v1/prune", data=b"{}", headers=dict(JSON, Origin="http://evil.example"), expect=403)
    assert [x["name"] for x in admin.get("/api/v1/snapshots", expect=200).json()["snapshots"]] == ["t"]


@pytest.mark.parametrize("host", ["evil.example", "evil.example:%(port)d", "127.0.0.1:%(other)d",
                                  "localhost:%(other)d", "statesnap.internal:%(port)d", "10.1.2.3:%(port)d"])
def test_foreign_host_is_refused(dev, host):
    """DNS rebinding: the page's own name, now resolving to 127.0.0.1."""
    s, api = dev
    h = {"Host": host % {"port": s.port, "other": s.port + 1 if s.port < 65535 else 1}}
    before = listing(s, api)
    for method, path in (("GET", "/api/v1/snapshots"), ("GET", "/api/v1/snapshots/base/archive"),
                         ("GET", "/"), ("GET", "/metrics")):
        r = api.request(method, path, headers=h, expect=403)
        assert r.headers["Content-Type"].startswith("application/problem+json")
        assert b"PK" not in r.content[:2]
    api.delete("/api/v1/snapshots/u_1", headers=h, expect=403)
    api.post("/api/v1/snapshots/base/restore/preview", {}, headers=h, expect=403)
    assert listing(s, api) == before
    # Probes answer by any name: a checker asks by whatever name it has.
    api.get("/healthz", headers=h, expect=200)
    api.get("/readyz", headers=h, expect=200)


@pytest.mark.parametrize("host", ["127.0.0.1:%(port)d", "127.0.0.1", "localhost:%(port)d", "LOCALHOST:%(port)d",
                                  "[::1]:%(port)d", "127.0.0.2:%(port)d"])
def test_loopback_names_are_allowed(dev, host):
    s, api = dev
    api.get("/api/v1/snapshots", headers={"Host": host % {"port": s.port}}, expect=200)


@pytest.mark.parametrize("host", ["a b", "x:y", "[::1", "x:99999", "x:", "evil.example@127.0.0.1"])
def test_malformed_host_is_400(dev, host):
    s, api = dev
    api.get("/api/v1/snapshots", headers={"Host": host}, expect=400)


def test_allowed_hosts_config(make_server):
    s = make_server(tokens={}, config={"allowed_hosts": ["statesnap.internal", "Bot-1.example:8443"]})
    api = s.api(None)
    api.get("/api/v1/snapshots", headers={"Host": "statesnap.internal:%d" % s.port}, expect=200)
    api.get("/api/v1/snapshots", headers={"Host": "STATESNAP.internal"}, expect=200)
    api.get("/api/v1/snapshots", headers={"Host": "bot-1.example:8443"}, expect=200)
    api.get("/api/v1/snapshots", headers={"Host": "bot-1.example:%d" % s.port}, expect=403)
    api.get("/api/v1/snapshots", headers={"Host": "other.internal"}, expect=403)
    # A page served by an allowed name may change things by that name.
    api.post("/api/v1/snapshots", {"name": "by_name"}, expect=201,
             headers={"Host": "statesnap.internal", "Origin": "https://statesnap.internal"})


@pytest.mark.parametrize("bad", [["evil example"], ["x:0"], "statesnap.internal", [1], ["a:b:c"]])
def test_bad_allowed_hosts_refuse_to_start(make_server, bad):
    s = make_server(tokens={}, config={"allowed_hosts": bad}, start=False)
    s.start(expect_ok=False)
    assert s.proc.wait(timeout=10) == 2
    assert "allowed_hosts" in s.log_text()
    s.proc = None
    s.log.close()
