"""Shell completion and the man page (issue 20): `statesnap completion bash|zsh`
is generated from the parser's own tables, so every command and every option
is in both scripts and in the man page (scripts/man.sh, help2man); the bash
script really completes, the zsh script parses (`zsh -n`)."""
import os
import re
import shutil
import subprocess
import sys

import pytest

import snaplib
from snaplib import BIN

sys.path.insert(0, os.path.join(snaplib.REPO, "tests", "ops"))
import opslib  # noqa: E402

TABLES = opslib.cli_option_tables()
COMMANDS = opslib.cli_command_table()
ALL_OPTIONS = sorted({o for opts in TABLES.values() for o in opts})


def script(shell):
    r = subprocess.run([BIN, "completion", shell], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    return r.stdout


def test_tables_were_read():
    assert len(COMMANDS) >= 20 and len(ALL_OPTIONS) >= 30, (COMMANDS, ALL_OPTIONS)
    assert {"completion", "help"} <= {c for c, _ in COMMANDS}


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_every_command_and_option_is_in_the_script(shell):
    text = script(shell)
    for command, table in COMMANDS:
        for word in command.split():
            assert re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(word), text), (shell, command)
        for name in TABLES[table]:
            assert "--" + name in text, (shell, command, name)
    for name in TABLES["cli_global_opts"]:
        assert "--" + name in text, (shell, name)
    assert re.search(r"(?<![\w-])serve(?![\w-])", text)
    for name in TABLES["cli_serve_opts"]:
        assert "--" + name in text, (shell, "serve", name)


def complete(words, cword=None, cwd=None):
    """COMPREPLY of the generated bash function for COMP_WORDS=words."""
    cword = len(words) - 1 if cword is None else cword
    arr = " ".join("'%s'" % w.replace("'", "'\\''") for w in words)
    prog = ('source <("$BIN" completion bash) || exit 9\n'
            'COMP_WORDS=(%s); COMP_CWORD=%d; _statesnap\n'
            'printf "%%s\\n" "${COMPREPLY[@]}"\n' % (arr, cword))
    r = subprocess.run(["bash", "-c", prog], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, BIN=BIN), cwd=cwd)
    assert r.returncode == 0, r.stderr
    return sorted(w for w in r.stdout.split("\n") if w)


def test_bash_completion_completes():
    assert complete(["statesnap", "cre"]) == ["create"]
    assert "healthcheck" in complete(["statesnap", "h"]) and "help" in complete(["statesnap", "h"])
    assert complete(["statesnap", "offsite", "s"]) == ["status", "sync"]
    assert complete(["statesnap", "offsite", ""]) == ["fetch", "list", "status", "sync"]
    assert complete(["statesnap", "create", "--la"]) == ["--label"]
    assert complete(["statesnap", "--root", "/tmp", "restore", "--dry"]) == ["--dry-run"]
    assert complete(["statesnap", "audit", "v"]) == ["verify"]
    assert complete(["statesnap", "completion", ""]) == ["bash", "zsh"]
    assert complete(["statesnap", "config", ""]) == ["check"]
    assert "restore" in complete(["statesnap", "help", "res"])
    assert complete(["statesnap", "--js"]) == ["--json"]
    # Global options after the command too, and an option's value is not a command.
    assert "--store" in complete(["statesnap", "list", "--st"])
    assert complete(["statesnap", "serve", "--l"]) == ["--listen"]
    assert sorted(complete(["statesnap", "serve", "--"])) == sorted(
        set("--" + o for o in TABLES["cli_serve_opts"] + TABLES["cli_global_opts"]))
    assert complete(["statesnap", "list", "--limit", ""]) == []
    # Every command's options are offered after it.
    for command, table in COMMANDS:
        got = complete(["statesnap"] + command.split() + ["--"])
        want = ["--" + o for o in TABLES[table] + TABLES["cli_global_opts"]]
        assert sorted(set(want)) == sorted(set(got)), (command, got)


def test_bash_completes_file_arguments(tmp_path):
    (tmp_path / "snap1.zip").write_bytes(b"")
    (tmp_path / "statesnap.json").write_text("{}")
    (tmp_path / "somedir").mkdir()
    assert complete(["statesnap", "import", "sna"], cwd=tmp_path) == ["snap1.zip"]
    assert complete(["statesnap", "--config", "st"], cwd=tmp_path) == ["statesnap.json"]
    assert complete(["statesnap", "config", "check", "st"], cwd=tmp_path) == ["statesnap.json"]
    assert complete(["statesnap", "--store", "s"], cwd=tmp_path) == ["somedir"]
    assert complete(["statesnap", "restore", "x", "--target", "so"], cwd=tmp_path) == ["somedir"]


def test_zsh_script_parses():
    zsh = shutil.which("zsh")
    if zsh is None:
        pytest.skip("zsh is not installed (scripts/deps.sh test installs it): syntax not checked")
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), "statesnap-zsh-%d" % os.getpid())
    with open(path, "w") as f:
        f.write(script("zsh"))
    try:
        r = subprocess.run([zsh, "-n", path], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert script("zsh").startswith("#compdef statesnap\n")
    finally:
        os.unlink(path)


def test_an_unknown_shell_is_a_usage_error():
    r = subprocess.run([BIN, "completion", "fish"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and '"fish"' in r.stderr
    r = subprocess.run([BIN, "completion"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2


@pytest.fixture(scope="module")
def man_page(tmp_path_factory):
    if shutil.which("help2man") is None:
        pytest.skip("help2man is not installed (scripts/deps.sh installs it)")
    out = tmp_path_factory.mktemp("man")
    r = subprocess.run([os.path.join(snaplib.REPO, "scripts", "man.sh"), BIN, str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    for f in ("statesnap.1", "statesnap.bash", "_statesnap"):
        assert os.path.getsize(out / f) > 0, f
    assert (out / "statesnap.bash").read_text() == script("bash")
    roff = (out / "statesnap.1").read_text()
    # Rendered as a reader sees it when man is there; else the roff with its escapes undone.
    if shutil.which("man"):
        r = subprocess.run(["man", "-l", "-P", "cat", str(out / "statesnap.1")], capture_output=True,
                           text=True, timeout=60, env=dict(os.environ, MANWIDTH="200"))
        assert r.returncode == 0, r.stderr
        text = re.sub(r".\x08", "", r.stdout)
    else:
        text = roff.replace("\\-", "-").replace("\\e", "\\")
    return roff, text


def test_man_page_has_every_command_and_option(man_page):
    roff, text = man_page
    assert re.search(r'^\.TH STATESNAP "?1"? ', roff, re.M), roff[:300]
    for command, table in COMMANDS:
        assert re.search(r"^\s*usage: statesnap %s\b" % re.escape(command), text, re.M), command
        for name in TABLES[table]:
            assert "--" + name in text, (command, name)
    for name in TABLES["cli_global_opts"]:
        assert "--" + name in text, name
    assert re.search(r"^\s*usage: statesnap serve\b", text, re.M), "serve"
    for name in TABLES["cli_serve_opts"]:
        assert "--" + name in text, ("serve", name)
    assert re.search(r"^\s*11\s+retry later", text, re.M), "no exit-code table in the man page"
