"""daphne's access log (stdout by default) never records a WebSocket ticket or a token.

daphne logs HTTP requests with their query string, but WebSocket handshakes with the
path only (autobahn's request path has no query): `WSCONNECTING /ws/v1/`. Tokens travel
in the Authorization header, which daphne never logs.
"""

import asyncio
import json

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.conftest import token_for
from tests.e2e.conftest import ORIGIN, e2e_logs, extra_server  # noqa: F401  (fixtures)
from tests.realtime.support import in_thread

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


async def test_the_access_log_holds_no_ticket_and_no_token(make_user, extra_server):  # noqa: F811
    server = await in_thread(extra_server)
    token = await in_thread(lambda: token_for(make_user("logged")))
    async with httpx.AsyncClient(base_url=server.http, headers={"Authorization": f"Bearer {token}"}) as http:
        ticket = (await http.post("/api/v1/realtime/ticket")).json()["ticket"]
        assert (await http.get("/api/v1/users/me")).status_code == 200
    async with connect(f"{server.ws}?ticket={ticket}", origin=ORIGIN) as ws:
        assert json.loads(await ws.recv())["type"] == "hello"
    async with connect(server.ws, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        assert json.loads(await ws.recv())["type"] == "hello"
    await asyncio.sleep(0.5)  # the access log is line-buffered

    log = server.log.read_text()
    assert "WSCONNECT /ws/v1/" in log  # the handshake is logged, without its query
    assert ticket not in log
    assert token not in log
