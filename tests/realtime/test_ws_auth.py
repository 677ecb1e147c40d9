"""Who may open /ws/v1/: tokens, tickets, origins."""

import asyncio

import pytest
from knox.models import AuthToken

from realtime import events, tickets
from slackclone.redis_client import get_redis
from tests.realtime.support import ORIGIN, bearer, closed_with, communicator, in_thread

pytestmark = pytest.mark.django_db(transaction=True)


async def assert_refused_with_4401(headers, path="/ws/v1/"):
    comm = communicator(headers=headers, path=path)
    try:
        connected, _ = await comm.connect(timeout=5)
        assert connected, "accepted first, so that a browser sees the close code"
        assert await closed_with(comm) == events.CLOSE_UNAUTHENTICATED
    finally:
        await comm.disconnect()


async def test_a_valid_bearer_token_gets_the_hello_frame(ws, user_with_token):
    user, token = await user_with_token()

    comm = await ws(token)

    assert comm.hello == {"type": "hello", "user_id": str(user.pk), "connection_id": comm.hello["connection_id"]}
    assert isinstance(comm.hello["connection_id"], str) and comm.hello["connection_id"]


async def test_each_connection_has_its_own_connection_id(ws, user_with_token):
    _user, token = await user_with_token()

    first, second = await ws(token), await ws(token)

    assert first.hello["connection_id"] != second.hello["connection_id"]


async def test_no_credential_is_closed_with_4401():
    await assert_refused_with_4401([ORIGIN])


@pytest.mark.parametrize(
    "authorization",
    [b"Bearer not-a-token", b"Bearer", b"Token abc", b"Bearer a b", b"bearer " + b"x" * 200],
)
async def test_a_bad_authorization_header_is_closed_with_4401(authorization):
    await assert_refused_with_4401([(b"authorization", authorization), ORIGIN])


async def test_a_revoked_token_is_closed_with_4401(user_with_token):
    user, token = await user_with_token()
    await in_thread(lambda: AuthToken.objects.filter(user=user).delete())

    await assert_refused_with_4401(bearer(token))


async def test_an_inactive_users_token_is_closed_with_4401(user_with_token):
    user, token = await user_with_token()
    user.is_active = False
    await in_thread(user.save)

    await assert_refused_with_4401(bearer(token))


async def test_a_bad_header_is_not_rescued_by_a_valid_ticket(user_with_token):
    user, _token = await user_with_token()
    ticket = await in_thread(tickets.ticket_issue, user=user)

    await assert_refused_with_4401([(b"authorization", b"Bearer nope"), ORIGIN], path=f"/ws/v1/?ticket={ticket}")


async def test_a_ticket_from_the_api_opens_a_socket_once(ws, user_with_token, client_for):
    user, _token = await user_with_token()
    client = await in_thread(client_for, user)
    response = await in_thread(client.post, "/api/v1/realtime/ticket")
    ticket = response.json()["ticket"]

    comm = await ws(headers=[ORIGIN], path=f"/ws/v1/?ticket={ticket}")

    assert comm.hello["user_id"] == str(user.pk)
    # single use: the same ticket again is refused
    await assert_refused_with_4401([ORIGIN], path=f"/ws/v1/?ticket={ticket}")


async def test_an_unknown_ticket_is_closed_with_4401():
    await assert_refused_with_4401([ORIGIN], path="/ws/v1/?ticket=made-up")


async def test_an_overlong_ticket_is_closed_with_4401():
    await assert_refused_with_4401([ORIGIN], path="/ws/v1/?ticket=" + "a" * 500)


async def test_an_expired_ticket_is_closed_with_4401(user_with_token):
    user, _token = await user_with_token()
    ticket = await in_thread(tickets.ticket_issue, user=user)
    get_redis().pexpire(tickets._key(ticket), 1)
    await asyncio.sleep(0.01)

    await assert_refused_with_4401([ORIGIN], path=f"/ws/v1/?ticket={ticket}")


async def test_a_ticket_dies_with_the_token_it_was_issued_for(user_with_token, client_for):
    user, token = await user_with_token()
    client = client_for()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    ticket = (await in_thread(client.post, "/api/v1/realtime/ticket")).json()["ticket"]
    await in_thread(lambda: AuthToken.objects.filter(user=user).delete())  # logout

    await assert_refused_with_4401([ORIGIN], path=f"/ws/v1/?ticket={ticket}")


async def test_a_ticket_of_a_deactivated_user_is_closed_with_4401(user_with_token):
    user, _token = await user_with_token()
    ticket = await in_thread(tickets.ticket_issue, user=user)
    user.is_active = False
    await in_thread(user.save)

    await assert_refused_with_4401([ORIGIN], path=f"/ws/v1/?ticket={ticket}")


@pytest.mark.parametrize("origin", [b"http://evil.example.com", b"https://127.0.0.1.evil.example"])
async def test_a_foreign_origin_is_refused_at_the_handshake(user_with_token, origin):
    _user, token = await user_with_token()
    comm = communicator(headers=[(b"authorization", f"Bearer {token}".encode()), (b"origin", origin)])
    try:
        connected, _code = await comm.connect(timeout=5)
        assert not connected
    finally:
        await comm.disconnect()


async def test_an_allowed_origin_with_a_port_is_accepted(ws, user_with_token):
    _user, token = await user_with_token()

    comm = await ws(headers=[(b"authorization", f"Bearer {token}".encode()), (b"origin", b"http://localhost:5173")])

    assert comm.hello["type"] == "hello"


async def test_another_websocket_path_is_closed_with_4404(user_with_token):
    _user, token = await user_with_token()
    comm = communicator(headers=bearer(token), path="/ws/v2/")
    try:
        connected, _ = await comm.connect(timeout=5)
        assert connected
        assert await closed_with(comm) == events.CLOSE_NOT_FOUND
    finally:
        await comm.disconnect()


async def test_a_handshake_without_an_origin_is_accepted_for_non_browser_clients(user_with_token):
    """Browsers always send Origin; a client without one is not a page that could be
    forged cross-site, and it still needs a valid token."""
    _user, token = await user_with_token()
    comm = communicator(headers=[(b"authorization", f"Bearer {token}".encode())])
    try:
        connected, _code = await comm.connect(timeout=5)
        assert connected
        assert (await comm.receive_json_from(timeout=5))["type"] == "hello"
    finally:
        await comm.disconnect()
