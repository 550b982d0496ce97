"""The release build (scripts/build-release.sh): hardened as claimed, checked on
the binary itself with readelf, free of test hooks, and wired into CI."""
import os
import re

import opslib


def readelf(*args):
    r = opslib.run(["readelf", "-W"] + list(args))
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_build_release_script_builds_and_is_incremental(release_bin):
    # CI and the Dockerfile both call it, and the API suite runs on its output.
    # Run it (a source may have changed since the fixture built), then again:
    # with nothing changed the second run must be a no-op that still succeeds.
    r = opslib.run([opslib.BUILD_RELEASE], cwd=opslib.REPO)
    assert r.returncode == 0, r.stdout + r.stderr
    r = opslib.run([opslib.BUILD_RELEASE], cwd=opslib.REPO)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "build-release: %s" % release_bin in r.stdout
    assert " -c " not in r.stdout, "nothing changed, yet objects were recompiled:\n" + r.stdout


def test_release_uses_the_hardening_flags_and_the_makefile_flags():
    script = opslib.read(opslib.BUILD_RELEASE)
    for flag in ("-O2", "-D_FORTIFY_SOURCE=2", "-fstack-protector-strong", "-fPIE", "-pie",
                 "-Wl,-z,relro,-z,now", "$(CSTD)", "$(WARN)"):
        assert flag in script, flag
    # $(CSTD) and $(WARN) come from the Makefile: they must still say what the project builds with.
    mk = opslib.read(os.path.join(opslib.REPO, "Makefile"))
    assert re.search(r"^CSTD\s*:=.*-std=c11.*-D_GNU_SOURCE", mk, re.M)
    assert re.search(r"^WARN\s*:=.*-Wall.*-Wextra.*-Werror", mk, re.M)


def test_release_is_pie(release_bin):
    assert re.search(r"Type:\s+DYN", readelf("-h", release_bin)), "not a position-independent executable"
    assert re.search(r"FLAGS_1\).*\bPIE\b", readelf("-d", release_bin))


def test_release_has_full_relro(release_bin):
    assert re.search(r"^\s*GNU_RELRO\s", readelf("-l", release_bin), re.M), "no GNU_RELRO segment"
    dyn = readelf("-d", release_bin)
    assert re.search(r"\(FLAGS\)\s+.*BIND_NOW", dyn) or re.search(r"\(FLAGS_1\).*\bNOW\b", dyn), \
        "not BIND_NOW (RELRO is partial):\n" + dyn


def test_release_has_stack_protector_and_fortify(release_bin):
    syms = readelf("--dyn-syms", release_bin)
    assert re.search(r"\b__stack_chk_fail\b", syms), "__stack_chk_fail is not referenced"
    chk = sorted(set(re.findall(r"\b(__\w+_chk)@", syms)) - {"__stack_chk_fail"})
    assert chk, "no _FORTIFY_SOURCE *_chk function is referenced"


def test_release_has_no_test_hooks(release_bin):
    # Failpoints and the pinnable clock exist only in build/test: a release
    # binary must not react to STATESNAP_FAILPOINT or STATESNAP_TEST_NOW.
    with open(release_bin, "rb") as f:
        data = f.read()
    for hook in (b"STATESNAP_FAILPOINT", b"STATESNAP_TEST_NOW"):
        assert hook not in data, hook


def test_release_runs_and_reports_its_version(release_bin):
    want = re.search(r'#define STATESNAP_VERSION "([^"]+)"',
                     opslib.read(os.path.join(opslib.REPO, "engine", "engine.h"))).group(1)
    r = opslib.run([release_bin, "version"])
    assert r.returncode == 0 and r.stdout.strip() == "statesnap " + want, r.stdout + r.stderr


def test_ci_runs_the_release_build_and_the_api_suite_on_it():
    # .ci/run -> make test -> tests/run-all.sh -> tests/ops/run.sh, which runs
    # scripts/build-release.sh and tests/api/run.sh on build/release/statesnap.
    assert "make test" in opslib.read(os.path.join(opslib.REPO, ".ci", "run"))
    mk = opslib.read(os.path.join(opslib.REPO, "Makefile"))
    assert re.search(r"^test:.*\n(\t.*\n)*\t.*tests/run-all\.sh", mk, re.M)
    assert re.search(r"external_suite OPS tests/ops/run\.sh",
                     opslib.read(os.path.join(opslib.REPO, "tests", "run-all.sh")))
    ops = opslib.read(os.path.join(opslib.HERE, "run.sh"))
    assert "scripts/build-release.sh" in ops and re.search(r"tests/api/run\.sh\"? \"?\$RELEASE", ops)
