from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SLOW_TEST_TIMEOUT = 3 * 3600  # seconds per slow test: the longest learning tests run for tens of minutes


def pytest_collection_modifyitems(items):
    """Slow tests get SLOW_TEST_TIMEOUT instead of pytest.ini's per-test timeout, unless they set their own."""
    for item in items:
        if item.get_closest_marker("slow") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(SLOW_TEST_TIMEOUT))


@pytest.fixture
def project_root() -> Path:
    return PROJECT_ROOT
