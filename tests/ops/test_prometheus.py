"""deploy/prometheus-rules.yml: valid for promtool, each alert fires (and stays
quiet) as its unit tests in prometheus-rules.test.yml say, every metric it reads
is one the server really exports, and the README's scrape config is valid."""
import os
import re

import yaml

import opslib
from conftest import need_tool


def promtool(*args, **kw):
    return opslib.run([need_tool("promtool", "prometheus")] + list(args), **kw)


def alerts():
    with open(opslib.RULES) as f:
        doc = yaml.safe_load(f)
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def test_promtool_check_rules_passes():
    r = promtool("check", "rules", opslib.RULES)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS: %d rules found" % len(alerts()) in r.stdout, r.stdout


def test_rules_cover_age_absence_failures_and_offsite():
    exprs = {a["alert"]: a["expr"] for a in alerts()}
    joined = " ".join(exprs.values())
    for metric in ("statesnap_latest_snapshot_age_seconds", "statesnap_snapshots",
                   "statesnap_operations_total", "statesnap_offsite_last_success_timestamp_seconds"):
        assert metric in joined, metric
    for a in alerts():
        assert a["labels"]["severity"] in ("warning", "critical"), a["alert"]
        assert a["annotations"]["summary"] and a["annotations"]["description"], a["alert"]


def test_promtool_unit_tests_pass_and_cover_every_alert():
    r = promtool("test", "rules", os.path.basename(opslib.RULES_TESTS), cwd=opslib.HERE)
    assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr
    tested = set(re.findall(r"alertname: (\w+)", opslib.read(opslib.RULES_TESTS)))
    assert {a["alert"] for a in alerts()} <= tested


def test_rules_read_only_metrics_the_server_exports(make_server):
    s = make_server()
    api = s.api(s.token("writer"))
    api.create("for_metrics")
    text = s.api(s.token("reader")).get("/metrics", expect=200).text
    exported = set(re.findall(r"^# TYPE (\w+) ", text, re.M))
    used = set(re.findall(r"\b(statesnap_\w+)", opslib.read(opslib.RULES)))
    # a histogram's _bucket/_sum/_count belong to its TYPE name
    missing = {m for m in used if m not in exported and re.sub(r"_(bucket|sum|count)$", "", m) not in exported}
    assert not missing, "rules use metrics /metrics does not have: %s" % sorted(missing)


def test_readme_scrape_config_passes_promtool(tmp_path):
    blocks = [b for lang, b in opslib.readme_blocks("yaml") if "scrape_configs" in b]
    assert len(blocks) == 1, "README.md needs one ```yaml block with the Prometheus scrape config"
    cfg = yaml.safe_load(blocks[0])
    # The files the README names live elsewhere on a real Prometheus host.
    cfg["rule_files"] = [opslib.RULES]
    for job in cfg["scrape_configs"]:
        auth = job.get("authorization") or {}
        if "credentials_file" in auth:
            tok = tmp_path / "token"
            tok.write_text("r-token\n")
            auth["credentials_file"] = str(tok)
        tls = job.get("tls_config") or {}
        if "ca_file" in tls:
            ca = tmp_path / "ca.pem"
            ca.write_text("")
            tls["ca_file"] = str(ca)
    assert any(j["job_name"] == "statesnap" for j in cfg["scrape_configs"]), \
        "the rules assume job=\"statesnap\""
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(cfg))
    r = promtool("check", "config", str(path))
    assert r.returncode == 0, r.stdout + r.stderr
