import contextlib

import pytest

from realtime import broadcast
from tests.conftest import token_for
from tests.realtime.support import WS_PATH, bearer, communicator, in_thread, next_frame


@pytest.fixture(autouse=True)
def _realtime_settings(settings):
    settings.PRESENCE_SWEEP_SECONDS = 0.2
    broadcast.delivery._cooldown_until = 0.0  # no cool-down left over from another test
    yield
    broadcast.delivery._cooldown_until = 0.0


@pytest.fixture
def user_with_token(make_user):
    """await user_with_token(username=None, **extra) -> (user, token), made in a thread
    (the ORM may not run on the test's event loop)."""

    def make_sync(username=None, **extra):
        user = make_user(username, **extra)
        return user, token_for(user)

    async def make(username=None, **extra):
        return await in_thread(make_sync, username, **extra)

    return make


@pytest.fixture
async def ws():
    """ws(token) -> a connected WebsocketCommunicator that has received its hello frame
    (as `.hello`); every socket opened here is disconnected at teardown."""
    opened = []

    async def open_socket(token=None, *, headers=None, path=WS_PATH, hello=True):
        comm = communicator(headers=headers if headers is not None else bearer(token), path=path)
        opened.append(comm)
        connected, _ = await comm.connect(timeout=5)
        assert connected
        if hello:
            frame = await next_frame(comm, within=5)
            assert frame["type"] == "hello", frame
            comm.hello = frame
        return comm

    yield open_socket
    for comm in opened:
        with contextlib.suppress(Exception):
            await comm.disconnect(timeout=3)
