"""Exit codes a script can act on (issue 20): 0 ok, 1 failed or refused on
its merits, 2 usage, 11 retry later (the store busy, the state kept changing,
the state root not there yet), documented in --help and the README; and with
--json every error prints the API's problem document on stdout (the message
still on stderr), healthcheck --json its result whether ready or not."""
import fcntl
import json
import os
import re
import sys

import pytest

import snaplib

sys.path.insert(0, os.path.join(snaplib.REPO, "tests", "api"))

TABLE = {0: "ok", 1: "refused", 2: "usage", 11: "retry"}


def test_help_footer_and_readme_document_the_table(ss):
    rc, out, err = ss.run("--help", root=False, store=False)
    m = re.search(r"^Exit codes:\n((?:  .*\n?)*)", out, re.M)
    assert m, out
    codes = [int(l.split()[0]) for l in m.group(1).splitlines()]
    assert codes == [0, 1, 2, 11], m.group(1)
    for code, word in TABLE.items():
        assert re.search(r"^  %d\s+.*%s" % (code, word), m.group(1), re.M | re.I), (code, m.group(1))
    readme = open(os.path.join(snaplib.REPO, "README.md")).read()
    sec = re.search(r"^#+ Exit codes\n(.*?)(?=^#)", readme, re.M | re.S)
    assert sec, "README has no 'Exit codes' section"
    for code in TABLE:
        assert re.search(r"^\|\s*`?%d`?\s*\|" % code, sec.group(1), re.M), (code, sec.group(1))


def locked(ss):
    lk = open(os.path.join(ss.store, ".lock"), "a")
    fcntl.flock(lk, fcntl.LOCK_EX)
    return lk


def fast_lock_config(tmp_path):
    cfg = tmp_path / "fastlock.json"
    cfg.write_text(json.dumps({"lock_timeout_ms": 200}))
    return str(cfg)


def test_a_busy_store_is_retry_later(ss, tmp_path):
    ss.create("a")
    cfg = fast_lock_config(tmp_path)
    lk = locked(ss)
    try:
        for args in (["create", "--name", "b"], ["delete", "a"], ["restore", "a", "--yes"]):
            rc, out, err = ss.run("--config", cfg, *args)
            assert rc == 11 and "busy" in err, (args, rc, out, err)
        rc, out, err = ss.run("--config", cfg, "--json", "create", "--name", "c")
        assert rc == 11 and "busy" in err
        doc = json.loads(out)
        assert doc["status"] == 423 and doc["type"] == "urn:statesnap:problem:locked", doc
    finally:
        lk.close()
    assert ss.names() == ["a"]


def test_usage_refusal_and_failure_codes(ss):
    ss.create("a")
    assert ss.run("list", "--limit", "0")[0] == 2
    assert ss.run("create", "--name", "../x")[0] == 2       # not a snapshot name
    assert ss.run("show", "nosuch")[0] == 1                 # not found
    assert ss.run("pin", "a")[0] == 0
    assert ss.run("delete", "a")[0] == 1                    # pinned: refused on its merits
    assert ss.run("create", "--name", "a")[0] == 1          # the name is taken


def test_more_files_than_a_snapshot_holds_is_refused_with_1(ss, tmp_path):
    many = os.path.join(ss.root, "many")
    os.makedirs(many)
    for i in range(101):
        with open(os.path.join(many, "f%05d" % i), "w") as f:
            f.write("x")
    cfg = tmp_path / "many.json"
    cfg.write_text(json.dumps({"include": ["state/**", "many/**"], "max_files": 100}))
    rc, out, err = ss.run("--config", str(cfg), "create", "--name", "toomany")
    assert rc == 1 and "more than the 100 " in err and "max_files" in err, (rc, err)


def problem_ok(doc, status):
    assert set(doc) >= {"type", "title", "status", "detail"}, doc
    assert doc["status"] == status and doc["type"].startswith("urn:statesnap:problem:"), doc


def test_json_errors_print_the_problem_document(ss):
    ss.create("a")
    rc, out, err = ss.run("--json", "show", "nosuch")
    assert rc == 1 and err.startswith("statesnap: ") and len(err.splitlines()) == 1, err
    doc = json.loads(out)
    problem_ok(doc, 404)
    assert doc["type"] == "urn:statesnap:problem:not-found" and doc["title"] == "Not Found"
    assert doc["detail"] in err
    # A usage error is the 400 document, exit 2.
    rc, out, err = ss.run("--json", "list", "--limit", "0")
    assert rc == 2 and "--limit" in err
    problem_ok(json.loads(out), 400)
    rc, out, err = ss.run("--json", "create", "--no-such-option")
    assert rc == 2 and "unknown option" in err
    assert json.loads(out)["type"] == "urn:statesnap:problem:invalid-request"
    # Pinned is finer than its status, as in the API.
    ss.ok("pin", "a")
    rc, out, err = ss.run("--json", "delete", "a")
    assert rc == 1 and json.loads(out)["type"] == "urn:statesnap:problem:pinned", out


def test_json_error_with_a_report_prints_only_the_report(ss):
    ss.create("a")
    with open(ss.archive("a"), "r+b") as f:
        f.seek(-100, 2)
        f.write(b"\0" * 20)
    rc, out, err = ss.run("--json", "verify", "a")
    assert rc == 1
    doc = json.loads(out)     # one document on stdout: the verify report
    assert "type" not in doc, doc


def test_json_errors_match_the_apis_documents(ss, tmp_path):
    import apilib
    tokens = apilib.new_tokens()
    (tmp_path / "srv").mkdir()
    srv = apilib.Server(tmp_path / "srv", ss.root, tokens=tokens).start()
    try:
        api = srv.api(srv.token("admin"))
        api.create("a", pin=True)
        want = {
            ("show", "nosuch"): api.get("/api/v1/snapshots/nosuch", expect=404).json(),
            ("delete", "a"): api.delete("/api/v1/snapshots/a", expect=409).json(),
        }
        for args, doc in want.items():
            rc, out, err = srv.cli("--json", *args)
            assert rc == 1, (args, rc, err)
            assert json.loads(out) == doc, (args, out, doc)
    finally:
        srv.stop()


def test_healthcheck_json_prints_its_result_ready_or_not(ss, tmp_path):
    import apilib
    rc, out, err = ss.run("--json", "healthcheck", "--url", "http://127.0.0.1:9/readyz",
                          "--timeout", "2")
    assert rc == 1 and "healthcheck" in err
    doc = json.loads(out)
    assert doc["ready"] is False and doc["http_status"] is None and doc["error"], doc
    (tmp_path / "srv").mkdir()
    srv = apilib.Server(tmp_path / "srv", ss.root, tokens=apilib.new_tokens()).start()
    try:
        url = srv.base + "/readyz"
        rc, out, err = ss.run("--json", "healthcheck", "--url", url)
        doc = json.loads(out)
        assert rc == 1 and doc["ready"] is False and doc["http_status"] == 503, (out, err)
        assert isinstance(doc["response"], dict), doc
        srv.api(srv.token("writer")).create("first")
        rc, out, err = ss.run("--json", "healthcheck", "--url", url)
        doc = json.loads(out)
        assert rc == 0 and err == "", err
        assert doc == dict(doc, url=url, ready=True, http_status=200, error=None), doc
        assert isinstance(doc["response"], dict)
    finally:
        srv.stop()
