"""CLI operations are visible in /metrics (issue 17 item 5): a failed
`statesnap restore --yes` run by the CLI (another process) is counted in
statesnap_operations_total{op="restore",result="failure"} of a running
server, so StatesnapRestoreFailed fires; the counts come from the audit
chain's per-operation totals in the catalog (kept by a trigger), not from
the process that ran them, and the server's own API operations are not
counted twice."""
import os
import re
import time

import apilib


def metric(text, name):
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    assert m, "no sample %s in:\n%s" % (name, text)
    return float(m.group(1))


def scrape_until(anon, name, want):
    """Scrape until the sample reaches want. The catalog figures are re-read
    at most once a second per worker, so this may take a scrape or two; the
    deadline only bounds a broken server."""
    deadline = time.monotonic() + 30 * apilib.SLOW
    while True:
        text = anon.get("/metrics", expect=200).text
        if metric(text, name) >= want or time.monotonic() > deadline:
            return text
        time.sleep(0.2)


FAIL = 'statesnap_operations_total{op="restore",result="failure"}'
OK = 'statesnap_operations_total{op="restore",result="success"}'


def test_a_cli_restore_failure_shows_in_the_servers_metrics(make_server):
    s = make_server()
    anon = s.api(None)
    writer = s.api(s.token("writer"))
    writer.create("api-made")
    rc, out, err = s.cli("create", "--name", "cli-made")
    assert rc == 0, err
    before = anon.get("/metrics", expect=200).text
    assert metric(before, FAIL) == 0 and metric(before, OK) == 0
    # Damage the archive: the CLI restore verifies it and refuses (exit 1).
    path = os.path.join(s.store, "cli-made.zip")
    data = bytearray(open(path, "rb").read())
    mid = len(data) // 2
    data[mid:mid + 64] = bytes(b ^ 0xFF for b in data[mid:mid + 64])
    open(path, "wb").write(bytes(data))
    rc, out, err = s.cli("restore", "cli-made", "--yes")
    assert rc == 1, (rc, out, err)
    text = scrape_until(anon, FAIL, 1)
    assert metric(text, FAIL) == 1, text
    assert metric(text, OK) == 0
    # A CLI restore that works counts as a success; the API's own create is
    # counted once (by the server), the CLI's create once (from the catalog).
    rc, out, err = s.cli("restore", "api-made", "--yes")
    assert rc == 0, err
    text = scrape_until(anon, OK, 1)
    assert metric(text, OK) == 1 and metric(text, FAIL) == 1
    creates = metric(text, 'statesnap_operations_total{op="create",result="success"}')
    # api-made (API), cli-made (CLI) and the successful restore's safety snapshot (CLI).
    assert creates == 3, text
    assert "whichever process ran them" in text
