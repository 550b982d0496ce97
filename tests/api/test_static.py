"""The dashboard's static files: content types, CSP, revalidation, no escapes."""
import os
import subprocess

import pytest

import apilib


@pytest.fixture
def dash(make_server, tmp_path):
    d = tmp_path / "static"
    d.mkdir()
    (d / "index.html").write_text("<!doctype html><title>statesnap</title><script src=/static/app.js></script>")
    (d / "app.js").write_text("console.log('statesnap');\n")
    (d / "style.css").write_text("body{margin:0}\n")
    (d / ".secret").write_text("nope\n")
    (tmp_path / "outside.txt").write_text("outside\n")
    return make_server(args=("--static-dir", str(d)))


def test_index_and_assets(dash):
    api = dash.api(None)
    r = api.get("/", expect=200)
    assert r.headers["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["Cache-Control"] == "no-cache" and r.headers["X-Content-Type-Options"] == "nosniff"
    js = api.get("/static/app.js", expect=200)
    assert js.headers["Content-Type"].startswith("text/javascript")
    assert api.get("/static/style.css", expect=200).headers["Content-Type"].startswith("text/css")
    api.get("/static/app.js", headers={"If-None-Match": js.headers["ETag"]}, expect=304)


def test_no_dotfiles_no_traversal(dash):
    api = dash.api(None)
    api.get("/static/.secret", expect=404)
    api.get("/static/missing.js", expect=404)
    api.get("/static/", expect=404)
    for target in (b"/static/../outside.txt", b"/static/%2e%2e/outside.txt", b"/static/a/../../outside.txt"):
        data = apilib.raw_get(dash.port, target)
        assert data.split(b"\r\n", 1)[0].split(b" ")[1] == b"404", data[:200]
        assert b"outside" not in data.split(b"\r\n\r\n", 1)[1]


def test_no_dashboard_installed_is_404(make_server, tmp_path):
    empty = tmp_path / "empty-static"
    empty.mkdir()
    s = make_server(args=("--static-dir", str(empty)))
    s.api(None).get("/", expect=404)


def test_tls(make_server, tmp_path):
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=60)
    s = make_server(args=("--tls-cert", cert, "--tls-key", key))
    api = apilib.Api(s.base, s.token("writer"), verify=cert)
    assert api.base.startswith("https://")
    api.get("/healthz", expect=200)
    api.create("over_tls")
