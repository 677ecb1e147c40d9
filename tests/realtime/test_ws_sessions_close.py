"""Revoking credentials closes the sockets that stand on them."""

import pytest
from knox.models import AuthToken

from realtime import broadcast, events
from tests.conftest import token_for
from tests.realtime.support import in_thread, next_frame

pytestmark = pytest.mark.django_db(transaction=True)


async def close_code(comm, *, within: float = 3) -> int:
    """Skip frames until the server closes the socket; its close code."""
    while True:
        message = await comm.receive_output(timeout=within)
        if message["type"] == "websocket.close":
            return message.get("code")


async def test_closing_one_tokens_sessions_leaves_the_users_other_token_connected(ws, user_with_token):
    user, token = await user_with_token()
    other_token = await in_thread(token_for, user)
    revoked = await ws(token)
    kept = await ws(other_token)
    digest = await in_thread(lambda: AuthToken.objects.get(token_key=token[:15]).digest)

    await in_thread(broadcast.sessions_close, user_id=str(user.pk), token_digest=digest)

    assert await close_code(revoked) == events.CLOSE_UNAUTHENTICATED
    await kept.send_json_to({"type": "ping"})
    assert await next_frame(kept) == {"type": "pong"}


async def test_closing_all_sessions_closes_every_socket_of_the_user_only(ws, user_with_token):
    user, token = await user_with_token()
    _bystander, bystander_token = await user_with_token()
    first, second = await ws(token), await ws(await in_thread(token_for, user))
    other = await ws(bystander_token)

    await in_thread(broadcast.sessions_close, user_id=str(user.pk))

    assert await close_code(first) == events.CLOSE_UNAUTHENTICATED
    assert await close_code(second) == events.CLOSE_UNAUTHENTICATED
    await other.send_json_to({"type": "ping"})
    assert await next_frame(other) == {"type": "pong"}
