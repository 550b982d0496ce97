"""Dockerfile, checked without a Docker daemon (none runs here): its structure
(multi-stage on debian:bookworm-slim, the build stage runs scripts/build-release.sh,
non-root USER, HEALTHCHECK, EXPOSE, VOLUMEs, no secrets), its inputs (every COPY
source exists, every source directory of the Makefile is copied), its runtime
stage (the packages hold every shared library the release binary needs), and
its command line, run on this host (Debian 12, the image's base) with the
image's paths mapped into a temp directory."""
import json
import os
import re
import shlex
import shutil
import subprocess
import time

import pytest

import opslib

SECRET_WORDS = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|PRIVATE|CREDENTIAL|API_?KEY|ACCESS_?KEY", re.I)


@pytest.fixture(scope="module")
def stages():
    s = opslib.dockerfile_stages()
    assert len(s) >= 2, "not multi-stage"
    return s


@pytest.fixture(scope="module")
def final(stages):
    return stages[-1]


def test_stages_are_debian_bookworm_slim(stages):
    assert all(s.base == "debian:bookworm-slim" for s in stages), [s.base for s in stages]
    assert stages[0].name == "build"


def test_build_stage_runs_the_release_script(stages):
    runs = " ".join(stages[0].all("RUN"))
    assert re.search(r"(^|\s|&&\s*)scripts/build-release\.sh\b", runs), runs
    # ... and ships what that script produced
    copies = [a for a in stages[-1].all("COPY") if a.startswith("--from=build")]
    src = [shlex.split(a)[1] for a in copies]
    out = re.search(r"scripts/build-release\.sh\s+(\S+)", runs)
    outdir = out.group(1) if out and not out.group(1).startswith("&") else "build/release"
    workdir = stages[0].last("WORKDIR")
    assert os.path.join(workdir, outdir, "statesnap") in src, (src, workdir, outdir)


def test_build_stage_copies_every_source_directory(stages):
    copied = set()
    for a in stages[0].all("COPY"):
        parts = [p for p in shlex.split(a) if not p.startswith("--")]
        copied.update(p.rstrip("/") for p in parts[:-1])
    need = set(opslib.makefile_source_dirs()) | {"Makefile", "scripts"}
    assert need <= copied, "not copied into the build stage: %s" % sorted(need - copied)


def test_build_stage_builds_from_exactly_what_it_copies(stages, tmp_path):
    # The build stage replayed here (Debian 12 is its base): the files its COPY
    # lines bring, in a fresh directory, then its RUN line that builds. A source
    # the build needs but the Dockerfile does not copy fails here, not in CI's
    # first docker build. Package-installing RUN lines are not replayed.
    build = stages[0]
    workdir = None
    ran = False
    for instr, args in build.instructions:
        if instr == "WORKDIR":
            workdir = tmp_path / args.lstrip("/")
            workdir.mkdir(parents=True, exist_ok=True)
        elif instr == "COPY":
            parts = [p for p in shlex.split(args) if not p.startswith("--")]
            dst = workdir / parts[-1]
            for src in parts[:-1]:
                here = os.path.join(opslib.REPO, src)
                if os.path.isdir(here):    # Docker copies a directory's contents
                    shutil.copytree(here, dst, dirs_exist_ok=True,
                                    ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    target = dst / os.path.basename(src) if parts[-1].endswith("/") else dst
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(here, target)
        elif instr == "RUN" and "build-release.sh" in args:
            r = opslib.run(["/bin/sh", "-c", args], cwd=workdir)
            assert r.returncode == 0, "the build stage's RUN failed:\n%s\n%s" % (r.stdout[-3000:], r.stderr[-3000:])
            assert re.search(r"^statesnap \S+$", r.stdout, re.M), r.stdout[-500:]
            ran = True
    assert ran, "no RUN line with scripts/build-release.sh"
    shipped = [shlex.split(a)[1] for a in stages[-1].all("COPY") if a.startswith("--from=build")]
    for path in shipped:
        assert (tmp_path / path.lstrip("/")).is_file(), path


def test_every_copy_source_exists():
    for st in opslib.dockerfile_stages():
        for a in st.all("COPY") + st.all("ADD"):
            parts = shlex.split(a)
            if any(p.startswith("--from") for p in parts):
                continue
            for src in [p for p in parts if not p.startswith("--")][:-1]:
                assert os.path.exists(os.path.join(opslib.REPO, src)), src


def test_runs_as_a_non_root_user(final):
    user = final.last("USER")
    assert user, "no USER in the runtime stage"
    assert user.split(":")[0] not in ("root", "0"), user
    # the user is created in the image, not assumed
    assert re.search(r"useradd\b.*\b%s\b" % re.escape(user.split(":")[0]), " ".join(final.all("RUN")))


def test_exposes_the_api_port_and_declares_volumes(final):
    assert "8080" in final.last("EXPOSE").split()
    vols = json.loads(final.last("VOLUME"))
    env = {}
    for e in final.all("ENV"):
        env.update(opslib.env_pairs(e))
    assert env["STATESNAP_STORE"] in vols and env["STATESNAP_ROOT"] in vols, (vols, env)
    cmd = opslib.exec_form(final.last("CMD"))
    assert "0.0.0.0:8080" in cmd


def test_healthcheck_uses_statesnap_healthcheck(final):
    hc = final.last("HEALTHCHECK")
    assert hc and "CMD" in hc
    argv = opslib.exec_form(hc.split("CMD", 1)[1])
    assert argv[:2] == ["statesnap", "healthcheck"], argv
    assert re.search(r"http://127\.0\.0\.1:8080/(readyz|healthz)", " ".join(argv))


def test_no_secrets_baked_in(stages):
    for st in stages:
        for instr in ("ENV", "ARG", "LABEL"):
            for a in st.all(instr):
                assert not SECRET_WORDS.search(a), "%s %s" % (instr, a)
        for a in st.all("COPY") + st.all("ADD"):
            for p in shlex.split(a):
                assert not re.search(r"(^|/)(\.env|statesnap\.json|.*\.pem|.*\.key)$", p), a
    text = opslib.read(opslib.DOCKERFILE)
    assert not re.search(r"\b[0-9a-f]{64}\b", text), "a token hash in the Dockerfile"


def test_runtime_packages_provide_every_shared_library(final, release_bin):
    needed = re.findall(r"Shared library: \[([^\]]+)\]", opslib.run(["readelf", "-dW", release_bin]).stdout)
    assert needed
    installs = " ".join(final.all("RUN"))
    cache = opslib.run(["/sbin/ldconfig", "-p"]).stdout
    for lib in needed:
        m = re.search(r"^\s*%s \(.*\) => (\S+)$" % re.escape(lib), cache, re.M)
        assert m, lib
        r = opslib.run(["dpkg", "-S", os.path.realpath(m.group(1))])
        if r.returncode != 0:
            r = opslib.run(["dpkg", "-S", m.group(1)])
        pkg = r.stdout.split(":")[0]
        if pkg in ("libc6",):          # part of every Debian image
            continue
        assert re.search(r"\b%s\b" % re.escape(pkg), installs), \
            "runtime stage does not install %s (for %s)" % (pkg, lib)


# ---------------------------------------------------------------- the container's command, here

class Container:
    """The runtime stage's ENTRYPOINT + CMD, ENV and WORKDIR with image paths
    mapped into a temp directory and the release binary as `statesnap`."""

    def __init__(self, final, tmp, release_bin, root):
        self.map = {}
        for a in final.all("COPY"):
            parts = [p for p in shlex.split(a) if not p.startswith("--")]
            if not a.startswith("--from") and parts[0].rstrip("/") == "static":
                self.map[parts[-1].rstrip("/")] = os.path.join(opslib.REPO, "static")
        env = {}
        for e in final.all("ENV"):
            env.update(opslib.env_pairs(e))
        self.map[env["STATESNAP_STORE"]] = str(tmp / "store")
        self.map[env["STATESNAP_ROOT"]] = root
        self.workdir = tmp / "workdir"
        self.workdir.mkdir()
        self.env = {k: self.path(v) for k, v in env.items()}
        self.port_file = tmp / "port"
        argv = opslib.exec_form(final.last("ENTRYPOINT")) + opslib.exec_form(final.last("CMD"))
        assert argv[0] == "statesnap"
        self.argv = [release_bin] + [self.path(a).replace(":8080", ":0") for a in argv[1:]] + \
            ["--port-file", str(self.port_file)]
        hc = final.last("HEALTHCHECK").split("CMD", 1)[1]
        self.health = [release_bin] + opslib.exec_form(hc)[1:]
        self.proc = None
        self.port = None

    def path(self, value):
        for image_path, here in self.map.items():
            if value == image_path or value.startswith(image_path + "/"):
                return here + value[len(image_path):]
        return value

    def run(self, extra_env):
        env = dict(os.environ, **self.env, **extra_env)
        for k in [k for k in env if k.startswith("STATESNAP_TOKEN_")]:
            if k not in extra_env:
                del env[k]
        self.proc = subprocess.Popen(self.argv, cwd=self.workdir, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 15
        while time.time() < deadline and self.proc.poll() is None:
            if self.port_file.exists() and self.port_file.read_text().strip():
                self.port = int(self.port_file.read_text())
                return self
            time.sleep(0.05)
        return self

    def healthcheck(self):
        argv = [a.replace("127.0.0.1:8080", "127.0.0.1:%d" % self.port) for a in self.health]
        return opslib.run(argv, cwd=self.workdir, env=dict(os.environ, **self.env))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)
        return self.proc.returncode


def test_container_command_refuses_to_listen_without_tokens(final, tmp_path, release_bin, root):
    c = Container(final, tmp_path, release_bin, root).run({})
    out, _ = c.proc.communicate(timeout=15)
    assert c.proc.returncode == 2, out
    assert "token" in out.lower() and "loopback" in out.lower(), out


def test_container_command_serves_and_healthcheck_follows_readiness(final, tmp_path, release_bin, root):
    import apilib
    token = "ci-" + os.urandom(16).hex()
    c = Container(final, tmp_path, release_bin, root).run({"STATESNAP_TOKEN_WRITE": token})
    try:
        assert c.port, "the container command did not start: %s" % (c.proc.stdout.read() if c.proc.poll() is not None else "")
        # A fresh store: not ready, so the HEALTHCHECK reports unhealthy.
        r = c.healthcheck()
        assert r.returncode == 1 and "503" in r.stderr, (r.returncode, r.stderr)
        api = apilib.Api("http://127.0.0.1:%d" % c.port, token)
        api.create("first")
        r = c.healthcheck()
        assert r.returncode == 0, r.stderr
        # the dashboard is found where the image puts it
        api.get("/", expect=200)
        # the token really is required on the wildcard address
        api.with_token(None).get("/api/v1/snapshots", expect=401)
        assert os.path.exists(os.path.join(c.env["STATESNAP_STORE"], "first.zip"))
    finally:
        assert c.stop() == 0


def test_readme_docker_run_matches_the_image(final):
    blocks = [b for lang, b in opslib.readme_blocks("sh") if "docker run" in b]
    assert len(blocks) == 1, "README.md needs one sh block with the docker run line"
    argv = shlex.split(blocks[0].split("docker run", 1)[1].split("\n\n")[0].replace("\\\n", " ")
                       .split("\n")[0])
    vols = set(json.loads(final.last("VOLUME")))
    config = os.path.join(final.last("WORKDIR"), "statesnap.json")
    mounts = [argv[i + 1] for i, a in enumerate(argv) if a == "-v"]
    assert mounts
    for m in mounts:
        inside = m.split(":")[1]
        assert inside in vols or inside == config, "README mounts %s, not a VOLUME of the image" % inside
    assert vols <= {m.split(":")[1] for m in mounts}, "README leaves a volume unmounted"
    ports = [argv[i + 1] for i, a in enumerate(argv) if a == "-p"]
    assert ports and all(p.split(":")[-1] in final.last("EXPOSE").split() for p in ports)
    assert "--user" in argv and "--read-only" in argv and "--cap-drop" in argv
