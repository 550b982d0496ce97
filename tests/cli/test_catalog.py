"""list (the seed's SNAPSHOTS table, filters, pages), delete, and reindex
rebuilding the catalog from the archives alone (issue 2, Done means 8)."""
import json
import os
import re
import time

import pytest

from snaplib import human_size_ok, make_state, read_zip, tree

KEYS = ["name", "created_at", "size", "file_count", "version", "git_commit", "archive_sha256", "labels",
        "pinned", "positions_count", "host", "created_by"]


@pytest.fixture
def three(ss):
    """Three snapshots a second apart, oldest first, like the seed's table."""
    ss.create("before_update", "--version-tag", "1.1.0")
    time.sleep(1.1)
    make_state(ss.root, "--advance", "30", "--seed", "42")
    ss.create("daily_backup", "--label", "reason=daily", "--label", "pipeline=123")
    time.sleep(1.1)
    make_state(ss.root, "--advance", "30", "--seed", "42")
    ss.create("pre_live_v1", "--pin", "--label", "reason=pre-deploy")
    return ss


def parse_table(out):
    lines = out.rstrip("\n").split("\n")
    assert lines[0] == "SNAPSHOTS" and lines[1] == "=========", out
    head = [c.strip() for c in lines[2].strip("|").split("|")]
    assert head == ["Name", "Date", "Size", "Version"], lines[2]
    assert re.fullmatch(r"\|(-+\|){4}", lines[3]), lines[3]
    rows, i = [], 4
    while i < len(lines) and lines[i].startswith("|"):
        rows.append([c.strip() for c in lines[i].strip("|").split("|")])
        i += 1
    table = lines[2:i]
    # Aligned: every table line has the same length and its bars in the same columns.
    bars = {tuple(j for j, ch in enumerate(t) if ch == "|") for t in table}
    assert len(bars) == 1 and len({len(t) for t in table}) == 1, "\n".join(table)
    for t in table[:1] + table[2:]:
        for cell in t.split("|")[1:-1]:
            assert cell.startswith(" ") and cell.endswith(" ") and cell.strip(), repr(t)
    assert lines[i:i + 1] == [""], out
    m = re.fullmatch(r"Total: (\d+) snapshots?, (.+)", lines[i + 1])
    assert m and lines[i + 2:] == [], out
    return rows, int(m.group(1)), m.group(2)


def test_list_table_reproduces_the_seed(three):
    rc, out, err = three.run("list")
    assert rc == 0, err
    rows, count, total = parse_table(out)
    docs = three.json("list")["snapshots"]
    assert [r[0] for r in rows] == ["pre_live_v1", "daily_backup", "before_update"]
    assert [d["name"] for d in docs] == [r[0] for r in rows]
    for row, doc in zip(rows, docs):
        assert row[1] == doc["created_at"][:10]
        assert re.fullmatch(r"\d+(\.\d+)?(B|KB|MB|GB)", row[2]) and human_size_ok(row[2], doc["size"]), row
        assert row[3] == doc["version"]
    assert [r[3] for r in rows] == ["1.2.0", "1.2.0", "1.1.0"]
    assert count == 3
    sizes = [os.path.getsize(three.archive(r[0])) for r in rows]
    assert human_size_ok(total, sum(sizes)), (total, sizes)


SEED_HEADER = ["SNAPSHOTS",
               "=========",
               "| Name          | Date       | Size  | Version |",
               "|---------------|------------|-------|---------|"]


def test_list_reproduces_the_seed_layout_exactly(ss):
    """The seed's three snapshots at the seed's dates (pinned test clock), with
    archives of a few MB so every column has the seed's width."""
    make_state(ss.root, "--chain-bytes", "7600000")
    ss.create("before_update", "--version-tag", "1.1.0", now=1734685200)   # 2024-12-20T09:00:00Z
    make_state(ss.root, "--advance", "300", "--seed", "42")
    ss.create("daily_backup", now=1735030800)                              # 2024-12-24T09:00:00Z
    make_state(ss.root, "--advance", "300", "--seed", "42")
    ss.create("pre_live_v1", now=1735137000)                               # 2024-12-25T14:30:00Z
    out = ss.ok("list")
    lines = out.rstrip("\n").split("\n")
    assert lines[:4] == SEED_HEADER, out
    sizes = {s["name"]: s["size"] for s in ss.json("list")["snapshots"]}
    want = [("pre_live_v1", "2024-12-25", "1.2.0"), ("daily_backup", "2024-12-24", "1.2.0"),
            ("before_update", "2024-12-20", "1.1.0")]
    for line, (name, date, version) in zip(lines[4:7], want):
        size = line.split("|")[3].strip()
        assert re.fullmatch(r"\d\.\dMB", size) and human_size_ok(size, sizes[name]), (line, sizes[name])
        assert line == "| %-13s | %s | %s | %-7s |" % (name, date, size, version)
    assert lines[7] == ""
    m = re.fullmatch(r"Total: 3 snapshots, (\d+\.\d) MB", lines[8])
    assert m and human_size_ok(m.group(1) + " MB", sum(sizes.values())), lines[8]
    assert len(lines) == 9, out


def test_list_json_totals_and_fields(three):
    page = three.json("list")
    assert page["total_count"] == 3
    assert page["total_bytes"] == sum(os.path.getsize(three.archive(s["name"])) for s in page["snapshots"])
    assert page["next_cursor"] is None
    by = {s["name"]: s for s in page["snapshots"]}
    assert by["pre_live_v1"]["pinned"] is True and by["daily_backup"]["pinned"] is False
    assert by["daily_backup"]["labels"] == {"reason": "daily", "pipeline": "123"}
    for s in page["snapshots"]:
        assert s["file_count"] == 9 and s["location"].endswith(s["name"] + ".zip")


def test_list_filters_and_pages(three):
    assert [s["name"] for s in three.json("list", "--prefix", "pre_")["snapshots"]] == ["pre_live_v1"]
    assert [s["name"] for s in three.json("list", "--label", "reason=daily")["snapshots"]] == ["daily_backup"]
    assert three.json("list", "--label", "reason=none")["snapshots"] == []
    seen, cursor, pages = [], None, 0
    while True:
        page = three.json("list", "--limit", "2", *(["--cursor", cursor] if cursor else []))
        assert len(page["snapshots"]) <= 2 and page["total_count"] == 3
        seen += [s["name"] for s in page["snapshots"]]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
        assert pages < 5
    assert seen == ["pre_live_v1", "daily_backup", "before_update"] and pages == 2


def test_list_empty_store(ss):
    ss.ok("init")
    rc, out, err = ss.run("list")
    assert rc == 0, err
    rows, count, _ = parse_table(out)
    assert rows == [] and count == 0
    assert ss.json("list")["snapshots"] == []


def test_show_includes_manifest(three):
    doc = three.json("show", "daily_backup")
    man = json.loads(read_zip(three.archive("daily_backup"))["manifest.json"])
    assert doc["manifest"] == man
    assert doc["archive_sha256"] == three.json("list", "--prefix", "daily")["snapshots"][0]["archive_sha256"]
    rc, out, err = three.run("show", "--name", "daily_backup")
    assert rc == 0 and "daily_backup" in out and "state/positions.json" in out, err


def test_delete_and_pinned_needs_force(three):
    out = three.ok("delete", "--name", "daily_backup")
    assert "daily_backup" in out
    assert not os.path.exists(three.archive("daily_backup"))
    assert three.names() == ["pre_live_v1", "before_update"]
    rc, out, err = three.run("delete", "--name", "pre_live_v1")
    assert rc == 1 and err.startswith("statesnap: ") and len(err.splitlines()) == 1, (rc, err)
    assert os.path.isfile(three.archive("pre_live_v1")) and "pre_live_v1" in three.names()
    three.ok("delete", "pre_live_v1", "--force")
    assert not os.path.exists(three.archive("pre_live_v1"))
    assert three.names() == ["before_update"]
    rc, _, err = three.run("verify", "--all")
    assert rc == 0, err


def test_deleted_name_can_be_reused(three):
    three.ok("delete", "--name", "daily_backup")
    assert three.create("daily_backup")["name"] == "daily_backup"
    rc, _, err = three.run("verify", "daily_backup")
    assert rc == 0, err


def snapshot_rows(ss):
    return [{k: s.get(k) for k in KEYS} for s in ss.json("list")["snapshots"]]


def remove_catalog(store):
    for suffix in ("", "-wal", "-shm", "-journal"):
        p = os.path.join(store, "catalog.db" + suffix)
        if os.path.exists(p):
            os.remove(p)


def test_reindex_rebuilds_a_deleted_catalog(three):
    rows_before = snapshot_rows(three)
    human_before = three.ok("list")
    shows_before = {r["name"]: three.json("show", r["name"])["files"] for r in rows_before}
    remove_catalog(three.store)
    rc, out, err = three.run("--json", "reindex")
    assert rc == 0, err
    assert json.loads(out)["indexed"] == 3
    assert snapshot_rows(three) == rows_before
    assert three.ok("list") == human_before
    for name, files in shows_before.items():
        assert three.json("show", name)["files"] == files
    rc, _, err = three.run("verify", "--all")
    assert rc == 0, err
    rc, _, err = three.run("delete", "--name", "pre_live_v1")
    assert rc == 1, "pin was lost by reindex"


def test_reindex_keeps_the_order_of_snapshots_taken_in_the_same_second(ss):
    """created_at has one-second resolution; snapshots made in the same second
    (a CI create and a safety snapshot) must list in the same order after the
    catalog is rebuilt as before."""
    for name in ("s_c", "s_a", "s_e", "s_b", "s_d"):
        ss.create(name, now=1735137000)
    before = ss.names()
    remove_catalog(ss.store)
    ss.ok("reindex")
    assert ss.names() == before
    ss.ok("reindex")
    assert ss.names() == before


def test_reindex_is_idempotent_and_skips_junk(three):
    rows_before = snapshot_rows(three)
    with open(os.path.join(three.store, "junk.zip"), "wb") as f:
        f.write(b"this is not a zip archive\n")
    rc, out, err = three.run("reindex")
    assert "junk.zip" in out + err
    assert snapshot_rows(three) == rows_before
    remove_catalog(three.store)
    three.run("reindex")
    assert snapshot_rows(three) == rows_before
    assert os.path.isfile(os.path.join(three.store, "junk.zip")), "reindex must not delete what it cannot read"


def test_store_is_idle_after_commands(three):
    three.ok("list")
    names = set(os.listdir(three.store))
    assert {"catalog.db", ".lock", ".secret", ".work"} <= names
    assert not {"catalog.db-wal", "catalog.db-shm"} & names
    assert os.listdir(os.path.join(three.store, ".work")) == []
    assert sorted(n[:-4] for n in names if n.endswith(".zip")) == sorted(three.names())


def test_version_command(ss):
    rc, out, err = ss.run("version")
    assert rc == 0, err
    assert re.search(r"\b\d+\.\d+\.\d+\b", out), out
    doc = ss.json("version")
    assert isinstance(doc, dict) and doc


def test_tree_helper_sees_store_files(three):
    t = tree(three.store)
    assert "pre_live_v1.zip" in t and t["pre_live_v1.zip"][:2] == b"PK"
