"""`statesnap --help` and `statesnap COMMAND --help`: every command listed, every
help exits 0 and names exactly the options of the parser's own tables
(cli/cli.c's `struct cli_opt` tables, server/serve.c's serve options)."""
import re

import pytest

import opslib

TABLES = opslib.cli_option_tables()
COMMANDS = opslib.cli_command_table()
SERVE_OPTS = opslib.serve_options()


def run_help(binary, cwd, *args):
    r = opslib.run([binary] + list(args), cwd=cwd)
    assert r.returncode == 0, "%s exited %d: %s" % (" ".join(args), r.returncode, r.stderr)
    assert r.stderr == "", r.stderr
    return r.stdout


def options_in(section_text):
    return [m.group(1) for m in re.finditer(r"^  --([a-z0-9-]+)", section_text, re.M)]


def section(text, title):
    m = re.search(r"^%s:\n((?:  .*\n?)*)" % re.escape(title), text, re.M)
    assert m, "no '%s:' section in:\n%s" % (title, text)
    return m.group(1)


def listed_commands(binary, cwd):
    out = run_help(binary, cwd, "--help")
    # Two-word commands ("offsite sync") are recognised by their table names.
    known = sorted([c for c, _ in COMMANDS] + ["serve"], key=len, reverse=True)
    found = []
    for m in re.finditer(r"^  (\S.*)$", section(out, "Commands"), re.M):
        found.append(next((c for c in known if re.match(re.escape(c) + r"\s", m.group(1))),
                          m.group(1).split()[0]))
    return found


def test_tables_were_found():
    # A parse that silently finds nothing would make every other test vacuous.
    assert len(COMMANDS) >= 15 and "cli_global_opts" in TABLES
    assert all(t in TABLES for _, t in COMMANDS), [t for _, t in COMMANDS if t not in TABLES]
    assert {"listen", "port-file"} <= set(SERVE_OPTS)


def test_top_level_help_lists_every_command(statesnap_bin, tmp_path):
    out = run_help(statesnap_bin, tmp_path, "--help")
    assert listed_commands(statesnap_bin, tmp_path) == [c for c, _ in COMMANDS] + ["serve"]
    assert options_in(section(out, "Global options")) == TABLES["cli_global_opts"]


@pytest.mark.parametrize("command,table", COMMANDS, ids=[c for c, _ in COMMANDS])
def test_command_help_names_exactly_its_options(statesnap_bin, tmp_path, command, table):
    out = run_help(statesnap_bin, tmp_path, *command.split(), "--help")
    assert out.startswith("usage: statesnap %s" % command), out
    assert options_in(section(out, "Options")) == TABLES[table], out
    assert options_in(section(out, "Global options")) == TABLES["cli_global_opts"], out
    # "statesnap --help COMMAND" is the same page.
    assert run_help(statesnap_bin, tmp_path, "--help", *command.split()) == out


@pytest.mark.parametrize("command,table", COMMANDS, ids=[c for c, _ in COMMANDS])
def test_parser_accepts_every_documented_option(statesnap_bin, tmp_path, command, table):
    # Given before --help, each option must get past the parser (an unknown
    # option is exit 2): the help page and the parser share one table.
    help_text = run_help(statesnap_bin, tmp_path, *command.split(), "--help")
    for name in TABLES[table]:
        line = re.search(r"^  --%s( \S+)?\s" % re.escape(name), help_text, re.M)
        args = command.split() + ["--" + name] + (["x"] if line.group(1) else []) + ["--help"]
        r = opslib.run([statesnap_bin] + args, cwd=tmp_path)
        assert r.returncode == 0, "%s: %s" % (" ".join(args), r.stderr)
    r = opslib.run([statesnap_bin] + command.split() + ["--no-such-option"], cwd=tmp_path)
    assert r.returncode == 2 and "unknown option" in r.stderr, r.stderr


def test_serve_help_names_every_serve_option(statesnap_bin, tmp_path):
    out = run_help(statesnap_bin, tmp_path, "serve", "--help")
    assert out.startswith("usage: statesnap serve"), out
    for name in SERVE_OPTS:
        assert "--" + name in out, name
        assert opslib.run([statesnap_bin, "serve", "--" + name, "x", "--help"],
                          cwd=tmp_path).returncode == 0, name
    r = opslib.run([statesnap_bin, "serve", "--no-such-option"], cwd=tmp_path)
    assert r.returncode == 2 and "unknown option" in r.stderr, r.stderr


def test_readme_names_every_command(statesnap_bin, tmp_path):
    readme = opslib.read(opslib.README)
    for command in listed_commands(statesnap_bin, tmp_path):
        assert re.search(r"`(statesnap )?%s\b" % re.escape(command), readme), \
            "README.md does not mention the %s command" % command
