"""Helpers for WebSocket tests over the real ASGI application (auth middleware, origin
validator, router) and the real Redis channel layer."""

import asyncio
import json

from asgiref.testing import ApplicationCommunicator
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from slackclone.asgi import application

ORIGIN = (b"origin", b"http://127.0.0.1")
WS_PATH = "/ws/v1/"

# Frames that arrive as a side effect of other tests' actions (presence of users
# connecting) and that most tests do not look at.
NOISE = ("presence.changed",)


def bearer(token: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {token}".encode()), ORIGIN]


async def in_thread(func, /, *args, **kwargs):
    """Run ORM code from an async test (its own thread and connection; transaction=True tests)."""
    return await database_sync_to_async(func, thread_sensitive=False)(*args, **kwargs)


class Communicator(WebsocketCommunicator):
    """Channels' communicator replaces `close_old_connections` with a no-op while it
    runs the application (for TestCase, whose transaction must survive). These tests
    are transactional, so the consumer closes its DB connections as in production;
    otherwise every worker thread's connection outlives the test (and the test
    database cannot be dropped)."""

    async def send_input(self, message):
        return await ApplicationCommunicator.send_input(self, message)

    async def receive_output(self, timeout=1):  # noqa: ASYNC109 (the base signature)
        return await ApplicationCommunicator.receive_output(self, timeout)


def communicator(*, headers, path: str = WS_PATH) -> WebsocketCommunicator:
    return Communicator(application, path, headers=headers)


async def next_frame(comm: WebsocketCommunicator, *, within: float = 3, skip=NOISE) -> dict:
    """The next frame whose type is not in `skip`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError("no frame arrived in time")
        frame = json.loads(await comm.receive_from(timeout=remaining))
        if frame.get("type") not in skip:
            return frame


async def _frames_matching(comm: WebsocketCommunicator, wanted, count: int, *, within: float, what: str) -> list:
    """The next `count` frames for which wanted(frame) is true, skipping the others."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    found = []
    while len(found) < count:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError(f"got {len(found)} of {count} {what}")
        frame = json.loads(await comm.receive_from(timeout=remaining))
        if wanted(frame):
            found.append(frame)
    return found


async def frames_of_type(comm: WebsocketCommunicator, frame_type: str, count: int, *, within: float = 5) -> list:
    """The next `count` frames of `frame_type`, skipping every other type."""
    return await _frames_matching(
        comm, lambda frame: frame.get("type") == frame_type, count, within=within, what=f"{frame_type} frames"
    )


async def no_frame(comm: WebsocketCommunicator, *, within: float = 0.3, skip=NOISE) -> None:
    """Assert that nothing (but `skip` frames) arrives within `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            return
        if await comm.receive_nothing(timeout=remaining):
            return
        frame = json.loads(await comm.receive_from())
        assert frame.get("type") in skip, f"unexpected frame {frame}"


async def closed_with(comm: WebsocketCommunicator, *, within: float = 3) -> int:
    """The close code the server sent (after accepting)."""
    message = await comm.receive_output(timeout=within)
    assert message["type"] == "websocket.close", message
    return message.get("code")


async def presence_of(comm: WebsocketCommunicator, user_id: str, count: int = 1, *, within: float = 5) -> list:
    """The next `count` presence.changed frames about `user_id` (a socket also hears its
    own user's presence, and other users')."""

    def about_user(frame: dict) -> bool:
        return frame.get("type") == "presence.changed" and frame["user_id"] == str(user_id)

    return await _frames_matching(comm, about_user, count, within=within, what=f"presence changes of {user_id}")


async def no_presence_of(comm: WebsocketCommunicator, user_id: str, *, within: float = 0.5) -> None:
    """Assert that no presence.changed about `user_id` arrives within `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while (remaining := deadline - loop.time()) > 0:
        if await comm.receive_nothing(timeout=remaining):
            return
        frame = json.loads(await comm.receive_from())
        assert not (frame.get("type") == "presence.changed" and frame["user_id"] == str(user_id)), frame
