"""GET /api/v1/diff: two snapshots, and a snapshot against the live root."""
import apilib


def test_diff_two_snapshots(server, writer, reader):
    writer.create("d1")
    apilib.make_state(server.root, "--advance", "5")
    writer.create("d2")
    d = reader.get("/api/v1/diff?from=d1&to=d2", expect=200).json()
    assert d["from"]["name"] == "d1" and d["to"]["name"] == "d2"
    status = {f["path"]: f["status"] for f in d["files"]}
    assert status["state/hash_chain.jsonl"] == "modified"
    assert status["config/config.json"] == "unchanged"
    assert d["hash_chain"]["relation"] == "extends" and d["hash_chain"]["lines_added"] == 5
    assert d["summary"]["modified"] >= 1


def test_diff_against_live(server, writer, reader):
    writer.create("l1")
    apilib.make_state(server.root, "--advance", "2")
    d = reader.get("/api/v1/diff", params={"from": "l1", "to": "live"}, expect=200).json()
    assert d["to"]["name"] == "live"
    assert d["hash_chain"]["lines_added"] == 2


def test_diff_errors(writer, reader):
    writer.create("only")
    reader.get("/api/v1/diff?from=only", expect=400)
    reader.get("/api/v1/diff?to=only", expect=400)
    reader.get("/api/v1/diff?from=-x&to=only", expect=400)
    reader.get("/api/v1/diff?from=only&to=missing", expect=404)
    reader.get("/api/v1/diff?from=missing&to=live", expect=404)
