"""Issue #16 item 5 (CLI): .env cannot enter an archive unmasked by another
name: a symlink to it inside the root, a hard link, --dotenv pointing at a
file an include glob matches, or a .envrc."""
import json
import os

from snaplib import ENV_MASKED, read_zip, secrets_of


def write_cfg(ss, doc):
    path = os.path.join(ss.tmp, "cfg.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    return path


def assert_no_secret(ss, name, secrets):
    entries = read_zip(ss.archive(name))
    for path, data in entries.items():
        for s in secrets:
            assert s.encode() not in data, "%s leaks into %s of %s" % (s[:6], path, name)
    return entries


def test_symlink_to_the_env_is_skipped(ss):
    secrets = secrets_of(ss.root)
    os.symlink("../.env", os.path.join(ss.root, "state", "env_backup.json"))
    snap = ss.create("s1")
    entries = assert_no_secret(ss, "s1", secrets)
    assert "state/env_backup.json" not in entries and ENV_MASKED in entries
    assert any("env_backup.json" in w for w in snap["warnings"]), snap["warnings"]


def test_hard_link_to_the_env_is_skipped(ss):
    secrets = secrets_of(ss.root)
    os.link(os.path.join(ss.root, ".env"), os.path.join(ss.root, "state", "env_hard.json"))
    snap = ss.create("h1")
    entries = assert_no_secret(ss, "h1", secrets)
    assert "state/env_hard.json" not in entries
    assert any("env_hard.json" in w for w in snap["warnings"]), snap["warnings"]


def test_dotenv_matched_by_an_include_glob_is_captured_masked_only(ss):
    secrets = secrets_of(ss.root)
    bot_env = os.path.join(ss.root, "config", "bot.env")
    os.rename(os.path.join(ss.root, ".env"), bot_env)
    cfg = write_cfg(ss, {"include": ["state/*.json", "config/*"]})
    ss.create("d1", "--dotenv", bot_env, "--config", cfg)
    entries = assert_no_secret(ss, "d1", secrets)
    assert "config/bot.env" not in entries and "config/config.json" in entries
    assert entries[ENV_MASKED].count(b"=********") == 6


def test_dotenv_under_a_neutral_name_is_skipped_by_identity(ss):
    """--dotenv config/settings.txt: no secret-looking name, but the same inode."""
    secrets = secrets_of(ss.root)
    dotenv = os.path.join(ss.root, "config", "settings.txt")
    os.rename(os.path.join(ss.root, ".env"), dotenv)
    cfg = write_cfg(ss, {"include": ["state/*.json", "config/*"]})
    ss.create("d2", "--dotenv", dotenv, "--config", cfg)
    entries = assert_no_secret(ss, "d2", secrets)
    assert "config/settings.txt" not in entries and ENV_MASKED in entries


def test_envrc_and_other_env_names_are_secrets(ss):
    for name, text in ((".envrc", "export AWS_SECRET_ACCESS_KEY=envrc-secret-0123456789\n"),
                       ("prod.env", "TOKEN=prod-env-secret-0123456789\n")):
        with open(os.path.join(ss.root, "config", name), "w") as f:
            f.write(text)
    cfg = write_cfg(ss, {"include": ["state/*.json", "config/*", "config/.*"]})
    snap = ss.create("r1", "--config", cfg)
    entries = assert_no_secret(ss, "r1", ["envrc-secret-0123456789", "prod-env-secret-0123456789"])
    assert "config/.envrc" not in entries and "config/prod.env" not in entries
    assert sum(".envrc" in w or "prod.env" in w for w in snap["warnings"]) == 2, snap["warnings"]
