"""A TypeScript client generated from openapi.yaml (openapi-typescript with its default
options, openapi-fetch) type-checks a create/list/latest/restore script under tsc --strict:
request fields with a default (pin, clear_kill_switch, dry_run, ...) are optional there too.
The script then runs against a real server (tests/api/tsclient/run.sh)."""
import json
import os
import subprocess

import apilib


def test_generated_typescript_client_typechecks_and_runs(server, admin):
    script = os.path.join(apilib.HERE, "tsclient", "run.sh")
    env = dict(os.environ, STATESNAP_URL=server.base, STATESNAP_TOKEN=server.token("admin"))
    r = subprocess.run([script, "ts_client_1"], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    seen = json.loads(r.stdout.strip().splitlines()[-1])
    assert seen["created"] == "ts_client_1"
    assert seen["pinned"] is False, "pin left out is the default, false"
    assert seen["listed"][0] == seen["latest"] == "ts_client_1"
    assert seen["total"] == 1
    assert seen["preview_files"] > 0
    assert seen["safety"] and seen["safety"] != "ts_client_1"
    assert seen["results"] and set(seen["results"]) <= {"OK", "SKIPPED", "DELETED"}, seen["results"]
    snap = admin.get("/api/v1/snapshots/" + seen["safety"], expect=200).json()
    assert snap["pinned"] is True
