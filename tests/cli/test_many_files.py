"""Many files (issue 18): the file-count cap is the config's max_files
(default 200,000), refused past it with exit 1 and a message giving the count
found, the limit and the key; archives are read up to a fixed hard ceiling
whatever the cap, so lowering it never makes a store's own archives unreadable."""
import json
import os

import pytest

from snaplib import tree, tree_diff


def cfg(tmp_path, doc):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(doc))
    return str(path)


def add_files(ss, n, start=0):
    for i in range(start, start + n):
        with open(os.path.join(ss.root, "state", "fill_%06d.json" % i), "w") as f:
            f.write('{"fill":%d}\n' % i)


def captured(ss, snap):
    return sum(1 for f in snap["files"] if f["path"].startswith("state/fill_"))


def test_the_cap_message_gives_the_count_the_limit_and_the_key(ss, tmp_path):
    ss.create("base")
    before = tree(ss.store)
    add_files(ss, 40)
    rc, out, err = ss.run("--config", cfg(tmp_path, {"max_files": 25}), "create", "--name", "many")
    assert rc == 1, (rc, out, err)
    assert out == "" and len(err.splitlines()) == 1, err
    # The root's default include set holds the 40 fills and the generated state files.
    total = int(err.split("statesnap: ")[1].split(" files match")[0])
    assert total >= 40, err
    assert "more than the 25 one snapshot may hold (max_files)" in err, err
    assert 'raise "max_files" in the config (at most 250000)' in err, err
    after = tree(ss.store)
    assert after == before, tree_diff(before, after)


def test_the_cap_as_json_is_a_problem_with_status_413(ss, tmp_path):
    add_files(ss, 10)
    rc, out, err = ss.run("--config", cfg(tmp_path, {"max_files": 5}), "--json", "create", "--name", "many")
    assert rc == 1, (rc, out, err)
    doc = json.loads(out)
    assert doc["status"] == 413 and "max_files" in doc["detail"], doc


def test_exactly_the_cap_is_taken(ss, tmp_path):
    add_files(ss, 10)
    base = ss.create("probe")
    n = len([f for f in base["files"] if f["path"] != "env/.env.masked"])
    path = cfg(tmp_path, {"max_files": n})
    rc, out, err = ss.run("--config", path, "create", "--name", "at-cap", "--json")
    assert rc == 0, err
    rc, out, err = ss.run("--config", cfg(tmp_path, {"max_files": n - 1}), "create", "--name", "over")
    assert rc == 1 and "%d files match" % n in err and "more than the %d " % (n - 1) in err, err


def test_the_default_cap_takes_more_than_the_old_10000(ss):
    add_files(ss, 10_001)
    snap = ss.create("many")
    assert captured(ss, snap) == 10_001
    rc, out, err = ss.run("verify", "many")
    assert rc == 0, (out, err)


def test_a_lowered_cap_still_reads_what_the_store_wrote(ss, tmp_path):
    add_files(ss, 30)
    ss.create("thirty", "--label", "k=v")
    low = cfg(tmp_path, {"max_files": 3})
    for args in (("verify", "thirty"), ("show", "thirty"),
                 ("restore", "thirty", "--target", str(tmp_path / "elsewhere"), "--yes")):
        rc, out, err = ss.run("--config", low, *args)
        assert rc == 0, (args, out, err)
    assert len(os.listdir(tmp_path / "elsewhere" / "state")) >= 30


@pytest.mark.parametrize("value", [0, -1, 250_001, "100", 1.5, True])
def test_max_files_must_be_a_whole_number_in_range(ss, tmp_path, value):
    rc, out, err = ss.run("--config", cfg(tmp_path, {"max_files": value}), "create", "--name", "x")
    assert rc == 2 and '"max_files" must be an integer from 1 to 250000' in err, (rc, err)
    assert not os.path.exists(ss.archive("x"))
