"""Connection exhaustion (issue #16, item 3). A client that sends half a request
and closes used to leave its connection in CLOSE_WAIT until the 120 s timeout
(libmicrohttpd 0.9.75's epoll mode does not notice the close), so a short
burst of them filled every connection slot and locked fresh clients out.
Bounded here: a few thousand sockets in a couple of seconds, to 127.0.0.1
only, against a server whose descriptor limit (and so connection limit) is
small enough that the old code would be full."""
import os
import resource
import socket
import time

import pytest

import apilib

SERVER_NOFILE = 1024           # the server's connection limit becomes 1024 - HTTP_FD_RESERVE
BURST_MAX = 3000
BURST_SECONDS = 3.0
HALF = b"GET /api/v1/snapshots HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: "


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def limited_server(make_server, **kw):
    s = make_server(start=False, **kw)
    s.cmd = ["prlimit", "--nofile=%d:%d" % (SERVER_NOFILE, SERVER_NOFILE)] + s.cmd
    s.start()
    with open("/proc/%d/limits" % s.proc.pid) as f:
        line = [l for l in f if l.startswith("Max open files")][0]
    assert line.split()[3] == str(SERVER_NOFILE), line
    return s


def fresh_request(port, timeout=20):
    """Seconds until a fresh client has /healthz answered (raises on no answer)."""
    t0 = time.monotonic()
    status, _, _ = apilib_raw(port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                              timeout)
    assert status == 200, status
    return time.monotonic() - t0


def apilib_raw(port, data, timeout):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as c:
        c.sendall(data)
        out = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            out += chunk
    head = out.split(b"\r\n\r\n", 1)[0]
    return int(head.split(b" ", 2)[1]), head, out


def burst(port, source="127.0.0.1"):
    """Half a request, then close, as fast as possible: (sent, seconds)."""
    t0, sent = time.monotonic(), 0
    while sent < BURST_MAX and time.monotonic() - t0 < BURST_SECONDS:
        sk = socket.socket()
        sk.settimeout(1)
        try:
            sk.bind((source, 0))
            sk.connect(("127.0.0.1", port))
            sk.send(HALF)
            sent += 1
        except OSError:
            pass
        finally:
            sk.close()
    return sent, time.monotonic() - t0


def test_half_requests_then_close_do_not_lock_clients_out(make_server):
    # Each burst socket is closed at once, so this process needs few descriptors itself.
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert soft >= 64, "RLIMIT_NOFILE is %d" % soft
    s = limited_server(make_server)
    pid = s.proc.pid
    fresh_request(s.port)
    fds0 = open_fds(pid)
    sent, took = burst(s.port)
    slots = SERVER_NOFILE - 128
    assert sent > 2 * slots, "only %d connects in %.1fs: the burst proves nothing" % (sent, took)
    assert fresh_request(s.port) < 5 * apilib.SLOW
    # The half-closed connections are gone within seconds, not at the timeout.
    deadline = time.monotonic() + 5 * apilib.SLOW
    while open_fds(pid) > fds0 + 16 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert open_fds(pid) <= fds0 + 16, "server holds %d descriptors after the burst (%d before)" % (
        open_fds(pid), fds0)
    apilib.raw_get(s.port, b"/healthz")


def test_one_address_cannot_take_every_slot(make_server):
    """max_connections_per_ip: idle connections held open from one address
    stop at the limit; another address still gets in at once."""
    limit = 20
    s = limited_server(make_server, config={"max_connections_per_ip": limit})
    held = []
    try:
        for _ in range(2 * limit):
            sk = socket.socket()
            sk.settimeout(2)
            sk.bind(("127.0.0.2", 0))
            sk.connect(("127.0.0.1", s.port))
            held.append(sk)
        time.sleep(0.5)
        refused = 0
        for sk in held:
            sk.settimeout(0.2)
            try:
                if sk.recv(1) == b"":
                    refused += 1
            except socket.timeout:
                pass
            except ConnectionResetError:
                refused += 1
        assert refused == limit, "%d of %d connections from one address were refused" % (refused, 2 * limit)
        assert fresh_request(s.port) < 5 * apilib.SLOW
    finally:
        for sk in held:
            sk.close()


@pytest.mark.parametrize("bad", [-1, 70000, "64", True])
def test_bad_per_ip_limit_refuses_to_start(make_server, bad):
    s = make_server(config={"max_connections_per_ip": bad}, start=False)
    s.start(expect_ok=False)
    assert s.proc.wait(timeout=10) == 2
    assert "max_connections_per_ip" in s.log_text()
    s.proc = None
    s.log.close()
