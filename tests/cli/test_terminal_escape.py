"""Terminal output escapes what could drive or deceive a terminal (issue 20):
C0 controls (ESC), DEL, C1 controls (U+0085, U+009B CSI) as \\xNN / \\uNNNN,
every bidi embedding, override and isolate (U+202A-202E, U+2066-2069), in
label text, names, versions and paths that list, show and the CLI's own
messages print; --json output keeps the exact text (JSON escaping only)."""
import json
import os
import sqlite3
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures"))
import ziptools  # noqa: E402

BIDI = [chr(c) for c in list(range(0x202A, 0x202F)) + list(range(0x2066, 0x206A))]
HOSTILE = ["\x1b[2J", "\x7f", "\x07", "\u0085", "\u009b31m"] + BIDI
RAW = set("\x1b\x7f\x07\u0085\u009b" + "".join(BIDI))


def escaped(ch):
    return "\\x%02x" % ord(ch) if ord(ch) < 0x20 or ord(ch) == 0x7f else "\\u%04x" % ord(ch)


def clean(text):
    bad = [c for c in text if c in RAW]
    assert not bad, "raw %r in terminal output:\n%r" % (bad[:5], text)


def test_labels_and_versions_are_escaped_in_list_and_show(ss):
    ss.create("esc")
    labels = {"k%02d" % i: "v" + s + "w" for i, s in enumerate(HOSTILE)}
    labels["key\u202e"] = "plain"
    # A label that got into the catalog before the rule (or from an older version).
    con = sqlite3.connect(os.path.join(ss.store, "catalog.db"))
    con.execute("UPDATE snapshots SET labels = ?, version = ? WHERE name = 'esc'",
                (json.dumps(labels), "2.0\u202e\x1b[31m\u0085"))
    con.commit()
    con.close()
    show, lst = ss.ok("show", "esc"), ss.ok("list")
    clean(show)
    clean(lst)
    for i, s in enumerate(HOSTILE):
        want = "v" + "".join(escaped(c) if c in RAW else c for c in s) + "w"
        assert ("k%02d=%s" % (i, want)) in show, (want, show)
    assert "key\\u202e=plain" in show, show
    assert "2.0\\u202e\\x1b[31m\\u0085" in lst and "2.0\\u202e\\x1b[31m\\u0085" in show, lst
    rows = [x for x in lst.splitlines() if x.startswith("|")]
    assert len({len(x) for x in rows}) == 1, lst
    # --json is the exact text, JSON-escaped only.
    assert ss.json("show", "esc")["labels"] == labels
    assert ss.json("list")["snapshots"][0]["version"] == "2.0\u202e\x1b[31m\u0085"


def test_the_clis_own_echoes_are_escaped(ss, tmp_path):
    ss.create("a")
    for args in (["\x1b]0;pwned\x07"], ["show", "x\u202ey"], ["list", "--\x1b[31m"],
                 ["create", "--name", "n\u009b2J"], ["offsite", "\u2066bogus"],
                 ["config", "check", str(tmp_path / "no\x1bsuch.json")],
                 ["import", str(tmp_path / "\u202egpj.zip")]):
        rc, out, err = ss.run(*args)
        assert rc != 0, args
        clean(err)
        clean(out)
        assert err.startswith("statesnap: "), (args, err)
    out_path = str(tmp_path / "out\u202e\x1b.zip")
    out = ss.ok("export", "a", "--out", out_path)
    clean(out)
    assert "out\\u202e\\x1b.zip" in out, out
    assert os.path.exists(out_path)
    assert ss.json("export", "a", "--out", out_path + "2")["path"] == out_path + "2"


def test_audit_and_prune_text_is_escaped(ss):
    env = {"USER": "ev\u202eil\x1b[1m"}
    ss.create("a", env=env)
    out = ss.ok("audit")
    clean(out)
    assert "cli:ev\\u202eil\\x1b[1m" in out, out
    assert ss.json("audit")["entries"][-1]["actor"] == "cli:ev\u202eil\x1b[1m"
