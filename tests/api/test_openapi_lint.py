"""openapi.yaml passes Redocly's linter (tests/api/lint-openapi.sh)."""
import os
import subprocess

import apilib


def test_redocly_lint():
    script = os.path.join(apilib.HERE, "lint-openapi.sh")
    r = subprocess.run([script], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]


def test_every_operation_has_an_operation_id_and_documents_its_errors():
    for path, item in apilib.SPEC["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            assert op.get("operationId"), (method, path)
            if op.get("security", apilib.SPEC["security"]) == apilib.SPEC["security"]:
                assert {"401", "403"} <= set(op["responses"]), (method, path)
