"""End to end: real WebSocket clients against two server processes sharing Redis."""

import asyncio
import itertools
import json
import signal
import time

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus

from channels_app import services as channel_services
from realtime import events
from tests.conftest import token_for
from tests.e2e.conftest import ORIGIN, ROOT
from tests.realtime.support import in_thread

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

_names = itertools.count(1)


async def user_and_token(make_user):
    def make():
        user = make_user()
        return user, token_for(user)

    return await in_thread(make)


async def channel_of(owner, *members) -> str:
    channel = await in_thread(channel_services.channel_create, user=owner, name=f"e2e-{next(_names)}")
    for member in members:
        await in_thread(channel_services.channel_join, user=member, channel_id=channel.pk)
    return str(channel.pk)


def open_socket(server, token: str | None = None, *, query: str = "", origin: str = ORIGIN):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return connect(server.ws + query, additional_headers=headers, origin=origin, open_timeout=10)


async def receive(ws, *, within: float = 5) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), within))


async def receive_type(ws, frame_type: str, *, count: int = 1, within: float = 10) -> list[dict]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    found = []
    while len(found) < count:
        frame = await receive(ws, within=max(0.01, deadline - loop.time()))
        if frame["type"] == frame_type:
            found.append(frame)
    return found


async def services_sh(*args: str) -> None:
    process = await asyncio.create_subprocess_exec(str(ROOT / "scripts/services.sh"), *args)
    assert await process.wait() == 0


async def presence_of(ws, user, *, within: float = 10) -> dict:
    """The next presence.changed about `user` (a socket also hears its own user's)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        frame = (await receive_type(ws, "presence.changed", within=max(0.01, deadline - loop.time())))[0]
        if frame["user_id"] == str(user.pk):
            return frame


async def hello(ws) -> dict:
    frame = await receive(ws)
    assert frame["type"] == "hello"
    return frame


async def test_a_message_sent_through_one_process_reaches_a_socket_on_the_other(servers, make_user):
    a, b = servers
    alice, alice_token = await user_and_token(make_user)
    bob, bob_token = await user_and_token(make_user)
    channel_id = await channel_of(alice, bob)

    async with open_socket(a, alice_token) as alice_ws, open_socket(b, bob_token) as bob_ws:
        await hello(alice_ws)
        assert (await hello(bob_ws))["user_id"] == str(bob.pk)
        await alice_ws.send(
            json.dumps({"type": "message.send", "channel_id": channel_id, "content": "across", "client_msg_id": "x1"})
        )

        ack = (await receive_type(alice_ws, "message.ack"))[0]
        created = (await receive_type(bob_ws, "message.created"))[0]

    assert created["message"] == ack["message"]
    assert created["message"]["content"] == "across"


async def test_messages_from_both_processes_arrive_in_seq_order_everywhere(servers, make_user):
    a, b = servers
    alice, alice_token = await user_and_token(make_user)
    carol, carol_token = await user_and_token(make_user)
    bob, bob_token = await user_and_token(make_user)
    dave, dave_token = await user_and_token(make_user)
    channel_id = await channel_of(alice, carol, bob, dave)
    per_sender = 25

    async with (
        open_socket(a, alice_token) as alice_ws,
        open_socket(b, bob_token) as bob_ws,
        open_socket(a, dave_token) as dave_ws,
        httpx.AsyncClient(base_url=b.http, headers={"Authorization": f"Bearer {carol_token}"}) as carol_http,
    ):
        for ws in (alice_ws, bob_ws, dave_ws):
            await hello(ws)

        async def alice_sends():
            for i in range(per_sender):
                frame = {"type": "message.send", "channel_id": channel_id, "content": f"a{i}", "client_msg_id": f"a{i}"}
                await alice_ws.send(json.dumps(frame))

        async def carol_sends():
            responses = await asyncio.gather(
                *(
                    carol_http.post(f"/api/v1/channels/{channel_id}/messages", json={"content": f"c{i}"})
                    for i in range(per_sender)
                )
            )
            assert {r.status_code for r in responses} == {201}

        await asyncio.gather(alice_sends(), carol_sends())
        bob_got = await receive_type(bob_ws, "message.created", count=2 * per_sender, within=30)
        dave_got = await receive_type(dave_ws, "message.created", count=2 * per_sender, within=30)

    for received in (bob_got, dave_got):
        seqs = [frame["message"]["seq"] for frame in received]
        assert seqs == sorted(seqs)
        assert len(set(seqs)) == len(seqs)
    assert [f["message"]["id"] for f in bob_got] == [f["message"]["id"] for f in dave_got]


async def test_presence_is_shared_by_the_processes(servers, make_user):
    a, b = servers
    alice, alice_token = await user_and_token(make_user)
    bob, bob_token = await user_and_token(make_user)
    await channel_of(alice, bob)

    async with open_socket(b, bob_token) as bob_ws:
        await hello(bob_ws)
        async with open_socket(a, alice_token) as alice_ws:
            await hello(alice_ws)
            online = await presence_of(bob_ws, alice)
            assert (online["user_id"], online["status"]) == (str(alice.pk), "online")
            async with httpx.AsyncClient(base_url=b.http, headers={"Authorization": f"Bearer {bob_token}"}) as http:
                seen = (await http.get("/api/v1/presence", params={"user_ids": str(alice.pk)})).json()
            assert seen["results"][0]["status"] == "online"
        closed_at = time.monotonic()
        offline = await presence_of(bob_ws, alice)

    assert (offline["user_id"], offline["status"]) == (str(alice.pk), "offline")
    assert time.monotonic() - closed_at >= 0.9  # the grace (1 s in test settings)


async def test_a_process_that_dies_does_not_leave_its_users_online(servers, extra_server, make_user):
    a, _b = servers
    doomed = extra_server(PRESENCE_TTL_SECONDS="2")
    alice, alice_token = await user_and_token(make_user)
    bob, bob_token = await user_and_token(make_user)
    await channel_of(alice, bob)

    async with open_socket(a, bob_token) as bob_ws:
        await hello(bob_ws)
        alice_ws = await open_socket(doomed, alice_token)
        await hello(alice_ws)
        assert (await presence_of(bob_ws, alice))["status"] == "online"

        doomed.stop(signal.SIGKILL)  # no close frames, no cleanup
        offline = await presence_of(bob_ws, alice, within=15)

    assert (offline["user_id"], offline["status"]) == (str(alice.pk), "offline")
    async with httpx.AsyncClient(base_url=a.http, headers={"Authorization": f"Bearer {bob_token}"}) as http:
        seen = (await http.get("/api/v1/presence", params={"user_ids": str(alice.pk)})).json()
    assert seen["results"][0]["status"] == "offline"


async def test_a_ticket_from_one_process_opens_a_socket_on_the_other_once(servers, make_user):
    a, b = servers
    alice, alice_token = await user_and_token(make_user)
    async with httpx.AsyncClient(base_url=a.http, headers={"Authorization": f"Bearer {alice_token}"}) as http:
        ticket = (await http.post("/api/v1/realtime/ticket")).json()["ticket"]

    async with open_socket(b, query=f"?ticket={ticket}") as ws:
        assert (await hello(ws))["user_id"] == str(alice.pk)

    async with open_socket(a, query=f"?ticket={ticket}") as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws)
    assert closed.value.rcvd.code == 4401


async def test_a_bad_token_is_closed_with_4401_and_a_foreign_origin_is_refused(servers, make_user):
    a, _b = servers
    _alice, alice_token = await user_and_token(make_user)

    async with open_socket(a, "not-a-token") as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws)
    assert closed.value.rcvd.code == 4401

    with pytest.raises(InvalidStatus) as refused:
        async with open_socket(a, alice_token, origin="http://evil.example.com"):
            pass
    assert refused.value.response.status_code == 403


@pytest.mark.services
async def test_with_redis_down_rest_sends_are_stored_and_a_client_catches_up_after(servers, make_user):
    """Stops the shared Redis: run only with `-m services` (it restarts Redis)."""
    a, b = servers
    alice, alice_token = await user_and_token(make_user)
    bob, bob_token = await user_and_token(make_user)
    channel_id = await channel_of(alice, bob)
    async with httpx.AsyncClient(base_url=b.http, headers={"Authorization": f"Bearer {bob_token}"}) as bob_http:
        cursor = (await bob_http.get(f"/api/v1/channels/{channel_id}/messages")).json()["after_cursor"]

    await services_sh("stop-one", "redis")
    try:
        async with httpx.AsyncClient(
            base_url=a.http, headers={"Authorization": f"Bearer {alice_token}"}, timeout=10
        ) as alice_http:
            started = time.monotonic()
            response = await alice_http.post(
                f"/api/v1/channels/{channel_id}/messages", json={"content": "while redis was down"}
            )
            elapsed = time.monotonic() - started
            presence = await alice_http.get("/api/v1/presence", params={"user_ids": str(bob.pk)})
    finally:
        await services_sh("start-one", "redis")

    assert response.status_code == 201
    assert elapsed < 5
    assert presence.status_code == 503
    for server in servers:
        await asyncio.to_thread(server.wait_healthy)

    async with httpx.AsyncClient(base_url=b.http, headers={"Authorization": f"Bearer {bob_token}"}) as bob_http:
        page = (await bob_http.get(f"/api/v1/channels/{channel_id}/messages", params={"after": cursor})).json()
    assert [m["content"] for m in page["results"]] == ["while redis was down"]
    # Realtime recovers: right after a Redis restart a server may close a socket once
    # (4503 at connect, or 1011 when a layer connection turns out to be dead); a client
    # reconnects with backoff, as the protocol says, and then receives again.
    assert await realtime_works_again(a, b, alice_token, bob_token, channel_id)


async def realtime_works_again(a, b, alice_token, bob_token, channel_id, *, within: float = 30) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    async with httpx.AsyncClient(base_url=a.http, headers={"Authorization": f"Bearer {alice_token}"}) as alice_http:
        for attempt in itertools.count():
            try:
                ws = await connect_retrying(b, bob_token, within=max(1, deadline - loop.time()))
                try:
                    content = f"redis is back {attempt}"
                    sent = await alice_http.post(f"/api/v1/channels/{channel_id}/messages", json={"content": content})
                    assert sent.status_code == 201
                    while True:
                        [created] = await receive_type(ws, "message.created", within=5)
                        if created["message"]["content"] == content:
                            return True
                finally:
                    await ws.close()
            except (ConnectionClosed, TimeoutError):
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(0.5)
    return False


async def connect_retrying(server, token: str, *, within: float = 15):
    """A socket past its hello frame, reconnecting (with backoff) while the server closes it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        ws = await open_socket(server, token)
        try:
            await hello(ws)
            return ws
        except ConnectionClosedError:
            # 4503: a store was down at connect; 1011: the server's layer connection
            # broke under the socket. Either way a client reconnects with backoff.
            if ws.close_code not in (events.CLOSE_TRY_AGAIN_LATER, 1011) or loop.time() > deadline:
                raise
            await asyncio.sleep(0.5)
