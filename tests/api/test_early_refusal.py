"""A large upload refused before its body is read (403, 413, 415) still reaches
the clients people use: Python's http.client and Node's fetch write the whole
body before they read, so the server reads the body away (up to a bound)
before it answers. curl's Expect: 100-continue gets the answer at once."""
import http.client
import json
import os
import shutil
import subprocess

import pytest

BODY = os.urandom(3 << 20)      # a 3 MB "archive"


def python_post(port, path, headers):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("POST", path, body=BODY, headers=headers)
    r = c.getresponse()
    status, ctype, text = r.status, r.getheader("Content-Type"), r.read()
    c.close()
    return status, ctype, json.loads(text)


@pytest.mark.parametrize("case", ["403", "413", "415"])
def test_python_http_client_reads_the_refusal(make_server, case):
    s = make_server(config={"max_upload_bytes": 1 << 20} if case == "413" else None)
    token = s.token("reader" if case == "403" else "admin")
    headers = {"Authorization": "Bearer " + token,
               "Content-Type": "text/plain" if case == "415" else "application/zip"}
    for _ in range(3):   # it used to fail 3 of 3 times (BrokenPipe)
        status, ctype, doc = python_post(s.port, "/api/v1/snapshots/import", headers)
        assert status == int(case), doc
        assert ctype.startswith("application/problem+json") and doc["status"] == int(case)
    # The connection's framing held: the server still answers normally.
    status, _, doc = python_post(s.port, "/api/v1/snapshots/import", headers)
    assert status == int(case)


NODE = r"""
const body = Buffer.alloc(3 << 20, 7);
(async () => {
  const out = [];
  for (let i = 0; i < 3; i++) {
    const r = await fetch(process.argv[2], {method: 'POST', body,
      headers: {'Authorization': 'Bearer ' + process.argv[3], 'Content-Type': 'application/zip'}});
    out.push([r.status, r.headers.get('content-type'), await r.json()]);
  }
  console.log(JSON.stringify(out));
})().catch(e => { console.log(JSON.stringify({error: String(e), cause: String(e.cause)})); });
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_fetch_reads_the_refusal(make_server, tmp_path):
    s = make_server()
    script = tmp_path / "post.js"
    script.write_text(NODE)
    r = subprocess.run(["node", str(script), "http://127.0.0.1:%d/api/v1/snapshots/import" % s.port,
                        s.token("reader")], capture_output=True, text=True, timeout=120)
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert isinstance(got, list), got
    for status, ctype, doc in got:
        assert status == 403 and ctype.startswith("application/problem+json"), (status, doc)
        assert "role" in doc["detail"]


def test_curl_with_expect_is_answered_without_sending_the_body(make_server, tmp_path):
    s = make_server()
    f = tmp_path / "a.zip"
    f.write_bytes(BODY)
    r = subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code} %{size_upload}",
                        "-H", "Authorization: Bearer " + s.token("reader"),
                        "-H", "Content-Type: application/zip", "-H", "Expect: 100-continue",
                        "--data-binary", "@" + str(f),
                        "http://127.0.0.1:%d/api/v1/snapshots/import" % s.port],
                       capture_output=True, text=True, timeout=60)
    code, uploaded = r.stdout.strip().splitlines()[-1].split()
    assert code == "403"
    assert int(float(uploaded)) < len(BODY), "curl sent the whole body although it asked first"
