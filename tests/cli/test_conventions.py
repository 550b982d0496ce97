"""The conventions people bring from git, restic and kopia (issue 20, CLI):
a group's --help, a named bad subcommand, `help [COMMAND [SUB]]`, -V and
--version listed in --help, `--` ending the options, one "(repeatable)", an
aligned command list, and `config check FILE` as well as `--file FILE`."""
import os
import re

import pytest

import snaplib
from snaplib import BIN


def run(ss, *args):
    return ss.run(*args, root=False, store=False)


def section(text, title):
    m = re.search(r"^%s:\n((?:  .*\n?)*)" % re.escape(title), text, re.M)
    assert m, "no '%s:' section in:\n%s" % (title, text)
    return m.group(1)


def test_group_help_prints_the_groups_page(ss):
    for args in (["offsite", "--help"], ["offsite", "-h"], ["help", "offsite"], ["--help", "offsite"]):
        rc, out, err = run(ss, *args)
        assert rc == 0 and err == "", (args, rc, err)
        assert out.startswith("usage: statesnap offsite SUBCOMMAND"), out
        subs = [l.split()[0] for l in section(out, "Subcommands").splitlines()]
        assert subs == ["sync", "status", "list", "fetch"], out


def test_a_bad_subcommand_is_named(ss):
    rc, out, err = run(ss, "offsite", "bogus")
    assert rc == 2 and '"bogus"' in err and "subcommand" in err and "sync" in err, (rc, err)
    assert len(err.splitlines()) == 1 and out == ""
    rc, out, err = run(ss, "offsite")
    assert rc == 2 and "which subcommand" in err and "fetch" in err, (rc, err)
    rc, out, err = run(ss, "bogus")
    assert rc == 2 and 'unknown command "bogus"' in err, (rc, err)


def test_help_command_is_the_commands_help(ss):
    rc, top, err = run(ss, "--help")
    assert rc == 0
    assert run(ss, "help")[1] == top
    for words in (["create"], ["restore"], ["offsite", "sync"], ["offsite", "fetch"], ["config"]):
        rc, out, err = run(ss, "help", *words)
        assert rc == 0 and err == "", (words, err)
        assert out == run(ss, *words, "--help")[1], words
        assert out.startswith("usage: statesnap %s" % " ".join(words)), out
    rc, out, err = run(ss, "help", "nosuch")
    assert rc == 2 and '"nosuch"' in err
    rc, out, err = run(ss, "help", "offsite", "nosuch")
    assert rc == 2 and "offsite nosuch" in err


def test_version_short_and_long_and_listed(ss):
    for flag in ("-V", "--version"):
        rc, out, err = run(ss, flag)
        assert rc == 0 and re.match(r"^statesnap \S+\n$", out), (flag, out, err)
    assert run(ss, "version")[1] == run(ss, "-V")[1]
    rc, out, err = run(ss, "--help")
    glob = section(out, "Global options")
    assert re.search(r"^  --version, -V\s+\S", glob, re.M), glob
    assert re.search(r"^  --help, -h\s+\S", glob, re.M), glob


def test_double_dash_ends_the_options(ss):
    # After "--", "--prefix" is an argument (and list takes none), not an option.
    rc, out, err = run(ss, "list", "--", "--prefix")
    assert rc == 2 and 'unexpected argument "--prefix"' in err, err
    # ... and a global option word after it is the command's argument too.
    rc, out, err = run(ss, "import", "--", "--json")
    assert rc == 2 and 'cannot read "--json"' in err and out == "", (rc, out, err)
    # Before the command, the next word is the command.
    rc, out, err = run(ss, "--", "version")
    assert rc == 0 and out.startswith("statesnap "), (rc, out, err)
    # A file whose name starts with a dash can be imported.
    rc, out, err = ss.run("import", "--", "-missing.zip")
    assert rc == 2 and 'cannot read "-missing.zip"' in err, err


def test_repeatable_is_said_once(ss):
    rc, out, err = run(ss, "create", "--help")
    assert rc == 0
    line = [l for l in out.splitlines() if l.startswith("  --label")][0]
    assert line.count("(repeatable)") == 1, line
    for cmd in ("create", "list", "restore", "prune", "help"):
        assert "(repeatable) (repeatable)" not in run(ss, cmd, "--help")[1]


def summary_columns(text):
    cols = set()
    for line in text.splitlines():
        m = re.match(r"^  (\S+(?: \S+)?)( +)(\S.*)$", line)
        if m:
            cols.add(len(m.group(1)) + len(m.group(2)))
    return cols


def test_command_list_is_aligned(ss):
    rc, out, err = run(ss, "--help")
    cmds = section(out, "Commands")
    # "offsite status" has one space inside: a summary column shared by all.
    starts = set()
    for line in cmds.splitlines():
        m = re.match(r"^  ((?:offsite \S+)|\S+) +", line)
        starts.add(m.end())
    assert len(starts) == 1, cmds
    assert "healthcheck " in cmds and "offsite status " in cmds
    rc, out, err = run(ss, "offsite", "--help")
    subs = section(out, "Subcommands")
    assert len({re.match(r"^  (\S+(?: NAME)?) +", l).end() for l in subs.splitlines()}) == 1, subs
    for cmd in ("create", "restore", "prune", "healthcheck"):
        opts = section(run(ss, cmd, "--help")[1], "Options")
        assert len({re.match(r"^  (--\S+(?: \S+)?) +", l).end() for l in opts.splitlines()}) == 1, opts


def test_config_check_takes_the_file_as_an_argument(ss, tmp_path):
    example = os.path.join(snaplib.REPO, "deploy", "statesnap.example.json")
    rc, out, err = run(ss, "config", "check", example)
    assert rc == 0 and out == "OK %s\n" % example, (rc, out, err)
    assert run(ss, "config", "check", "--file", example)[1] == out
    assert run(ss, "config", "check", "--file", example, example)[0] == 0
    bad = tmp_path / "bad.json"
    bad.write_text('{"no_such_key": 1}')
    rc, out, err = run(ss, "config", "check", str(bad))
    assert rc == 2 and "no_such_key" in err, (rc, err)
    rc, out, err = run(ss, "config", "check", "--file", example, str(bad))
    assert rc == 2 and "once" in err, (rc, err)
    rc, out, err = run(ss, "config", "check", example, "extra")
    assert rc == 2 and 'unexpected argument "extra"' in err, (rc, err)
