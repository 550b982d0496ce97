"""Crash-safety suite: shares snaplib with the CLI tests and reports how many
kill points it exercised."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "cli"))

KILLED = {"passed": 0, "failed": 0}


def pytest_runtest_logreport(report):
    test = report.nodeid.split("::")[-1]
    kill_test = test.startswith(("test_kill_point[", "test_create_killed_from_outside[",
                                 "test_restore_killed_from_outside["))
    if report.when == "call" and kill_test and test != "test_kill_point[setup-failed]":
        KILLED["passed" if report.passed else "failed"] += 1


def pytest_terminal_summary(terminalreporter):
    try:
        from test_audit_kill import RANDOM_KILLS
        if RANDOM_KILLS["kills"]:
            terminalreporter.write_line("random kills around commits: %(kills)d, audit file left behind "
                                        "(a crash, reported as such) %(behind)d, false alarms of "
                                        "tampering %(tampering)d" % RANDOM_KILLS)
    except ImportError:
        pass
    n = KILLED["passed"] + KILLED["failed"]
    terminalreporter.write_line("kill points exercised: %d (%d survived cleanly, %d did not)"
                                % (n, KILLED["passed"], KILLED["failed"]))
