"""A `server` fixture: `mailstack serve --ephemeral` for each test (tests/clients/mailstack_test.py),
the binary from $MAILSTACK_BIN (default target/debug/mailstack)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "clients"))
from mailstack_test import Server  # noqa: E402


@pytest.fixture
def server():
    with Server.start(os.environ.get("MAILSTACK_BIN", "target/debug/mailstack")) as s:
        yield s
