"""Fixtures for the black-box HTTP tests: a generated state root, a running
`statesnap serve` with read/write/admin tokens, and schema-checking clients."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apilib  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def statesnap_bin():
    assert os.path.isfile(apilib.BIN) and os.access(apilib.BIN, os.X_OK), \
        "statesnap binary %s is missing: make build/test/statesnap or set STATESNAP_BIN" % apilib.BIN
    return apilib.BIN


@pytest.fixture(scope="session")
def template_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("template") / "root"
    apilib.make_state(root, "--seed", "7", "--positions", "3", "--chain-lines", "300")
    return str(root)


@pytest.fixture
def root(template_root, tmp_path):
    return apilib.copy_root(template_root, tmp_path / "root")


@pytest.fixture
def make_server(root, tmp_path):
    """make_server(tokens=..., config=..., args=..., start=True) -> Server; all are
    stopped at the end, and each must exit 0 on SIGTERM."""
    started = []

    def make(tokens="default", config=None, args=(), listen="127.0.0.1:0", start=True, env=None,
             root_dir=None):
        n = len(started)
        work = tmp_path / ("srv%d" % n)
        work.mkdir()
        s = apilib.Server(work, root_dir or root, apilib.new_tokens() if tokens == "default" else tokens,
                          config=config, args=args, listen=listen, env=env)
        started.append(s)
        if start:
            s.start()
        return s

    yield make
    for s in started:
        if s.proc is not None:
            rc = s.stop()
            assert rc == 0, "server exited %s on SIGTERM:\n%s" % (rc, s.log_text()[-3000:])


@pytest.fixture
def server(make_server):
    return make_server()


@pytest.fixture
def admin(server):
    return server.api(server.token("admin"))


@pytest.fixture
def writer(server):
    return server.api(server.token("writer"))


@pytest.fixture
def reader(server):
    return server.api(server.token("reader"))


@pytest.fixture
def anon(server):
    return server.api(None)
