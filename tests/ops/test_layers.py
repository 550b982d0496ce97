"""scripts/check-layers.py catches what it promises: an include or a call that
runs up a layer, two modules tied in a circle, an operation using another, a
file too long; and passes a tree that keeps the plan. Each case builds a small
tree of C files in a temp folder, compiles them with cc, and runs the checker
there (it reads the tree it sits in)."""
import os
import shutil
import subprocess

import opslib

CHECKER = os.path.join(opslib.REPO, "scripts", "check-layers.py")


def tree(tmp_path, files):
    """Write FILES {path: text} under tmp_path with the checker, compile each .c
    into build/test/PATH.o, and return the checker's (exit code, output)."""
    os.makedirs(tmp_path / "scripts")
    shutil.copy(CHECKER, tmp_path / "scripts" / "check-layers.py")
    for path, text in files.items():
        p = tmp_path / path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    for path in files:
        if path.endswith(".c"):
            obj = tmp_path / "build" / "test" / (path[:-2] + ".o")
            obj.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["cc", "-c", "-o", str(obj), str(tmp_path / path)], check=True)
    r = subprocess.run(["python3", str(tmp_path / "scripts" / "check-layers.py")],
                       capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


CLEAN = {
    "common/err.h": "int err_x(void);\n",
    "common/err.c": '#include "err.h"\nint err_x(void) { return 1; }\n',
    "engine/store.h": "int store_y(void);\n",
    "engine/store.c": '#include "store.h"\n#include "../common/err.h"\n'
                      "int store_y(void) { return err_x(); }\n",
    "engine/op_create.c": '#include "store.h"\nint engine_create(void);\n'
                          "int engine_create(void) { return store_y(); }\n",
    "server/main.c": "int engine_create(void);\nint main(void) { return engine_create(); }\n",
}


def test_a_tree_that_keeps_the_plan_passes(tmp_path):
    rc, out = tree(tmp_path, CLEAN)
    assert rc == 0, out
    assert out.strip().splitlines()[-1] == "LAYERS: 4 passed, 0 failed", out


def test_an_include_up_a_layer_fails(tmp_path):
    files = dict(CLEAN)
    files["common/err.c"] = '#include "err.h"\n#include "../engine/store.h"\nint err_x(void) { return 1; }\n'
    rc, out = tree(tmp_path, files)
    assert rc == 1
    assert "common/err.c includes engine/store.h" in out, out


def test_a_call_up_a_layer_fails_without_any_include(tmp_path):
    files = dict(CLEAN)
    files["common/err.c"] = '#include "err.h"\nint store_y(void);\nint err_x(void) { return store_y(); }\n'
    rc, out = tree(tmp_path, files)
    assert rc == 1
    assert "common/err.c uses store_y from engine/store.c" in out, out


def test_siblings_on_one_layer_may_not_use_each_other(tmp_path):
    files = dict(CLEAN)
    files["cli/a.c"] = "int routes_b(void);\nint cli_a(void);\nint cli_a(void) { return routes_b(); }\n"
    files["routes/b.c"] = "int routes_b(void);\nint routes_b(void) { return 2; }\n"
    rc, out = tree(tmp_path, files)
    assert rc == 1
    assert "cli/a.c uses routes_b from routes/b.c" in out, out


def test_two_modules_in_a_circle_fail(tmp_path):
    files = dict(CLEAN)
    files["engine/audit.h"] = '#include "store.h"\nint audit_z(void);\n'
    files["engine/audit.c"] = '#include "audit.h"\nint audit_z(void) { return store_y(); }\n'
    files["engine/store.c"] = ('#include "store.h"\n#include "audit.h"\n'
                               "int store_y(void) { return 0; }\nint store_w(void);\n"
                               "int store_w(void) { return audit_z(); }\n")
    rc, out = tree(tmp_path, files)
    assert rc == 1
    assert "modules include each other: engine/audit <-> engine/store" in out, out
    assert "modules call each other: engine/audit <-> engine/store" in out, out


def test_an_operation_calling_an_operation_or_a_primitive_calling_one_fails(tmp_path):
    files = dict(CLEAN)
    files["engine/op_restore.c"] = ("int engine_create(void);\nint engine_restore(void);\n"
                                    "int engine_restore(void) { return engine_create(); }\n")
    files["engine/recover.c"] = ("int engine_restore(void);\nint recover_all(void);\n"
                                 "int recover_all(void) { return engine_restore(); }\n")
    rc, out = tree(tmp_path, files)
    assert rc == 1
    assert "engine/op_restore.c uses engine_create from another operation, engine/op_create.c" in out, out
    assert "engine/recover.c (a primitive) uses engine_restore from the operation engine/op_restore.c" in out, out


def test_a_long_file_fails_with_its_count(tmp_path):
    files = dict(CLEAN)
    files["engine/store.c"] = CLEAN["engine/store.c"] + "\n" * 900
    rc, out = tree(tmp_path, files)
    assert rc == 1
    assert "engine/store.c has 903 lines (over 800" in out, out
