"""Reliability suite: hostile archives, hostile HTTP, a full disk, load and
secrets. It reuses the API suite's harness (tests/api: apilib.Server and the
make_server/server/admin/... fixtures) and the CLI suite's (tests/cli: snaplib)."""
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
for sub in ("api", "cli", "fixtures"):
    p = os.path.join(TESTS, sub)
    if p not in sys.path:
        sys.path.insert(0, p)

# tests/api/conftest.py's fixtures (template_root, root, make_server, server,
# admin, writer, reader, anon), loaded under a module name of their own and
# re-exported here, where pytest finds them.
_spec = importlib.util.spec_from_file_location("statesnap_api_fixtures",
                                               os.path.join(TESTS, "api", "conftest.py"))
_api = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_api)
for _name in ("statesnap_bin", "template_root", "root", "make_server", "server", "admin", "writer",
              "reader", "anon"):
    globals()[_name] = getattr(_api, _name)

import pytest  # noqa: E402

import apilib  # noqa: E402
import rellib  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def slow_client(tmp_path_factory):
    """A server with one slow client on it, started with the session: the
    client waits out HTTP_IDLE_TIMEOUT (a request head that never ends is
    silence before a request) while the other tests run, and
    test_slow_client.py checks the outcome at the end."""
    work = tmp_path_factory.mktemp("slow-client")
    root = work / "root"
    apilib.make_state(root, "--seed", "5", "--chain-lines", "50")
    s = apilib.Server(work, root, apilib.new_tokens())
    s.start()
    c = rellib.SlowClient(s.port, rellib.http_constant("HTTP_IDLE_TIMEOUT"))
    c.server = s
    c.start()
    yield c
    c.stop.set()
    c.join(30)
    assert s.stop() == 0, s.log_text()[-3000:]
