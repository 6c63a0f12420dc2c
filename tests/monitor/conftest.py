"""Monitor tests open real sockets: each ends with them closed and counted out, as in realtime."""

from tests.realtime.conftest import _close_sockets  # noqa: F401 - an autouse fixture
