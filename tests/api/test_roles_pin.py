"""Who may pin and unpin (issue #16, item 4): a `write` token (CI) may pin, but
taking a pin away is what lets the next prune delete a snapshot, and deleting
is `admin`, so unpinning is `admin` too. Every role x PATCH pin true/false on
a snapshot an admin pinned."""
import pytest

TABLE = [
    # role,   pin,   status, pinned after
    ("reader", True, 403, True),
    ("reader", False, 403, True),
    ("writer", True, 200, True),
    ("writer", False, 403, True),
    ("admin", True, 200, True),
    ("admin", False, 200, False),
]


@pytest.mark.parametrize("role,pin,status,pinned", TABLE)
def test_patch_pin_by_role(server, admin, role, pin, status, pinned):
    admin.create("keep", pin=True, labels={"k": "v"})
    who = server.api(server.token(role))
    r = who.patch("/api/v1/snapshots/keep", {"pin": pin, "labels": {"k": "changed"}}, expect=status)
    snap = admin.get("/api/v1/snapshots/keep", expect=200).json()
    assert snap["pinned"] is pinned
    if status == 403:
        assert r.json()["status"] == 403
        # Refused before anything changed: the labels in the same request too.
        assert snap["labels"] == {"k": "v"}
    else:
        assert snap["labels"] == {"k": "changed"}


def test_write_cannot_get_a_pinned_snapshot_pruned(server, admin, writer):
    """The attack the issue describes: unpin with the CI token, then prune."""
    admin.create("precious", pin=True)
    for i in range(6):
        writer.create("filler_%d" % i)
    writer.patch("/api/v1/snapshots/precious", {"pin": False}, expect=403)
    admin.post("/api/v1/prune", {}, expect=200)
    assert admin.get("/api/v1/snapshots/precious", expect=200).json()["pinned"] is True


def test_dev_mode_may_unpin(make_server):
    s = make_server(tokens={})
    api = s.api(None)
    api.create("dev_pinned", pin=True)
    assert api.patch("/api/v1/snapshots/dev_pinned", {"pin": False}, expect=200).json()["pinned"] is False
