"""Secrets: a scripted session over the CLI and the API (create with .env,
list, show, diff, verify, export, restore preview and apply, audit, prune,
metrics, a refused token, a failing verify) with alerts going to a local
webhook and a local Telegram API. Then every byte the service wrote or said
is searched for the .env values, the bearer tokens (good and wrong) and the
Telegram bot token: the store (every file, every zip entry decompressed,
catalog.db and its WAL, audit.jsonl), the server log, every API response
(headers and body; zips decompressed), every CLI stdout and stderr, every
alert received, and the state root's files after the restores (.env aside).
None may appear."""
import http.server
import io
import json
import os
import re
import secrets
import socketserver
import subprocess
import threading
import zipfile

import apilib
import snaplib

BOT_TOKEN = "7%d:%s" % (secrets.randbelow(10 ** 9), secrets.token_urlsafe(30).replace("=", ""))


class Receiver(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """Records every request: (method, path, headers text, body bytes)."""
    daemon_threads = True

    def __init__(self):
        self.seen = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                outer.seen.append((self.command, self.path, str(self.headers), body))
                out = b'{"ok": true, "result": {}}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *a):
                pass

        super().__init__(("127.0.0.1", 0), H)

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.server_address[1]


def expand(data):
    """data plus the decompressed entries of any zip it is (recursively)."""
    out = [data]
    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                for n in z.namelist():
                    out += expand(z.read(n))
                    out.append(n.encode())
        except zipfile.BadZipFile:
            pass
    return out


def leaks(blobs, needles):
    """[(where, needle)] for every needle found in any blob."""
    found = []
    for where, data in blobs:
        for part in expand(data):
            for n in needles:
                if n.encode() in part:
                    found.append((where, n))
    return found


def test_no_secret_leaves_the_host(make_server, root, tmp_path):
    env_secrets = snaplib.secrets_of(root)
    rx = Receiver()
    t = threading.Thread(target=rx.serve_forever, daemon=True)
    t.start()
    alerts = {"webhook_url": rx.base + "/hook",
              "telegram": {"api_base": rx.base, "bot_token": "1:placeholder", "chat_id": -100123},
              "on": ["all"], "timeout_ms": 2000, "retries": 0}
    s = make_server(config={"alerts": alerts}, env={"STATESNAP_TELEGRAM_BOT_TOKEN": BOT_TOKEN})
    tokens = [tok for _, tok in s.tokens.values()]
    wrong = "w-" + secrets.token_hex(16)
    needles = sorted(set(env_secrets + tokens + [wrong, BOT_TOKEN, BOT_TOKEN.split(":", 1)[1]]))

    responses = []   # (what, bytes)

    def record(r, *a, **kw):
        head = "\n".join("%s: %s" % kv for kv in r.headers.items())
        responses.append(("%s %s -> %d" % (r.request.method, r.request.path_url, r.status_code),
                          head.encode() + b"\n\n" + r.content))

    def api(name):
        a = s.api(s.token(name))
        a.session.hooks["response"].append(record)
        return a

    admin, writer, reader = api("admin"), api("writer"), api("reader")
    cli_out = []
    cli_env = dict(os.environ, STATESNAP_TELEGRAM_BOT_TOKEN=BOT_TOKEN)
    cli_env.pop("STATESNAP_FAILPOINT", None)

    def cli(*args, ok=True):
        r = subprocess.run([apilib.BIN, "--config", s.config_path, "--root", s.root, "--store", s.store]
                           + list(args), capture_output=True, timeout=300, env=cli_env, cwd=s.workdir)
        cli_out.append(("cli %s (stdout)" % " ".join(args), r.stdout))
        cli_out.append(("cli %s (stderr)" % " ".join(args), r.stderr))
        if ok:
            assert r.returncode == 0, (args, r.stdout[-2000:], r.stderr[-2000:])
        return r

    dotenv = os.path.join(s.root, ".env")
    # CLI: create with the .env, read it back every way there is.
    cli("create", "--name", "c1", "--dotenv", dotenv, "--label", "reason=secrets-test")
    cli("--json", "create", "--name", "c1j", "--dotenv", dotenv)
    for args in (["list"], ["--json", "list"], ["show", "c1"], ["--json", "show", "c1"], ["verify", "c1"],
                 ["verify", "--all"], ["diff", "--from", "c1", "--to", "live"],
                 ["--json", "diff", "--from", "c1", "--to", "live"],
                 ["export", "c1", "--out", str(tmp_path / "c1-export.zip")], ["audit"], ["audit", "verify"],
                 ["--json", "audit"], ["prune", "--dry-run"], ["config", "check"]):
        cli(*args, ok=args[0] != "config")

    # The .env changes (rotated key, one more secret); the state moves on.
    extra = "NEW_SECRET=" + secrets.token_hex(20)
    with open(dotenv) as f:
        text = f.read()
    first_key_line = [x for x in text.splitlines() if x.startswith("BROKER_API_KEY=")][0]
    rotated = "BROKER_API_KEY=" + secrets.token_hex(16).upper()
    with open(dotenv, "w") as f:
        f.write(text.replace(first_key_line, rotated) + extra + "\n")
    needles = sorted(set(needles + [extra.split("=", 1)[1], rotated.split("=", 1)[1]]))
    snaplib.make_state(s.root, "--advance", "5")

    # API: the same ground, plus what only the API does.
    writer.post("/api/v1/snapshots", {"name": "a1", "labels": {"ci": "1"}}, expect=201,
                headers={"Idempotency-Key": "secrets-test-1"})
    writer.post("/api/v1/snapshots", {"name": "a1", "labels": {"ci": "1"}}, expect=201,
                headers={"Idempotency-Key": "secrets-test-1"})
    reader.get("/api/v1/snapshots", expect=200)
    reader.get("/api/v1/snapshots/latest", expect=200)
    reader.get("/api/v1/snapshots/a1", expect=200)
    reader.get("/api/v1/snapshots/c1", expect=200)
    reader.get("/api/v1/snapshots/a1/archive", expect=200)
    reader.post("/api/v1/snapshots/a1/verify", expect=200)
    d = reader.get("/api/v1/diff?from=c1&to=a1", expect=200).json()
    assert "BROKER_API_KEY" in json.dumps(d["env"]), d["env"]
    reader.get("/api/v1/diff?from=c1&to=live", expect=200)
    writer.patch("/api/v1/snapshots/a1", {"pin": True}, expect=200)
    reader.get("/api/v1/audit", expect=200)
    reader.get("/api/v1/audit/verify", expect=200)
    admin.post("/api/v1/prune", {"dry_run": True}, expect=200)
    reader.get("/metrics", expect=200)
    reader.get("/readyz", expect=200)
    # Refused tokens: wrong, missing, too small a role.
    s.api(wrong).get("/api/v1/snapshots", expect=401)
    s.api(None).get("/api/v1/snapshots", expect=401)
    reader.post("/api/v1/snapshots/c1/restore/preview", {}, expect=403)
    for bad in (wrong, "Bearer " + wrong, wrong + "\x01"):
        r = s.api(None).get("/api/v1/snapshots", headers={"Authorization": bad})
        record(r)
    # Restore c1 through the API (preview, then apply with the token).
    prev = admin.post("/api/v1/snapshots/c1/restore/preview", {}, expect=200).json()
    admin.post("/api/v1/snapshots/c1/restore", {"confirm_token": prev["confirm_token"]}, expect=200)
    # And a1 through the CLI.
    cli("restore", "a1", "--yes")
    cli("--json", "restore", "c1j", "--dry-run")
    # A failing verify (one byte of an archive changed) raises a failure alert.
    path = os.path.join(s.store, "c1j.zip")
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) // 3)
        b = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([b[0] ^ 0xFF]))
    reader.post("/api/v1/snapshots/c1j/verify")
    cli("verify", "c1j", ok=False)
    admin.delete("/api/v1/snapshots/c1j", expect=200)
    # Let the alert worker deliver, then stop the server (it drains alerts).
    assert s.stop() == 0
    rx.shutdown()

    # Everything written or said.
    blobs = list(responses) + cli_out
    for dpath, _, files in os.walk(s.store):
        for fn in files:
            with open(os.path.join(dpath, fn), "rb") as f:
                blobs.append(("store " + os.path.relpath(os.path.join(dpath, fn), s.store), f.read()))
    with open(s.log_path, "rb") as f:
        blobs.append(("server log", f.read()))
    with open(tmp_path / "c1-export.zip", "rb") as f:
        blobs.append(("export c1", f.read()))
    for dpath, dirs, files in os.walk(s.root):
        dirs[:] = [x for x in dirs if x != ".git"]
        for fn in files:
            full = os.path.join(dpath, fn)
            if os.path.relpath(full, s.root) != ".env":
                with open(full, "rb") as f:
                    blobs.append(("root " + os.path.relpath(full, s.root), f.read()))
    telegram_path = "/bot%s/sendMessage" % BOT_TOKEN
    for method, p, head, body in rx.seen:
        # The bot token is, by the Bot API's design, in the sendMessage URL;
        # it must be nowhere else.
        where = "alert %s %s" % (method, "/bot<token>/sendMessage" if p == telegram_path else p)
        blobs.append((where + " (path)", p.replace(telegram_path, "").encode()))
        blobs.append((where + " (headers)", head.encode()))
        blobs.append((where + " (body)", body))

    # The session did happen: alerts arrived on both channels, the archives
    # hold the masked .env, the log names tokens.
    assert [x for x in rx.seen if x[1] == "/hook"], "no webhook alert arrived"
    assert [x for x in rx.seen if x[1] == telegram_path], "no Telegram alert arrived: %s" % [x[1] for x in rx.seen]
    assert any(b"restore" in x[3] for x in rx.seen)
    assert any(b"BROKER_API_KEY=********" in part for w, b in blobs if w == "store c1.zip" for part in expand(b))
    assert re.search(rb'"token":"(reader|writer|admin)"', blobs[[w for w, _ in blobs].index("server log")][1])
    assert len(responses) > 20 and len(cli_out) > 30

    found = leaks(blobs, needles)
    assert not found, "secrets found:\n" + "\n".join("%s: %s...%s" % (w, n[:4], n[-2:]) for w, n in found[:50])
