"""Issue #16 items 7, 14, 15 (CLI): a future created_at, the reserved name
"latest", and labels or paths that could drive or deceive a terminal."""
import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures"))
import ziptools  # noqa: E402



def store_key(ss):
    """The store's own signing key: these archives are signed as the store's
    own would be, so only the rule under test can refuse them."""
    return os.path.join(ss.store, "signing_key.pem")

def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def src_bytes(ss):
    ss.create("src")
    with open(ss.archive("src"), "rb") as f:
        return f.read()


def write(ss, name, data):
    path = os.path.join(ss.tmp, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


# ---- item 7: created_at in the future

def test_import_refuses_created_at_in_the_future(ss):
    data = src_bytes(ss)
    path = write(ss, "future.zip", ziptools.rebuild(data, sign_key=store_key(ss), name="future",
                                                     update={"created_at": "2099-01-01T00:00:00Z"}))
    rc, out, err = ss.run("import", path)
    assert rc == 1 and "future" in err and "2099-01-01T00:00:00Z" in err, (rc, out, err)
    assert ss.names() == ["src"]
    # reindex does not adopt it either
    os.rename(path, ss.archive("future"))
    rep = ss.json("reindex")
    assert [s["file"] for s in rep["skipped"]] == ["future.zip"], rep
    assert ss.names() == ["src"]


def test_import_accepts_a_little_clock_skew(ss):
    data = src_bytes(ss)
    ahead = iso(int(time.time()) + 60)
    path = write(ss, "ahead.zip", ziptools.rebuild(data, sign_key=store_key(ss), name="ahead", update={"created_at": ahead}))
    snap = ss.json("import", path)
    assert snap["name"] == "ahead" and snap["created_at"] == ahead


# ---- item 14: "latest" is reserved

def test_latest_is_a_reserved_name(ss):
    rc, out, err = ss.run("create", "--name", "latest")
    assert rc == 2 and "reserved" in err, (rc, out, err)
    assert not os.path.exists(ss.archive("latest"))
    ss.create("Latest")   # only the exact word


def test_import_and_reindex_refuse_a_manifest_named_latest(ss):
    data = src_bytes(ss)
    path = write(ss, "l.zip", ziptools.rebuild(data, sign_key=store_key(ss), name="latest"))
    rc, out, err = ss.run("import", path)
    assert rc == 1 and "reserved" in err, (rc, out, err)
    os.rename(path, ss.archive("latest"))
    rep = ss.json("reindex")
    assert [s["file"] for s in rep["skipped"]] == ["latest.zip"], rep
    assert "reserved" in rep["skipped"][0]["problem"]
    assert ss.names() == ["src"]


# ---- item 15: labels and terminal output

BAD_LABELS = ["\u009b31mred", "pay\u202eKCATTA", "a\u2066b\u2069", "x\u200fy", "\u0085"]


def test_labels_refuse_c1_and_bidi_characters(ss):
    for v in BAD_LABELS:
        rc, out, err = ss.run("create", "--name", "l1", "--label", "note=" + v)
        assert rc == 2 and "label" in err, (repr(v), rc, out, err)
        assert ss.run("list")[0] == 0
    assert not os.path.exists(ss.archive("l1"))
    snap = ss.create("ok", "--label", "note=café ✓")
    assert snap["labels"] == {"note": "café ✓"}
    assert ss.json("show", "ok")["labels"] == {"note": "café ✓"}


def test_import_refuses_bidi_labels_in_the_manifest(ss):
    data = src_bytes(ss)
    path = write(ss, "lab.zip", ziptools.rebuild(data, sign_key=store_key(ss), name="lab", update={"labels": {"r": "a\u202eb"}}))
    rc, out, err = ss.run("import", path)
    assert rc == 1 and "label" in err, (rc, out, err)
    assert ss.names() == ["src"]


def test_text_output_escapes_what_would_drive_a_terminal(ss):
    evil = "evil\u202egnp.json"
    with open(os.path.join(ss.root, "state", evil), "w") as f:
        f.write("{}\n")
    out = ss.ok("create", "--name", "esc")
    assert "\u202e" not in out and "state/evil\\u202egnp.json" in out, out
    # An imported manifest's free-text fields, shown in list and show.
    with open(ss.archive("esc"), "rb") as f:
        data = f.read()
    path = write(ss, "imp.zip", ziptools.rebuild(data, sign_key=store_key(ss), name="imp", update={
        "version": "1.0\u009b31m", "host": "h\u2067x", "created_by": "cli:\u202ebob"}))
    ss.ok("import", path)
    # A label that got into the catalog before the rule (an older version).
    con = sqlite3.connect(os.path.join(ss.store, "catalog.db"))
    con.execute("UPDATE snapshots SET labels = ? WHERE name = 'esc'", ('{"note":"\u009b2J\u2067x"}',))
    con.commit()
    con.close()
    show, show_imp, lst = ss.ok("show", "esc"), ss.ok("show", "imp"), ss.ok("list")
    for text in (show, show_imp, lst):
        assert not any(c in text for c in "\u009b\u202e\u2067"), repr(text)
    assert "note=\\u009b2J\\u2067x" in show, show
    assert "state/evil\\u202egnp.json" in show
    assert "1.0\\u009b31m" in lst and "1.0\\u009b31m" in show_imp, lst
    assert "h\\u2067x" in show_imp and "cli:\\u202ebob" in show_imp, show_imp
    # The table still lines up: every row as wide as the header.
    rows = [x for x in lst.splitlines() if x.startswith("|")]
    assert len({len(x) for x in rows}) == 1, lst
    diff = ss.ok("diff", "--from", "esc", "--to", "live")
    assert "\u202e" not in diff


# ---- item 6: commented-out assignments in .env

OLD_KEY = "sk_live_51HxQ2eLkdIwHu7ixV0gQ3sT"


def test_commented_out_assignments_are_masked(ss):
    env = os.path.join(ss.root, ".env")
    with open(env) as f:
        text = f.read()
    with open(env, "w") as f:
        f.write("#BROKER_API_KEY_OLD=%s\n# export DB_PASSWORD_2023 = 'winter2023!'\n"
                "# rotate keys monthly\n# old key %s revoked\n%s" % (OLD_KEY, OLD_KEY, text))
    ss.create("c1")
    masked = ziptools.entries(open(ss.archive("c1"), "rb").read())["env/.env.masked"].decode()
    assert OLD_KEY not in masked and "winter2023" not in masked, masked
    assert masked.startswith("#BROKER_API_KEY_OLD=********\n# export DB_PASSWORD_2023=********\n"
                             "# rotate keys monthly\n"
                             "# statesnap: comment removed (it may hold a secret)\n"), masked
    assert "BROKER_API_KEY_OLD" not in ss.json("show", "c1")["manifest"]["env_keys"]
