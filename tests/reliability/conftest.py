"""The etcd fault lab saves its logs and diagnostics when one of its tests fails, as the
Calico labs do (tests/calico/conftest.py's failure tracking, applied here too)."""

from tests.calico.conftest import pytest_runtest_makereport

__all__ = ["pytest_runtest_makereport"]
