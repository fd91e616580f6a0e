"""A pytest plugin (`-p strict_ci`, with Tests/support on the path) under which, when CI=true,
nothing a run leaves out passes silently: a skipped test or module (`pytest.skip`,
`importorskip` on a broken dependency, a skip marker) fails, and so does an xfail that is not
strict (its failure would hide a regression, its pass a fix). Strict xfails keep their meaning."""
import os

import pytest

ACTIVE = os.environ.get("CI") == "true"


def _strict(item: pytest.Item) -> bool:
    marker = item.get_closest_marker("xfail")
    return marker is not None and marker.kwargs.get("strict", item.config.getini("xfail_strict"))


def _reason(longrepr) -> str:
    """A skip's reason: its report holds (path, line, reason)."""
    return longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)


def _fail(report, why: str) -> None:
    report.outcome = "failed"
    report.longrepr = f"{why} (CI=true lets nothing pass unrun)"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if not ACTIVE:
        return
    if hasattr(report, "wasxfail"):
        if not _strict(item):
            verdict = "passed" if report.passed else "failed"
            _fail(report, f"non-strict xfail {verdict}: {report.wasxfail or 'no reason'}")
            del report.wasxfail
    elif report.skipped:
        _fail(report, _reason(report.longrepr))


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    outcome = yield
    report = outcome.get_result()
    if ACTIVE and report.skipped:
        _fail(report, _reason(report.longrepr))
