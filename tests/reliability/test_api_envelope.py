"""Issue 12, kind 2: every answer under /api/ is the contract's JSON error envelope, in
DEBUG and not, including what happens before (or around) a view: unknown paths,
malformed ids in a path, wrong trailing slashes, DisallowedHost, 405, 413, an
exception in a middleware; and HEAD answers wherever GET does.

In-process (Django's test client, both DEBUG modes). The limits enforced in front of
Django (414, 431) and the server's own are walked against real server processes in
tests/e2e/test_api_envelope_e2e.py; the ASGI layer of them is also tested here.
"""

import asyncio
import uuid

import pytest
from django.test import Client

from slackclone import http_limits, middleware
from tests.conftest import token_for

pytestmark = pytest.mark.django_db

NIL = "00000000-0000-0000-0000-000000000000"


@pytest.fixture(params=[True, False], ids=["DEBUG=true", "DEBUG=false"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


@pytest.fixture
def auth(alice):
    return {"HTTP_AUTHORIZATION": f"Bearer {token_for(alice)}"}


def assert_envelope(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
    if code is not None:
        assert body["error"]["code"] == code, body
    return body


# (method, path, extra request arguments, with a token?, status, code)
CASES = [
    ("get", "/api/v1/users/not-a-uuid", {}, True, 404, "not_found"),
    ("get", "/api/v1/users/not-a-uuid", {}, False, 404, "not_found"),
    ("get", "/api/v1/channels/", {}, True, 404, "not_found"),
    ("get", "/api/v1/health/", {}, False, 404, "not_found"),
    ("get", "/api/v1/users/me/", {}, True, 404, "not_found"),
    ("get", "/api/v1/nope", {}, True, 404, "not_found"),
    ("post", "/api/v1/nope", {}, True, 404, "not_found"),
    ("get", "/api/", {}, False, 404, "not_found"),
    ("get", "/api/v2/channels", {}, True, 404, "not_found"),
    ("get", "/api/v1/channels/not-a-uuid/messages", {}, True, 404, "not_found"),
    ("get", f"/api/v1/channels/{NIL}", {}, True, 404, "not_found"),
    ("delete", f"/api/v1/channels/{NIL}/messages/not-an-object-id", {}, True, 404, "not_found"),
    ("delete", f"/api/v1/dms/{NIL}/messages/{'0' * 24}", {}, True, 404, "not_found"),
    ("get", "/api/v1/users/me", {}, False, 401, "not_authenticated"),
    ("put", "/api/v1/health", {}, False, 405, "method_not_allowed"),
    ("delete", "/api/v1/channels", {}, True, 405, "method_not_allowed"),
    ("get", "/api/v1/health", {"HTTP_HOST": "evil.example"}, False, 400, "bad_request"),
    ("post", "/api/v1/channels", {"data": "{", "content_type": "application/json"}, True, 400, "malformed_json"),
    # Nested deeper than Python's decoder recurses (a RecursionError was a 500), without a token.
    (
        "post",
        "/api/v1/auth/login",
        {"data": '{"username": ' + "[" * 5000 + "]" * 5000 + "}", "content_type": "application/json"},
        False,
        400,
        "malformed_json",
    ),
    (
        "post",
        "/api/v1/channels",
        {"data": "x", "content_type": "text/plain"},
        True,
        415,
        "unsupported_media_type",
    ),
    (
        "post",
        "/api/v1/channels",
        {"data": {}, "content_type": "application/json", "CONTENT_LENGTH": "99999999"},
        True,
        413,
        "payload_too_large",
    ),
    (
        "post",
        "/api/v1/channels",
        {"data": {}, "content_type": "application/json", "CONTENT_LENGTH": "x"},
        True,
        400,
        "bad_request",
    ),
]


@pytest.mark.parametrize(("method", "path", "extra", "with_token", "status", "code"), CASES)
def test_every_error_under_api_is_the_envelope(debug, auth, method, path, extra, with_token, status, code):
    client = Client(raise_request_exception=False)
    extra = dict(extra)
    kwargs = {key: extra.pop(key) for key in ("data", "content_type") if key in extra}
    response = getattr(client, method)(path, **kwargs, **extra, **(auth if with_token else {}))
    body = assert_envelope(response, status, code)
    if status == 405:
        assert response["Allow"]
    assert "Traceback" not in str(body) and "<html" not in response.content.decode().lower()


def test_an_exception_in_a_middleware_is_the_envelope_even_in_debug(debug, monkeypatch):
    def boom(self, request):
        raise RuntimeError("a bug in a middleware")

    monkeypatch.setattr(middleware.BodySizeLimitMiddleware, "__call__", boom)
    response = Client(raise_request_exception=False).get("/api/v1/health")
    assert_envelope(response, 500, "server_error")
    assert b"a bug in a middleware" not in response.content


def test_outside_api_django_answers_as_before(debug):
    response = Client().get("/admin/nope/")
    assert response.status_code in (302, 404)


@pytest.mark.django_db(transaction=True)
def test_head_answers_wherever_get_does_with_the_same_status_and_no_body(alice, bob, debug):
    """Every GET path of the API, with real ids: HEAD gives GET's status and headers, no body."""
    from channels_app import services as channel_services
    from dms import services as dm_services
    from messaging import services as message_services
    from tests.helpers import capture_broadcasts

    with capture_broadcasts():
        channel = channel_services.channel_create(user=alice, name="heads")
        dm, _ = dm_services.dm_open(user=alice, other_user_id=bob.pk)
        message_services.message_send(sender=alice, channel_id=channel.pk, content="hi")
    paths = [
        "/api/v1/health",
        "/api/v1/users/me",
        "/api/v1/users?q=a",
        f"/api/v1/users/{bob.pk}",
        "/api/v1/channels",
        f"/api/v1/channels/{channel.pk}",
        f"/api/v1/channels/{channel.pk}/members",
        f"/api/v1/channels/{channel.pk}/messages",
        "/api/v1/dms",
        f"/api/v1/dms/{dm.pk}",
        f"/api/v1/dms/{dm.pk}/messages",
        f"/api/v1/presence?user_ids={bob.pk}",
        "/api/v1/schema/",
        f"/api/v1/channels/{uuid.uuid4()}",  # and where GET is an error, HEAD is the same error
    ]
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token_for(alice)}")
    for path in paths:
        got, head = client.get(path), client.head(path)
        assert head.status_code == got.status_code, (path, head.status_code, got.status_code)
        assert head.content == b"", path
        assert head["Content-Type"] == got["Content-Type"], path


# --- The ASGI layer in front of Django (RequestLimitsMiddleware) -----------------


def _call(scope_extra: dict) -> tuple[int, dict, bytes]:
    async def inner_app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": "GET", "path": "/api/v1/health", "query_string": b"", "headers": []}
    scope.update(scope_extra)
    asyncio.run(http_limits.RequestLimitsMiddleware(inner_app)(scope, receive, send))
    start, body = sent[0], b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], dict(start["headers"]), body


@pytest.mark.parametrize(
    ("scope", "status", "code"),
    [
        ({"query_string": b"q=" + b"a" * 9000}, 414, "uri_too_long"),
        ({"path": "/api/v1/" + "a" * 9000}, 414, "uri_too_long"),
        ({"headers": [(b"x-big", b"a" * 17000)]}, 431, "headers_too_large"),
        ({"headers": [(b"x-h%d" % i, b"v") for i in range(101)]}, 431, "headers_too_large"),
        ({"query_string": b"q=" + b"a" * 8000}, 200, None),
        ({"headers": [(b"x-h%d" % i, b"v" * 100) for i in range(100)]}, 200, None),
    ],
)
def test_the_asgi_limits_answer_414_and_431_in_the_envelope(scope, status, code):
    import json

    got, headers, body = _call(scope)
    assert got == status
    if code is not None:
        assert headers[b"content-type"] == b"application/json"
        assert json.loads(body)["error"]["code"] == code


@pytest.mark.parametrize("fails", ["before answering", "after answering"])
@pytest.mark.parametrize("path", ["/api/v1/health", "/admin/"])
def test_an_exception_around_django_is_the_envelope_under_api(path, fails, caplog):
    """An exception that escapes the ASGI application (an ASGI middleware around Django:
    Django answers its own) before it answered is a 500 envelope under /api/, logged;
    elsewhere, or once the answer started, it reaches the server (uvicorn answers its
    plain 500, or closes the connection)."""
    import json

    async def failing_app(scope, receive, send):
        if fails == "after answering":
            await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("boom")

    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": "http", "method": "GET", "path": path, "query_string": b"", "headers": []}
    middleware_app = http_limits.RequestLimitsMiddleware(failing_app)
    if path.startswith("/api/") and fails == "before answering":
        asyncio.run(middleware_app(scope, receive, send))
        assert sent[0]["status"] == 500
        assert dict(sent[0]["headers"])[b"content-type"] == b"application/json"
        assert json.loads(sent[1]["body"])["error"]["code"] == "server_error"
        assert "boom" in caplog.text
    else:
        with pytest.raises(RuntimeError, match="boom"):
            asyncio.run(middleware_app(scope, receive, send))
        assert [m["status"] for m in sent if m["type"] == "http.response.start"] == (
            [200] if fails == "after answering" else []
        )
