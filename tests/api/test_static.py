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


def test_symlinks_do_not_lead_out_of_the_static_dir(make_server, tmp_path):
    """A link inside static/, to a directory or a file outside it, is not
    followed (issue #16, item 12); a real subdirectory still is served."""
    d = tmp_path / "static"
    (d / "sub").mkdir(parents=True)
    (d / "index.html").write_text("<!doctype html><title>x</title>")
    (d / "sub" / "ok.js").write_text("ok\n")
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "secret.txt").write_text("outside the static dir\n")
    os.symlink(str(outside), str(d / "linked"))
    os.symlink(str(outside / "secret.txt"), str(d / "file.txt"))
    os.symlink(str(outside), str(d / "sub" / "deeper"))
    s = make_server(args=("--static-dir", str(d)))
    api = s.api(None)
    assert api.get("/static/sub/ok.js", expect=200).text == "ok\n"
    for path in ("/static/linked/secret.txt", "/static/file.txt", "/static/sub/deeper/secret.txt"):
        r = api.get(path, expect=404)
        assert "outside the static dir" not in r.text


def test_the_real_dashboard_modules_are_javascript_under_the_csp(make_server):
    """The shipped dashboard (static/ in the repository) loads as ES modules from static/js/:
    every module import resolves to a file served as text/javascript (a module script needs
    a JavaScript MIME type) from the same origin, which script-src 'self' allows."""
    import re
    static = os.path.join(apilib.REPO, "static")
    s = make_server(args=("--static-dir", static))
    api = s.api(None)
    index = api.get("/", expect=200)
    csp = index.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp
    assert re.search(r'<script type="module" src="/static/js/main\.js"></script>', index.text)
    assert "app.js" not in index.text
    seen, todo, deps = set(), ["js/main.js"], {}
    while todo:
        rel = todo.pop()
        if rel in seen:
            continue
        seen.add(rel)
        r = api.get("/static/" + rel, expect=200)
        assert r.headers["Content-Type"] == "text/javascript; charset=utf-8", rel
        assert r.text.startswith("/* " + os.path.basename(rel) + " - "), rel + " opens with what it is"
        deps[rel] = [os.path.normpath(os.path.join(os.path.dirname(rel), d))
                     for d in re.findall(r"^import [^;]* from '\./([\w-]+\.js)';", r.text, flags=re.M)]
        todo.extend(deps[rel])
    on_disk = {"js/" + f for f in os.listdir(os.path.join(static, "js")) if f.endswith(".js")}
    assert seen == on_disk, "every module is imported from main.js, none is missing"
    # The imports point one way: no module imports itself back through others.
    def reaches(a, b, path=()):
        return any(d == b or (d not in path and reaches(d, b, path + (d,))) for d in deps[a])
    cycles = sorted(m for m in deps if reaches(m, m))
    assert cycles == [], "modules in an import cycle: %s" % cycles
