"""Issue 12, kind 2, against real server processes (DEBUG=true and DEBUG=false): what
the server in front of Django refuses (over-long request lines and headers, at our
limits and far beyond the server's own, 4x ours) answers the JSON envelope too, as do the cases
Django handles around its views."""

import json
import socket

import httpx
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PROD = {
    "DEBUG": "false",
    "SECRET_KEY": "e2e-only-not-secret-0123456789abcdefghijklmnopqrstuvwxyz",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "SECURE_SSL_REDIRECT": "false",
}


@pytest.fixture(scope="module", params=["DEBUG=true", "DEBUG=false"])
def server(request, django_db_setup, django_db_blocker, e2e_logs):
    from tests.e2e.conftest import start_server

    with django_db_blocker.unblock():
        started = start_server(e2e_logs, **({"DEBUG": "true"} if request.param == "DEBUG=true" else PROD))
    yield started
    started.stop()


def raw_request(port: int, head: str) -> tuple[int, dict, bytes]:
    """Send `head` (a request line and headers, without the final blank line) as is and
    read the answer until the server closes: (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode() + (b"" if head.endswith("x") else b"\r\n\r\n"))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    header_block, _, body = data.partition(b"\r\n\r\n")
    lines = header_block.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if headers.get("transfer-encoding") == "chunked":
        decoded = b""
        while body:
            size_line, _, rest = body.partition(b"\r\n")
            size = int(size_line, 16)
            if size == 0:
                break
            decoded, body = decoded + rest[:size], rest[size + 2 :]
        body = decoded
    return int(lines[0].split()[1]), headers, body


def request_line(target: str, headers: list[str] = (), host: str = "127.0.0.1") -> str:
    return "\r\n".join([f"GET {target} HTTP/1.1", f"Host: {host}", "Connection: close", *headers])


CASES = [
    ("unknown path", request_line("/api/v1/nope"), 404, "not_found"),
    ("malformed id", request_line("/api/v1/users/not-a-uuid"), 404, "not_found"),
    ("trailing slash", request_line("/api/v1/channels/"), 404, "not_found"),
    ("disallowed host", request_line("/api/v1/health", host="evil.example"), 400, "bad_request"),
    ("405", request_line("/api/v1/health").replace("GET ", "PUT ", 1), 405, "method_not_allowed"),
    (
        "413",
        "\r\n".join(
            [
                "POST /api/v1/channels HTTP/1.1",
                "Host: 127.0.0.1",
                "Connection: close",
                "Content-Type: application/json",
                "Content-Length: 200000",
            ]
        )
        + "\r\n\r\n"
        + "x" * 200000,  # answered from its Content-Length; the body is read and dropped (lingering close)
        413,
        "payload_too_large",
    ),
    ("URL at our limit + 1", request_line("/api/v1/users?q=" + "a" * 8200), 414, "uri_too_long"),
    ("URL between our limit and the server's", request_line("/api/v1/users?q=" + "a" * 20000), 414, "uri_too_long"),
    ("URL far beyond everything", request_line("/api/v1/users?q=" + "a" * 200000), 414, "uri_too_long"),
    ("a header over our limit", request_line("/api/v1/health", ["X-Big: " + "a" * 17000]), 431, "headers_too_large"),
    ("a header past the server", request_line("/api/v1/health", ["X-Big: " + "a" * 200000]), 431, "headers_too_large"),
    (
        "headers over our total",
        request_line("/api/v1/health", [f"X-H{i}: {'v' * 1000}" for i in range(20)]),
        431,
        "headers_too_large",
    ),
    ("too many headers", request_line("/api/v1/health", [f"X-H{i}: v" for i in range(150)]), 431, "headers_too_large"),
    (
        "far too many headers",
        request_line("/api/v1/health", [f"X-H{i}: v" for i in range(3000)]),
        431,
        "headers_too_large",
    ),
    (
        "a header that never ends",  # held by the parser until complete: the server bounds what it buffers
        "GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + "x" * 1_000_000,
        431,
        "headers_too_large",
    ),
    ("unparsable request line", "NONSENSE", 400, "bad_request"),
]


@pytest.mark.parametrize(("name", "head", "status", "code"), CASES, ids=[case[0] for case in CASES])
def test_the_server_answers_every_refusal_under_api_with_the_envelope(server, name, head, status, code):
    got, headers, body = raw_request(server.port, head)
    assert got == status, (name, got, body[:200])
    assert headers.get("content-type", "").startswith("application/json"), headers
    assert json.loads(body)["error"]["code"] == code


def test_head_is_answered_without_a_body_where_get_is(server):
    got = httpx.get(f"{server.http}/api/v1/health")
    head = httpx.head(f"{server.http}/api/v1/health")
    assert head.status_code == got.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == "application/json"


def test_just_under_the_limits_is_served(server):
    response = httpx.get(f"{server.http}/api/v1/health", params={"pad": "a" * 7000}, headers={"X-Pad": "a" * 9000})
    assert response.status_code == 200
