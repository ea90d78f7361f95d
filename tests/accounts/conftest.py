"""Fixtures for the accounts suites: the browser fixtures of tests/e2e for the tokens page."""

from tests.e2e.conftest import browser_page, chromium  # noqa: F401  (re-exported fixtures)
