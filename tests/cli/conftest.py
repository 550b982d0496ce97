"""Fixtures for the black-box CLI tests: a generated state root (a git
repository), an empty store, and a runner for the real binary."""
import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import snaplib  # noqa: E402


@pytest.fixture(scope="session")
def statesnap_bin():
    assert os.path.isfile(snaplib.BIN) and os.access(snaplib.BIN, os.X_OK), \
        "statesnap binary %s is missing: build it (make build/test/statesnap) or set STATESNAP_BIN" % snaplib.BIN
    return snaplib.BIN


@pytest.fixture(scope="session")
def template_root(tmp_path_factory):
    """One generated root per session; tests get copies."""
    root = tmp_path_factory.mktemp("template") / "root"
    snaplib.make_state(root, "--git", "--seed", "42")
    return str(root)


@pytest.fixture
def root(template_root, tmp_path):
    dst = tmp_path / "root"
    shutil.copytree(template_root, dst, symlinks=True)
    return str(dst)


@pytest.fixture
def store(tmp_path):
    return str(tmp_path / "store")


@pytest.fixture
def ss(statesnap_bin, root, store, tmp_path):
    """The binary bound to a fresh root copy and a not-yet-created store:
    ss.run(*args, input=None) -> (rc, stdout, stderr)."""
    work = tmp_path / "cwd"
    work.mkdir()
    return snaplib.Statesnap(root, store, work)


@pytest.fixture
def run(ss):
    """run(*args, input=None) -> (rc, stdout, stderr) of `BIN --root ROOT --store STORE ...`."""
    return ss.run
