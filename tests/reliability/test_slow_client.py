"""A slow client: the start of a request sent byte by byte, then silence
longer than the connection timeout. The server closes that connection (no
answer), and a fresh client gets /healthz all along. The client was started
with the session (conftest.slow_client) so this wait overlaps the rest."""
import rellib


def test_slow_client_is_closed_and_others_are_served(slow_client):
    c = slow_client
    c.join(c.timeout + 60)
    assert not c.is_alive(), "the slow client's check did not finish"
    assert c.error is None, c.error
    assert c.closed_after is not None, \
        "a silent half-sent request was still open %ds after its last byte" % (c.timeout + 30)
    assert c.closed_after >= c.timeout - 2, "closed after only %.1fs" % c.closed_after
    assert c.closed_after <= c.timeout + 30, c.closed_after
    assert not c.answer.startswith(b"HTTP/1.1 2"), c.answer[:200]
    assert c.probes and all(status == 200 for _, status in c.probes), c.probes
    # Generous: the machine may be busy with the load test meanwhile.
    assert max(t for t, _ in c.probes) < 10 * rellib.SLOW, c.probes
    rellib.healthz_ok(c.server.port)
