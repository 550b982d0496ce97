"""Restore alerts: a local receiver gets the webhook JSON and a Telegram-style
sendMessage; with the receiver down or hanging the restore still answers at
once and the failure is counted; the bot token never reaches the log; the CLI
alerts too; the alerts config is checked at start."""
import json
import os
import re
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import apilib

BOT_TOKEN = "123456789:AAE-statesnap_test-token-" + "x7" * 8
CHAT_ID = "-1001234567890"
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


class Receiver:
    """An HTTP server in a thread that records every POST and answers status."""

    def __init__(self, status=200):
        self.requests = []
        self.cond = threading.Condition()
        self.status = status
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.cond:
                    outer.requests.append({"path": self.path, "headers": dict(self.headers),
                                           "body": json.loads(body)})
                    outer.cond.notify_all()
                data = b'{"ok":true}'
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, n, timeout=10):
        deadline = time.time() + timeout * apilib.SLOW
        with self.cond:
            while len(self.requests) < n:
                left = deadline - time.time()
                assert left > 0, "receiver got %d of %d requests: %s" % (len(self.requests), n,
                                                                         self.requests)
                self.cond.wait(left)
            return list(self.requests)

    def by_path(self, prefix):
        return [r for r in self.requests if r["path"].startswith(prefix)]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def closed_port():
    """A port nothing listens on: connections are refused."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def hanging_port():
    """A port that accepts connections (in the kernel backlog) and never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    yield s.getsockname()[1]
    s.close()


def alerts_cfg(base, **extra):
    cfg = {"webhook_url": base + "/hook",
           "telegram": {"api_base": base, "bot_token": BOT_TOKEN, "chat_id": CHAT_ID}}
    cfg.update(extra)
    return {"alerts": cfg}


def metric(text, name):
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    assert m, "no sample %s in:\n%s" % (name, text)
    return float(m.group(1))


def alert_count(server, channel, result):
    text = server.api(None).get("/metrics", expect=200).text
    return metric(text, 'statesnap_alerts_total{channel="%s",result="%s"}' % (channel, result))


def wait_metric(server, channel, result, n, timeout):
    deadline = time.time() + timeout * apilib.SLOW
    while time.time() < deadline:
        if alert_count(server, channel, result) >= n:
            return
        time.sleep(0.1)
    raise AssertionError("statesnap_alerts_total{%s,%s} never reached %d:\n%s"
                         % (channel, result, n, server.log_text()[-3000:]))


def restore(server, name="good"):
    """Create NAME, change the state, restore it: (report, seconds the apply took)."""
    w, a = server.api(server.token("writer")), server.api(server.token("admin"))
    w.create(name)
    apilib.make_state(server.root, "--advance", "3")
    prev = a.post("/api/v1/snapshots/%s/restore/preview" % name, expect=200).json()
    t0 = time.time()
    rep = a.post("/api/v1/snapshots/%s/restore" % name, {"confirm_token": prev["confirm_token"]},
                 expect=200).json()
    return rep, time.time() - t0


@pytest.mark.parametrize("token_from", ["config", "env"])
def test_restore_alerts_reach_webhook_and_telegram(make_server, receiver, token_from):
    cfg = alerts_cfg(receiver.base)
    env = None
    if token_from == "env":
        cfg["alerts"]["telegram"]["bot_token"] = "1:placeholder"
        env = {"STATESNAP_TELEGRAM_BOT_TOKEN": BOT_TOKEN}
    s = make_server(config=cfg, env=env)
    rep, _ = restore(s)
    got = receiver.wait(2)
    host = s.api(s.token("reader")).get("/api/v1/snapshots/good", expect=200).json()["manifest"]["host"]
    hooks, tgs = receiver.by_path("/hook"), receiver.by_path("/bot")
    assert len(hooks) == 1 and len(tgs) == 1, got
    # The webhook: the event as JSON.
    h = hooks[0]
    assert h["headers"]["Content-Type"] == "application/json"
    ev = h["body"]
    assert ev["source"] == "statesnap" and ev["op"] == "restore" and ev["result"] == "ok"
    assert ev["snapshot"] == "good" and ev["host"] == host and ev["actor"] == "token:admin"
    assert TIMESTAMP.match(ev["time"]) and abs(apilib_ts(ev["time"]) - time.time()) < 60
    assert ev["files_restored"] == len(rep["files"]) > 0
    assert ev["details"]["safety_snapshot"] == rep["safety_snapshot"]
    assert [f["path"] for f in ev["details"]["files"]] == [f["path"] for f in rep["files"]]
    assert "good" in ev["summary"] and host in ev["summary"]
    # Telegram: sendMessage with the configured (or environment's) token and chat.
    t = tgs[0]
    assert t["path"] == "/bot%s/sendMessage" % BOT_TOKEN
    assert set(t["body"]) == {"chat_id", "text"} and t["body"]["chat_id"] == CHAT_ID
    text = t["body"]["text"]
    assert text.startswith("statesnap: restore OK")
    for want in ("Snapshot: good", "Host: " + host, "Actor: token:admin",
                 "Files restored: %d" % len(rep["files"]), "Safety snapshot: " + rep["safety_snapshot"],
                 "Time: " + ev["time"]):
        assert want in text, text
    # Only the restore matched the default "on" (the safety snapshot's create did not).
    time.sleep(0.5)
    assert len(receiver.requests) == 2
    assert alert_count(s, "webhook", "success") == 1 and alert_count(s, "telegram", "success") == 1
    assert alert_count(s, "webhook", "failure") == 0
    sent = [l for l in s.log_lines() if l.get("msg") == "alert sent"]
    assert sorted(l["channel"] for l in sent) == ["telegram", "webhook"]
    assert s.stop() == 0
    assert BOT_TOKEN not in s.log_text() and "/hook" not in s.log_text()


def apilib_ts(s):
    import calendar
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


@pytest.mark.parametrize("receiver_state", ["down", "hanging"])
def test_unreachable_receiver_never_delays_the_restore(make_server, closed_port, hanging_port,
                                                       receiver_state):
    port = closed_port if receiver_state == "down" else hanging_port
    timeout_ms, retries = 1000, 2
    s = make_server(config=alerts_cfg("http://127.0.0.1:%d" % port, timeout_ms=timeout_ms,
                                      retries=retries))
    rep, took = restore(s)
    # One alert's worst case is timeout x attempts plus backoff; the restore waits for none of it.
    assert took < 0.3 * timeout_ms * (retries + 1) / 1000 * apilib.SLOW, took
    assert all(f["result"] == "OK" for f in rep["files"])
    wait_metric(s, "webhook", "failure", 1, 15)
    wait_metric(s, "telegram", "failure", 1, 15)
    assert alert_count(s, "webhook", "success") == 0
    failed = [l for l in s.log_lines() if l.get("msg") == "alert not delivered"]
    assert sorted(l["channel"] for l in failed) == ["telegram", "webhook"]
    assert all(l["attempts"] == retries + 1 and l["snapshot"] == "good" for l in failed), failed
    if receiver_state == "hanging":
        assert all("Timeout" in l["error"] for l in failed), failed
    # The API still answers normally meanwhile and afterwards.
    s.api(s.token("reader")).get("/api/v1/snapshots/good", expect=200)
    assert s.stop() == 0
    assert BOT_TOKEN not in s.log_text()


def test_sigterm_with_an_alert_in_flight_stops_promptly(make_server, hanging_port):
    s = make_server(config=alerts_cfg("http://127.0.0.1:%d" % hanging_port, timeout_ms=5000,
                                      retries=3))
    restore(s)
    time.sleep(0.3)
    t0 = time.time()
    assert s.stop() == 0
    # At most the shutdown drain (5 s), not the ~21 s the retries would take.
    assert time.time() - t0 < 5 + 3 * apilib.SLOW
    assert BOT_TOKEN not in s.log_text()


def test_failures_alert_scheduler_and_verify(make_server, receiver, tmp_path):
    # A missing state root: the scheduled create fails and says so.
    # The store exists (serve makes one only when its state root does).
    s = make_server(config=dict(alerts_cfg(receiver.base), schedule_interval="1h"),
                    root_dir=str(tmp_path / "missing"), start=False)
    apilib.init_store(s)
    s.start()
    receiver.wait(2)
    ev = receiver.by_path("/hook")[0]["body"]
    assert ev["op"] == "create" and ev["result"] == "error" and ev["actor"] == "scheduler"
    assert ev["snapshot"] is None and ev["details"]["scheduled"] is True and ev["details"]["error"]
    text = receiver.by_path("/bot")[0]["body"]["text"]
    assert text.startswith("statesnap: create FAILED") and "Error: " in text
    assert s.stop() == 0


def test_verify_failure_alerts_and_on_list_filters(make_server, receiver):
    s = make_server(config=alerts_cfg(receiver.base, on=["verify", "delete"]))
    w, a = s.api(s.token("writer")), s.api(s.token("admin"))
    w.create("v1")
    w.create("v2")
    path = os.path.join(s.store, "v1.zip")
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        # Flip a byte in the middle of the archive (file data, not the directory).
        data[len(data) // 2] ^= 0xFF
        f.seek(0)
        f.write(data)
    w.post("/api/v1/snapshots/v1/verify", expect=422)
    a.delete("/api/v1/snapshots/v2", expect=200)
    got = receiver.wait(4)
    hooks = [r["body"] for r in receiver.by_path("/hook")]
    assert [(h["op"], h["result"], h["snapshot"]) for h in hooks] == \
        [("verify", "error", "v1"), ("delete", "ok", "v2")], got
    assert hooks[0]["details"]["errors"]
    tg = [r["body"]["text"] for r in receiver.by_path("/bot")]
    assert tg[0].startswith("statesnap: verify FAILED") and "Problems: " in tg[0]
    # Creates matched nothing in this "on" list.
    time.sleep(0.5)
    assert len(receiver.requests) == 4
    assert s.stop() == 0


def test_cli_restore_alerts_too(make_server, receiver, closed_port):
    s = make_server(config=alerts_cfg(receiver.base), start=False)
    rc, out, err = s.cli("create", "--name", "c1")
    assert rc == 0, err
    apilib.make_state(s.root, "--advance", "2")
    t0 = time.time()
    rc, out, err = s.cli("restore", "c1", "--yes")
    assert rc == 0, err
    assert "RESTORE COMPLETE" in out
    assert time.time() - t0 < 10 * apilib.SLOW
    # The CLI waited for its alert before exiting: it is already here.
    assert len(receiver.requests) == 2, receiver.requests
    ev = receiver.by_path("/hook")[0]["body"]
    assert ev["op"] == "restore" and ev["snapshot"] == "c1" and ev["actor"].startswith("cli:")
    assert ev["files_restored"] > 0
    # A receiver that is down: the restore still succeeds, the failure is on stderr, no token.
    with open(s.config_path) as f:
        cfg = json.load(f)
    cfg["alerts"] = alerts_cfg("http://127.0.0.1:%d" % closed_port, retries=1)["alerts"]
    with open(s.config_path, "w") as f:
        json.dump(cfg, f)
    apilib.make_state(s.root, "--advance", "2")
    rc, out, err = s.cli("restore", "c1", "--yes")
    assert rc == 0, err
    assert "RESTORE COMPLETE" in out
    lines = [json.loads(l) for l in err.splitlines() if l.startswith("{")]
    assert sorted(l["channel"] for l in lines if l["msg"] == "alert not delivered") == \
        ["telegram", "webhook"], err
    assert BOT_TOKEN not in err and BOT_TOKEN not in out


@pytest.mark.parametrize("alerts, says", [
    ({"webhook_url": "ftp://example.org/x"}, "alerts.webhook_url"),
    ({"webhook_url": "http://exa mple.org/"}, "alerts.webhook_url"),
    ({"webhook_url": 5}, "alerts.webhook_url"),
    ({}, "needs \"webhook_url\" and/or \"telegram\""),
    ({"webhook_url": "http://127.0.0.1:9/", "on": ["restore", "bogus"]}, "alerts.on"),
    ({"webhook_url": "http://127.0.0.1:9/", "on": []}, "alerts.on"),
    ({"webhook_url": "http://127.0.0.1:9/", "timeout_ms": 5}, "alerts.timeout_ms"),
    ({"webhook_url": "http://127.0.0.1:9/", "retries": 99}, "alerts.retries"),
    ({"webhook_url": "http://127.0.0.1:9/", "hook": "x"}, "unknown key"),
    ({"telegram": {"bot_token": BOT_TOKEN}}, "chat_id"),
    ({"telegram": {"chat_id": 5}}, "bot token"),
    ({"telegram": {"bot_token": BOT_TOKEN + "/../x", "chat_id": 5}}, "bot token"),
    ({"telegram": {"bot_token": BOT_TOKEN, "chat_id": 5, "token": "x"}}, "alerts.telegram.token"),
    ({"telegram": {"bot_token": BOT_TOKEN, "chat_id": 5, "api_base": "api.telegram.org"}},
     "alerts.telegram.api_base"),
    ({"telegram": "yes"}, "alerts.telegram"),
])
def test_bad_alerts_config_is_refused_at_start(make_server, alerts, says):
    s = make_server(config={"alerts": alerts}, start=False)
    s.start(expect_ok=False)
    assert s.proc.wait(timeout=10 * apilib.SLOW) == 2
    s.proc = None
    s.log.close()
    text = s.log_text()
    assert says in text, text
    assert BOT_TOKEN not in text
    # The CLI refuses the same config, with the same words, and so does `config check`.
    rc, out, err = s.cli("list")
    assert rc == 2 and says in err and BOT_TOKEN not in err
    rc, out, err = s.cli("config", "check", "--file", s.config_path)
    assert rc == 2 and says in err and BOT_TOKEN not in err


def test_a_full_queue_drops_and_counts_and_never_blocks(make_server, hanging_port):
    # Every operation alerts; the receiver holds the first one for a minute.
    s = make_server(config=alerts_cfg("http://127.0.0.1:%d" % hanging_port, on=["all"],
                                      timeout_ms=60000, retries=0))
    w = s.api(s.token("writer"))
    w.create("q")
    n = 80
    t0 = time.time()
    for i in range(n):
        w.patch("/api/v1/snapshots/q", {"labels": {"i": str(i)}}, expect=200)
    took = time.time() - t0
    assert took < n * 0.1 * apilib.SLOW, took
    text = s.api(None).get("/metrics", expect=200).text
    queued = metric(text, "statesnap_alerts_queued")
    dropped = metric(text, "statesnap_alerts_dropped_total")
    # 64 wait, one is being sent, the rest were dropped.
    assert queued == 65 and dropped == n + 1 - 65, text
    assert any(l.get("msg") == "alert dropped: the queue is full" for l in s.log_lines())
    t0 = time.time()
    assert s.stop() == 0
    assert time.time() - t0 < 5 + 3 * apilib.SLOW
    left = [l for l in s.log_lines() if l.get("msg") == "alerts not sent before stopping"]
    assert left and left[0]["count"] == 64, s.log_text()[-2000:]


def test_a_skipped_create_is_no_failure_but_reaches_create_listeners(make_server, receiver):
    s = make_server(config=alerts_cfg(receiver.base, on=["failures", "delete"]))
    w, a = s.api(s.token("writer")), s.api(s.token("admin"))
    w.create("x")
    assert w.post("/api/v1/snapshots", {"if_changed": True}, expect=200).json()["skipped"] is True
    a.delete("/api/v1/snapshots/x", expect=200)
    receiver.wait(2)
    time.sleep(0.5)
    hooks = [r["body"] for r in receiver.by_path("/hook")]
    assert [(h["op"], h["result"]) for h in hooks] == [("delete", "ok")], hooks
    assert s.stop() == 0


def test_a_skipped_create_alerts_who_listens_to_create(make_server, receiver):
    s = make_server(config=alerts_cfg(receiver.base, on=["create"]))
    w = s.api(s.token("writer"))
    w.create("x")
    w.post("/api/v1/snapshots", {"if_changed": True}, expect=200)
    receiver.wait(4)
    hooks = [r["body"] for r in receiver.by_path("/hook")]
    assert [(h["op"], h["result"], h["snapshot"]) for h in hooks] == \
        [("create", "ok", "x"), ("create", "skipped", "x")], hooks
    assert s.stop() == 0
