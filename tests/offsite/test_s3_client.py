"""The S3 client alone (offsite/s3.c, no store, no catalog): the C unit test
tests/unit/test_s3.c, run against this suite's S3 server behind the proxy
that checks every signature and body checksum, does a put/head/list/get/delete
round trip (single PUT, multipart, bytes)."""
import os
import subprocess

from conftest import ACCESS_KEY, BUCKET, REPO, SECRET_KEY, TIMEOUT

PREFIX = "t-s3-client/"


def unit_binary():
    """build/test/unit/test_s3, built when missing (make asan does not build unit tests)."""
    path = os.path.join(REPO, "build", "test", "unit", "test_s3")
    if not os.access(path, os.X_OK):
        subprocess.run(["make", "--no-print-directory", "build/test/unit/test_s3"], cwd=REPO,
                       check=True, capture_output=True, timeout=TIMEOUT)
    return path


def test_the_client_alone_round_trips_against_the_s3_server(s3):
    env = dict(os.environ, STATESNAP_TEST_S3_ENDPOINT="http://127.0.0.1:%d" % s3.port,
               STATESNAP_TEST_S3_BUCKET=BUCKET, STATESNAP_TEST_S3_REGION="eu-test-1",
               STATESNAP_TEST_S3_ACCESS_KEY=ACCESS_KEY, STATESNAP_TEST_S3_SECRET_KEY=SECRET_KEY,
               STATESNAP_TEST_S3_PREFIX=PREFIX)
    start = len(s3.requests())
    r = subprocess.run([unit_binary()], capture_output=True, text=True, timeout=TIMEOUT, env=env)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "# s3 round trip: ok" in out and "SKIPPED" not in out, out
    mine = [q for q in s3.requests()[start:] if PREFIX in q["url"] or
            "prefix=" + PREFIX.replace("/", "%2F") in q["url"]]
    methods = {q["method"] for q in mine}
    assert {"PUT", "HEAD", "GET", "POST", "DELETE"} <= methods, methods
    assert all(q.get("verified") for q in mine), [q for q in mine if not q.get("verified")]
    assert s3.objects(PREFIX) == {}
