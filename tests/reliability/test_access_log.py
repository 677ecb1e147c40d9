"""The server's log never records a WebSocket ticket or a token.

uvicorn's access log would record a WebSocket handshake with its query string (the
ticket): slackclone.serve turns it off, and the application logs every request itself
(slackclone.metrics: without its query string) and every WebSocket it accepts
(realtime). Tokens travel in the Authorization header, which nothing logs, at DEBUG
too: the websockets library (uvicorn's WebSocket protocol) logs every handshake header
and every frame at DEBUG, so slackclone.serve turns its debug log off.
"""

import asyncio
import json

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.e2e.conftest import ORIGIN, e2e_logs, extra_server  # noqa: F401  (fixtures)
from tests.realtime.support import in_thread

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
async def test_the_access_log_holds_no_ticket_and_no_token(make_user, extra_server, level):  # noqa: F811
    server = await in_thread(lambda: extra_server(LOG_LEVEL=level))
    password = "logged-password-31337"
    await in_thread(lambda: make_user("logged", password=password))
    async with httpx.AsyncClient(base_url=server.http) as http:
        login = await http.post("/api/v1/auth/login", json={"username": "logged", "password": password})
        token = login.json()["token"]
        http.headers["Authorization"] = f"Bearer {token}"
        ticket = (await http.post("/api/v1/realtime/ticket")).json()["ticket"]
        assert (await http.get("/api/v1/users/me")).status_code == 200
    async with connect(f"{server.ws}?ticket={ticket}", origin=ORIGIN) as ws:
        assert json.loads(await ws.recv())["type"] == "hello"
    async with connect(server.ws, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        assert json.loads(await ws.recv())["type"] == "hello"
    await asyncio.sleep(0.5)  # the access log is line-buffered

    log = server.log.read_text()
    assert "GET /api/v1/users/me 200" in log  # the application's request log is on
    assert "websocket: " in log and " connected (" in log  # so is its line per WebSocket
    assert ticket not in log
    assert token not in log
    assert password not in log
