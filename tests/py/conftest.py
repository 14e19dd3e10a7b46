"""Fixtures: every test gets its own `ferrocache up` (own data dir, port and endpoint CIDR),
torn down by pid, so tests can run in parallel under pytest-xdist."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from harness import Ferrocache  # noqa: E402


@pytest.fixture
def fc(request):
    """A running Ferrocache; stopped and cleaned (nodes killed by pid) after the test.

    On failure the tail of its log is attached to the test report."""
    instance = Ferrocache()
    try:
        instance.start()
    except Exception:
        instance.close()
        raise
    yield instance
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        sys.stderr.write(f"\n--- ferrocache log ({request.node.nodeid}) ---\n"
                         + instance.log_tail() + "\n")
    instance.close()
    assert not instance.server_errors, (
        "the API answered with a 5xx or HTML (client mistakes must be 4xx XML):\n"
        + "\n".join(instance.server_errors))


@pytest.fixture
def ec(fc):
    """A boto3 ElastiCache client for `fc` (no retries: a 5xx shows at once)."""
    return fc.client()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
