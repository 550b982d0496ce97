"""opslib.py - helpers for the packaging and operations tests.

Readers for the files operators deploy (Dockerfile, systemd unit, example
config, Prometheus rules, README) and for the C sources they must agree with
(cli/args.c option tables, cli/cli.c command table, the config key lists in conf/,
alerts/ and offsite/, cli/args.c's serve options, the Makefile's sources).
The servers these tests start are the real binary, through tests/api/apilib.py.
"""
import os
import re
import shlex
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "api"))

BIN = os.path.abspath(os.environ.get("STATESNAP_BIN", os.path.join(REPO, "build", "test", "statesnap")))
RELEASE_DIR = os.path.join(REPO, "build", "release")
RELEASE_BIN = os.path.abspath(os.environ.get("STATESNAP_RELEASE_BIN",
                                             os.path.join(RELEASE_DIR, "statesnap")))
BUILD_RELEASE = os.path.join(REPO, "scripts", "build-release.sh")
DOCKERFILE = os.path.join(REPO, "Dockerfile")
UNIT = os.path.join(REPO, "deploy", "statesnap.service")
EXAMPLE_CONFIG = os.path.join(REPO, "deploy", "statesnap.example.json")
RULES = os.path.join(REPO, "deploy", "prometheus-rules.yml")
RULES_TESTS = os.path.join(HERE, "prometheus-rules.test.yml")
README = os.path.join(REPO, "README.md")
TIMEOUT = 300


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def run(args, **kw):
    """subprocess.run with text output captured and a timeout."""
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", TIMEOUT)
    return subprocess.run([str(a) for a in args], **kw)


# ---------------------------------------------------------------- C sources

def strip_c_comments(src):
    return re.sub(r"/\*.*?\*/", " ", src, flags=re.S)


def cli_option_tables():
    """{table name: [option names]} for every `struct cli_opt NAME[]` in cli/args.c."""
    src = strip_c_comments(read(os.path.join(REPO, "cli", "args.c")))
    tables = {}
    for m in re.finditer(r"(?:static\s+)?const\s+struct\s+cli_opt\s+(\w+)\s*\[\]\s*=\s*\{(.*?)\n\};",
                         src, re.S):
        tables[m.group(1)] = re.findall(r"\{\s*\"([a-z0-9-]+)\"\s*,", m.group(2))
    return tables


def cli_command_table():
    """[(command, option table name)] from cli/cli.c's cli_commands[]."""
    src = strip_c_comments(read(os.path.join(REPO, "cli", "cli.c")))
    m = re.search(r"const\s+struct\s+cli_cmd\s+cli_commands\s*\[\]\s*=\s*\{(.*?)\n\};", src, re.S)
    assert m, "cli_commands[] not found in cli/cli.c"
    out = []
    for e in re.finditer(r"\{\s*\"([a-z-]+(?: [a-z-]+)?)\"\s*,\s*(?:NULL|\"[^\"]*\")\s*,\s*\"(?:[^\"\\]|\\.)*\"\s*,"
                         r"\s*(\w+)\s*,", m.group(1)):
        out.append((e.group(1), e.group(2)))
    return out


def serve_options():
    """Option names (without --) of `statesnap serve`: cli/args.c's cli_serve_opts,
    the table server/serve.c parses with (and help and completion print)."""
    tables = cli_option_tables()
    assert tables.get("cli_serve_opts"), "cli_serve_opts not found in cli/args.c"
    src = strip_c_comments(read(os.path.join(REPO, "server", "serve.c")))
    assert "cli_serve_opts" in src, "server/serve.c does not parse with cli_serve_opts"
    return tables["cli_serve_opts"]


# Where each config key list lives: conf/ checks the top level and hands each
# section to the module that owns its keys (docs/DESIGN.md).
CONFIG_KEY_HOMES = {
    "top_keys": "conf/config.c",
    "retention_keys": "conf/config.c",
    "token_keys": "conf/tokens.c",
    "alerts_keys": "alerts/settings.c",
    "telegram_keys": "alerts/settings.c",
    "offsite_keys": "offsite/settings.c",
    "object_lock_keys": "offsite/settings.c",
    "capture_keys": "conf/config_capture.c",
    "chain_keys": "conf/config_capture.c",
    "hooks_keys": "conf/config_capture.c",
    "hook_keys": "conf/config_capture.c",
    "bot_keys": "conf/config_capture.c",
}


def c_key_lists(path):
    """{list name: [keys]} for every `static const char *const NAME_keys[]` in one C file."""
    src = strip_c_comments(read(os.path.join(REPO, path)))
    return {m.group(1): re.findall(r"\"([a-z0-9_]+)\"", m.group(2)) for m in re.finditer(
        r"static\s+const\s+char\s*\*\s*const\s+(\w+_keys)\s*\[\]\s*=\s*\{(.*?)\};", src, re.S)}


def config_key_lists():
    """{list name: [keys]}: each list of CONFIG_KEY_HOMES, read from its home.
    A list missing from its home (moved, renamed) is an error, not an empty list."""
    out = {}
    for name, path in sorted(CONFIG_KEY_HOMES.items()):
        lists = c_key_lists(path)
        assert name in lists, "%s[] not found in %s" % (name, path)
        out[name] = lists[name]
    return out


def config_keys_dotted():
    """Every config key as an operator writes it: root, tokens[].name, retention.keep_last, ..."""
    lists = config_key_lists()
    keys = list(lists["top_keys"])
    keys += ["tokens[].%s" % k for k in lists["token_keys"]]
    for section in ("retention", "alerts", "offsite"):
        keys += ["%s.%s" % (section, k) for k in lists["%s_keys" % section]]
    keys += ["alerts.telegram.%s" % k for k in lists["telegram_keys"]]
    keys += ["offsite.object_lock.%s" % k for k in lists["object_lock_keys"]]
    keys += ["capture.%s" % k for k in lists["capture_keys"]]
    keys += ["capture.chain.%s" % k for k in lists["chain_keys"]]
    keys += ["hooks.%s" % k for k in lists["hooks_keys"]]
    keys += ["hooks.%s.%s" % (h, k) for h in lists["hooks_keys"] for k in lists["hook_keys"]]
    keys += ["bot.%s" % k for k in lists["bot_keys"]]
    return keys


def makefile_source_dirs():
    """Directories whose *.c files the Makefile compiles: its SRCDIRS list
    (those that exist), or the folders of its SRC wildcard."""
    mk = read(os.path.join(REPO, "Makefile"))
    m = re.search(r"^SRCDIRS\s*:?=\s*(.*)$", mk, re.M)
    if m:
        dirs = [d for d in m.group(1).split() if os.path.isdir(os.path.join(REPO, d))]
        assert dirs, "SRCDIRS names no existing folder"
        return sorted(dirs)
    m = re.search(r"^SRC\s*:?=\s*\$\(wildcard\s+([^)]*)\)", mk, re.M)
    assert m, "SRC := $(wildcard ...) not found in the Makefile"
    return sorted({os.path.dirname(p) for p in m.group(1).split()})


# ---------------------------------------------------------------- Dockerfile

class Stage:
    def __init__(self, base, name):
        self.base = base
        self.name = name
        self.instructions = []   # (INSTRUCTION, argument text)

    def all(self, instr):
        return [a for i, a in self.instructions if i == instr]

    def last(self, instr):
        found = self.all(instr)
        return found[-1] if found else None


def dockerfile_stages(text=None):
    """Parse a Dockerfile into stages of (INSTRUCTION, arguments), joining
    continuation lines and dropping comments."""
    text = read(DOCKERFILE) if text is None else text
    logical, cur = [], ""
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("#") and not cur:
            continue
        if s.startswith("#"):
            continue
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        cur += s
        if cur.strip():
            logical.append(cur.strip())
        cur = ""
    stages = []
    for line in logical:
        instr, _, args = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            parts = args.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(parts[0], name))
            continue
        assert stages, "instruction before FROM: " + line
        stages[-1].instructions.append((instr, args.strip()))
    return stages


def exec_form(args):
    """The argv of an exec-form (JSON array) or shell-form instruction argument."""
    import json
    args = args.strip()
    if args.startswith("["):
        return json.loads(args)
    return ["/bin/sh", "-c", args]


def env_pairs(args):
    """ENV k=v k2=v2 (or the legacy ENV k v) -> {k: v}."""
    parts = shlex.split(args)
    if parts and "=" not in parts[0]:
        return {parts[0]: " ".join(parts[1:])}
    return dict(p.split("=", 1) for p in parts)


# ---------------------------------------------------------------- README

FENCE = re.compile(r"^( *)```(\w*)[^\n]*\n(.*?)^\1```", re.S | re.M)


def readme_blocks(lang=None):
    """[(language, body)] of the README's fenced code blocks, in order; a block
    indented inside a list item comes back without its indentation."""
    out = []
    for m in FENCE.finditer(read(README)):
        indent = len(m.group(1))
        body = "".join(line[indent:] if line[:indent].strip() == "" else line
                       for line in m.group(3).splitlines(keepends=True))
        if lang is None or m.group(2) == lang:
            out.append((m.group(2), body))
    return out


def readme_recipes():
    """{name: body} of the ```sh blocks whose first line is `# recipe: NAME`, in order."""
    out = {}
    for lang, body in readme_blocks("sh"):
        first = body.split("\n", 1)[0]
        m = re.match(r"#\s*recipe:\s*([a-z0-9-]+)\s*$", first)
        if m:
            assert m.group(1) not in out, "two README recipes named " + m.group(1)
            out[m.group(1)] = body
    return out


def readme_section(title):
    """The text of the README's `## title` section (up to the next `## `)."""
    text = read(README)
    m = re.search(r"^## %s\s*$(.*?)(?=^## |\Z)" % re.escape(title), text, re.S | re.M)
    assert m, "README has no '## %s' section" % title
    return m.group(1)
