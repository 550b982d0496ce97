"""deploy/statesnap.service: `systemd-analyze verify` is clean, the sandbox is
what the README promises, and the unit agrees with the example config.

verify needs ExecStart's binary to exist; the unit names the installed path
(/usr/local/bin/statesnap), so the test verifies a copy whose binary paths
point at the release build and changes nothing else."""
import json
import re

import pytest

import opslib
from conftest import need_tool

INSTALLED = "/usr/local/bin/statesnap"


def unit_settings(text):
    """[(key, value)] of a unit file, in order (repeated keys kept)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            k, _, v = line.partition("=")
            out.append((k.strip(), v.strip()))
    return out


def values(key):
    return [v for k, v in unit_settings(opslib.read(opslib.UNIT)) if k == key]


@pytest.fixture
def unit_copy(tmp_path, release_bin):
    text = opslib.read(opslib.UNIT)
    assert INSTALLED in text
    path = tmp_path / "statesnap.service"
    path.write_text(text.replace(INSTALLED, release_bin))
    return path


def verify(path):
    return opslib.run([need_tool("systemd-analyze", "systemd"), "verify", str(path)], cwd=path.parent)


def test_systemd_analyze_verify_passes(unit_copy):
    r = verify(unit_copy)
    # verify exits 0 on unknown directives and only warns, so a clean unit is
    # exit 0 AND nothing printed.
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stdout + r.stderr


def test_verify_would_catch_a_misspelt_directive(unit_copy):
    # Proves the clean result above means something.
    text = unit_copy.read_text().replace("ProtectSystem=strict", "ProtectSytem=strict")
    unit_copy.write_text(text)
    r = verify(unit_copy)
    assert "ProtectSytem" in r.stdout + r.stderr


def test_unit_is_sandboxed():
    want = {
        "ProtectSystem": "strict", "NoNewPrivileges": "yes", "PrivateTmp": "yes",
        "ProtectHome": "yes", "PrivateDevices": "yes", "CapabilityBoundingSet": "",
        "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
        "ProtectControlGroups": "yes", "RestrictSUIDSGID": "yes",
        "MemoryDenyWriteExecute": "yes", "SystemCallArchitectures": "native",
    }
    for key, value in want.items():
        assert values(key) == [value], "%s=%s expected, unit has %s" % (key, value, values(key))
    assert values("User") and values("User")[0] != "root"
    assert "@system-service" in values("SystemCallFilter")


def test_exposure_score_is_low(unit_copy):
    r = opslib.run([need_tool("systemd-analyze", "systemd"), "security", "--offline=true",
                    "--no-pager", str(unit_copy)])
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout + r.stderr)
    assert m, r.stdout + r.stderr
    assert float(m.group(1)) <= 2.0, "exposure %s:\n%s" % (m.group(1), r.stdout)


def test_writable_paths_are_the_example_configs_store_and_root():
    with open(opslib.EXAMPLE_CONFIG) as f:
        cfg = json.load(f)
    writable = " ".join(values("ReadWritePaths")).split()
    assert cfg["store"] in writable and cfg["root"] in writable, writable
    # The store is the service's StateDirectory, so systemd creates it for User=.
    assert "/var/lib/" + values("StateDirectory")[0] == cfg["store"]


def test_exec_lines_run_against_the_example_config(tmp_path, release_bin):
    # ExecStartPre (config check) runs as written, with the example config in
    # place of /etc/statesnap/statesnap.json: a unit that fails its own check
    # would never start.
    pre = values("ExecStartPre")
    assert len(pre) == 1
    argv = pre[0].replace(INSTALLED, release_bin) \
                 .replace("/etc/statesnap/statesnap.json", opslib.EXAMPLE_CONFIG).split()
    r = opslib.run(argv, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    start = values("ExecStart")[0].split()
    assert start[0] == INSTALLED and "serve" in start
    serve_args = start[start.index("serve") + 1:]
    assert all(a.lstrip("-") in opslib.serve_options() for a in serve_args if a.startswith("--"))
