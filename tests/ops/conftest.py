"""Fixtures for the packaging and operations tests: the binary under test, the
hardened release build (made by scripts/build-release.sh when missing), and a
running server with read/write/admin tokens (tests/api/apilib.py)."""
import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import opslib  # noqa: E402
import apilib  # noqa: E402


@pytest.fixture(scope="session")
def statesnap_bin():
    assert os.path.isfile(opslib.BIN) and os.access(opslib.BIN, os.X_OK), \
        "statesnap binary %s is missing: make build/test/statesnap or set STATESNAP_BIN" % opslib.BIN
    return opslib.BIN


@pytest.fixture(scope="session")
def release_bin():
    """build/release/statesnap, built now unless tests/ops/run.sh already did
    (the build is incremental, so asking again costs a second)."""
    if os.environ.get("STATESNAP_RELEASE_BIN") is None:
        r = opslib.run([opslib.BUILD_RELEASE], cwd=opslib.REPO)
        assert r.returncode == 0, "scripts/build-release.sh failed:\n%s%s" % (r.stdout, r.stderr[-4000:])
    assert os.path.isfile(opslib.RELEASE_BIN) and os.access(opslib.RELEASE_BIN, os.X_OK), \
        "no release binary at %s" % opslib.RELEASE_BIN
    return opslib.RELEASE_BIN


def need_tool(name, package):
    path = shutil.which(name)
    assert path, "%s is missing: apt-get install %s (tests/ops/run.sh does)" % (name, package)
    return path


@pytest.fixture(scope="session")
def template_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("template") / "root"
    apilib.make_state(root, "--seed", "9", "--positions", "3", "--chain-lines", "200")
    return str(root)


@pytest.fixture
def root(template_root, tmp_path):
    return apilib.copy_root(template_root, tmp_path / "root")


@pytest.fixture
def make_server(root, tmp_path):
    """make_server(config=..., args=..., listen=..., binary=...) -> a started apilib.Server with
    read/write/admin tokens; every one must exit 0 on SIGTERM at the end."""
    started = []

    def make(config=None, args=(), listen="127.0.0.1:0", env=None, tokens="default", binary=None):
        work = tmp_path / ("srv%d" % len(started))
        work.mkdir()
        s = apilib.Server(work, root, apilib.new_tokens() if tokens == "default" else tokens,
                          config=config, args=args, listen=listen, env=env)
        if binary is not None:
            s.cmd[0] = binary
        started.append(s)
        return s.start()

    yield make
    for s in started:
        if s.proc is not None:
            rc = s.stop()
            assert rc == 0, "server exited %s on SIGTERM:\n%s" % (rc, s.log_text()[-3000:])
