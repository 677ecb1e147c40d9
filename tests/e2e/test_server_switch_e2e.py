"""The server process (slackclone.serve: uvicorn) against hostile or unlucky clients, where
it behaved worse than daphne did (docs/reliability.md, "Attacking the server switch").

- A reverse proxy keeps idle upstream connections for a while (nginx's upstream keepalive:
  60 s, Caddy's: 2 min) and reuses them; a server that closes them sooner races the
  proxy's next request on the same connection (a POST lost that way is a 502).
- A WebSocket whose client stopped reading: the server's writes back up, and closing the
  connection waits for them to drain, which never happens. The socket must still go (the
  application's disconnect runs: presence, groups), at SIGTERM too.
"""

import asyncio
import base64
import contextlib
import json
import os
import re
import signal
import socket
import time

import pytest

from realtime import events
from tests.conftest import token_for
from tests.e2e.conftest import e2e_logs, extra_server, servers  # noqa: F401  (fixtures)
from tests.e2e.test_realtime_e2e import channel_of, hello, open_socket, presence_of, user_and_token
from tests.realtime.support import in_thread

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def http_exchange(sock: socket.socket, request: bytes, *, within: float = 10) -> bytes:
    """Send one request on `sock` and read its whole answer (Content-Length framed)."""
    sock.sendall(request)
    sock.settimeout(within)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


HEALTH = b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def test_an_idle_keep_alive_connection_outlives_a_short_proxy_pause(servers):  # noqa: F811
    """uvicorn's default closes a connection idle for 5 s; nginx and Caddy reuse theirs
    for up to 60 s and 2 min. A connection idle for 6 s still serves a request."""
    with socket.create_connection(("127.0.0.1", servers[0].port)) as sock:
        assert http_exchange(sock, HEALTH).startswith(b"HTTP/1.1 200")
        time.sleep(6)
        answer = http_exchange(sock, HEALTH)
    assert answer.startswith(b"HTTP/1.1 200"), answer


def never_reading_socket(port: int, token: str) -> socket.socket:
    """A WebSocket handshake on a raw socket with a tiny receive buffer, never read after."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /ws/v1/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n"
        ).encode()
    )
    return sock


async def test_sigterm_drops_a_socket_that_never_reads_and_its_user_goes_offline(
    servers,  # noqa: F811
    extra_server,  # noqa: F811
    make_user,
):
    """SIGTERM closes every socket with 1012 and waits SHUTDOWN_GRACE_SECONDS (8 s) for the
    application. A socket whose writes are stuck (its client reads nothing) never finished
    closing, so its consumer never ran its disconnect: its user stayed online until the
    presence TTL (60 s here). Now the close of a stuck socket is bounded: it is dropped,
    the application's disconnect runs, and the user goes offline within the grace."""
    from channels.layers import get_channel_layer

    a, _b = servers
    doomed = await in_thread(lambda: extra_server(PRESENCE_TTL_SECONDS="60", LOG_LEVEL="INFO"))
    alice, _ = await user_and_token(make_user)
    bob, bob_token = await user_and_token(make_user)
    await channel_of(alice, bob)
    alice_token = await in_thread(token_for, alice)
    workspace = await in_thread(lambda: alice.workspace_memberships.get().workspace_id)

    async with open_socket(a, bob_token) as bob_ws:
        await hello(bob_ws)
        stuck = never_reading_socket(doomed.port, alice_token)
        try:
            assert (await presence_of(bob_ws, alice))["status"] == "online"
            # About 12 MB of frames for alice: far more than the socket buffers hold.
            layer = get_channel_layer()
            text = json.dumps({"type": "notification", "pad": "z" * 60_000})
            for _ in range(200):
                event = {"type": events.NOTIFICATION, "text": text}
                await layer.group_send(events.user_group(alice.pk, workspace), event)
            await asyncio.sleep(1)

            doomed.process.send_signal(signal.SIGTERM)
            offline = await presence_of(bob_ws, alice, within=15)
        finally:
            stuck.close()
    assert offline["status"] == "offline"
    await in_thread(doomed.process.wait, 15)
    assert f"websocket: {alice.pk} disconnected" in doomed.log.read_text()


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def test_pipelined_requests_are_answered_in_order(servers):  # noqa: F811
    """200 requests in one write (GETs, and POSTs with bodies among them): every answer,
    in order, on the one connection."""
    login = b'{"username": "nobody", "password": "wrong"}'
    post = b"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    post += b"Content-Length: %d\r\n\r\n%s" % (len(login), login)
    requests = [post if n % 10 == 9 else HEALTH for n in range(200)]
    with socket.create_connection(("127.0.0.1", servers[0].port)) as sock:
        sock.sendall(b"".join(requests))
        sock.settimeout(30)
        data = b""
        while data.count(b"HTTP/1.1 ") < 200 or not data.endswith(b"}"):
            chunk = sock.recv(65536)
            assert chunk, f"closed after {data.count(b'HTTP/1.1 ')} answers"
            data += chunk
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", data)
    assert statuses == [b"401" if n % 10 == 9 else b"200" for n in range(200)]


def test_pipelining_into_a_connection_that_never_reads_costs_little_memory(extra_server):  # noqa: F811
    """uvicorn parses everything it read at once (256 KiB: 6,500 pipelined GETs of 40
    bytes) into request cycles: about 16 MiB of server memory per connection whose client
    never reads the answers (daphne: about 1 MiB). Only PIPELINE_DEPTH requests are
    parsed ahead now."""
    server = extra_server()
    request = b"GET /api/v1/health HTTP/1.1\r\nHost: a\r\n\r\n"
    blob = request * (256 * 1024 // len(request))
    before = rss_mib(server.process.pid)
    sockets = []
    try:
        for _ in range(8):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", server.port))
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                sock.send(blob)
            sockets.append(sock)
        time.sleep(5)
        grown = rss_mib(server.process.pid) - before
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            assert http_exchange(sock, HEALTH).startswith(b"HTTP/1.1 200")  # still serving others
    finally:
        for sock in sockets:
            sock.close()
    assert grown < 40, f"{grown:.0f} MiB for 8 connections"


@pytest.mark.parametrize(
    ("refused", "status"),
    [
        (b"GARBAGE\x01\r\n\r\n", b"400"),
        (b"GET /a\x00b HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n", b"431"),
    ],
    ids=["unparsable", "nul-in-path", "head-over-4x"],
)
def test_a_refused_pipelined_request_is_answered_after_the_ones_before_it(servers, refused, status):  # noqa: F811
    """uvicorn answers a request its parser refuses at once and closes: the answers still
    owed to the requests before it on the connection were lost (a POST done, never
    acknowledged). They come first now, then the refusal (an envelope), then the close."""
    login = b'{"username": "nobody", "password": "wrong"}'
    post = b"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    post += b"Content-Length: %d\r\n\r\n%s" % (len(login), login)
    with socket.create_connection(("127.0.0.1", servers[0].port)) as sock:
        sock.sendall(HEALTH + post + refused)
        sock.settimeout(10)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", data) == [b"200", b"401", status]
    assert data.endswith(b"}") and b'{"error":{"code":' in data.rsplit(b"\r\n\r\n", 1)[1]
