"""Disk full: the store on a 2 MB tmpfs. A create that runs out of space fails
with a clear error (CLI exit 1, HTTP 507), leaves nothing behind (no NAME.zip,
.work empty, catalog unchanged), reads keep being served, and the next create
succeeds once space is freed.

Free space is swept from none up to more than a snapshot needs, so the
failure lands at different steps (archive bytes, fsync, catalog commit)."""
import errno
import os
import re
import subprocess

import pytest

import rellib
import snaplib

TMPFS_SIZE = "2m"
SPACE_RE = re.compile(r"no space|disk full|space left|insufficient storage", re.I)
# Free bytes left on the tmpfs before each attempt: from nothing to more than
# one snapshot (~135 kB) needs.
FREE_STEPS = [0, 4096, 16384, 40960, 65536, 98304, 122880, 139264, 147456, 163840, 196608, 262144]


class Disk:
    """A small tmpfs with a filler file that sets how much space is free."""

    def __init__(self, mnt):
        self.mnt = str(mnt)
        self.filler = os.path.join(self.mnt, "filler")

    def free(self):
        st = os.statvfs(self.mnt)
        return st.f_bavail * st.f_frsize

    def leave_free(self, nbytes):
        """Grow or shrink the filler so that about nbytes stay free."""
        if os.path.exists(self.filler):
            os.unlink(self.filler)
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            block = b"\0" * 65536
            while True:
                try:
                    if os.write(fd, block[:4096] if self.free() < len(block) else block) <= 0:
                        break
                except OSError as ex:
                    assert ex.errno == errno.ENOSPC, ex
                    break
        finally:
            os.close(fd)
        # The disk is full; now give back nbytes.
        os.truncate(self.filler, max(0, os.path.getsize(self.filler) - nbytes))
        return self.free()

    def release(self):
        if os.path.exists(self.filler):
            os.unlink(self.filler)


@pytest.fixture
def disk(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root); the disk-full tests did not run")
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + TMPFS_SIZE, "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (%s); the disk-full tests did not run" % r.stderr.strip())
    yield Disk(mnt)
    if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def nothing_partial(store, name, before):
    assert not os.path.exists(os.path.join(store, name + ".zip")), "%s.zip left behind" % name
    work = os.path.join(store, ".work")
    assert not os.path.isdir(work) or os.listdir(work) == [], "left in .work: %s" % os.listdir(work)
    delta = rellib.diff_states(before, rellib.store_state(store))
    assert delta == "", "store changed by a create that failed:\n" + delta


def test_cli_create_on_a_full_disk(disk, root, tmp_path):
    store = os.path.join(disk.mnt, "store")
    ss = snaplib.Statesnap(root, store, tmp_path)
    ss.create("first")
    failed, made, wrong = [], [], []   # every step runs; all that went wrong is reported together
    for free in FREE_STEPS:
        name = "s%d" % free
        left = disk.leave_free(free)
        before = rellib.store_state(store)
        rc, out, err = ss.run("create", "--name", name)
        if rc == 0:
            made.append(name)
            ss.ok("verify", name)
            continue
        failed.append(free)
        lines = [x for x in err.splitlines() if x.strip()]
        if rc != 1 or len(lines) != 1 or not lines[0].startswith("statesnap: "):
            wrong.append("%d bytes free: exit %d, stderr %r" % (left, rc, err))
        elif not SPACE_RE.search(lines[0]):
            wrong.append("%d bytes free: not a disk-full error: %s" % (left, lines[0]))
        try:
            nothing_partial(store, name, before)
        except AssertionError as ex:
            wrong.append("%d bytes free: %s" % (left, ex))
        # Reads are still served with the disk full.
        for args in (["list"], ["show", "first"], ["verify", "first"]):
            rc, out, err = ss.run(*args)
            if rc != 0:
                wrong.append("%d bytes free: %s: exit %d: %s" % (left, " ".join(args), rc, err.strip()))
    assert failed and failed[0] == 0, "no create failed: the disk was never full"
    assert made, "no create fitted even with %d bytes free" % FREE_STEPS[-1]
    disk.release()
    ss.create("after")
    ss.ok("verify", "--all")
    assert sorted(ss.names()) == sorted(["first", "after"] + made)
    assert not wrong, "\n".join(wrong)


def test_api_create_on_a_full_disk_is_507(disk, make_server):
    s = make_server(start=False)
    s.store = os.path.join(disk.mnt, "store")
    s.cmd[s.cmd.index("--store") + 1] = s.store
    s.start()
    writer, reader = s.api(s.token("writer")), s.api(s.token("reader"))
    writer.create("first")
    statuses = []
    for free in FREE_STEPS[:6]:
        name = "h%d" % free
        left = disk.leave_free(free)
        before = rellib.store_state(s.store)
        r = writer.post("/api/v1/snapshots", {"name": name})
        statuses.append(r.status_code)
        if r.status_code == 201:
            reader.post("/api/v1/snapshots/%s/verify" % name, expect=200)
            continue
        assert r.status_code == 507, "create with %d bytes free: %d %s" % (left, r.status_code, r.text)
        doc = r.json()
        assert r.headers["Content-Type"].startswith("application/problem+json")
        assert SPACE_RE.search(doc["detail"]) or SPACE_RE.search(doc["title"]), doc
        nothing_partial(s.store, name, before)
        # Reads keep working on a full disk.
        names = [x["name"] for x in reader.get("/api/v1/snapshots", expect=200).json()["snapshots"]]
        assert "first" in names and name not in names
        reader.get("/api/v1/snapshots/latest", expect=200)
        reader.get("/api/v1/snapshots/first", expect=200)
        reader.get("/api/v1/snapshots/first/archive", expect=200)
        reader.get("/metrics", expect=200)
        reader.get("/healthz", expect=200)
    assert statuses[0] == 507, statuses
    disk.release()
    writer.create("after")
    assert reader.post("/api/v1/snapshots/after/verify", expect=200).json()["ok"] is True
    rc, out, err = s.cli("verify", "--all")
    assert rc == 0, out + err
    metrics = reader.get("/metrics", expect=200).text
    assert re.search(r'statesnap_operations_total\{op="create",result="[a-z_]+"\} [1-9]', metrics)
