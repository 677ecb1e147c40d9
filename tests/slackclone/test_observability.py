"""/metrics (Prometheus), request ids and JSON logs, CORS, the landing page."""

import json
import logging

import pytest
from django.test import Client, override_settings
from prometheus_client.parser import text_string_to_metric_families

from slackclone import request_id


def samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def metrics(client=None, **headers) -> dict:
    response = (client or Client()).get("/metrics", **headers)
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"].startswith("text/plain; version=")
    return samples(response.content.decode())


def value(found: dict, name: str, **labels) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


# --- /metrics access ------------------------------------------------------------------


@override_settings(METRICS_ALLOWED_IPS=[], METRICS_TOKEN="")
def test_metrics_are_404_to_everyone_when_neither_an_address_nor_a_token_is_set(db):
    assert Client().get("/metrics").status_code == 404
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


@override_settings(METRICS_ALLOWED_IPS=["10.1.0.0/16", "192.0.2.7"], METRICS_TOKEN="")
def test_metrics_answer_addresses_of_the_allow_list_only(db):
    assert Client(REMOTE_ADDR="10.1.200.3").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="192.0.2.7").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="10.2.0.1").get("/metrics").status_code == 404
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 404
    # a spoofed X-Forwarded-For does not count without NUM_PROXIES
    spoofed = Client(REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="10.1.0.1")
    assert spoofed.get("/metrics").status_code == 404


@override_settings(METRICS_ALLOWED_IPS=[], METRICS_TOKEN="s3cret-scrape-token")
def test_metrics_answer_the_bearer_token(db):
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token").status_code == 200
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    assert Client().get("/metrics", HTTP_AUTHORIZATION="s3cret-scrape-token").status_code == 404


@override_settings(METRICS_ALLOWED_IPS=["127.0.0.1"])
def test_metrics_refuse_writes(db):
    assert Client().post("/metrics").status_code == 404


# --- what is measured -----------------------------------------------------------------


@override_settings(METRICS_ALLOWED_IPS=["127.0.0.1"])
def test_request_latency_is_labelled_by_route_pattern_and_status(client_for, alice):
    client = client_for(alice)
    before = metrics()
    route = "api/v1/users/<uuid:user_id>"
    client.get(f"/api/v1/users/{alice.pk}")
    client.get("/api/v1/users/00000000-0000-0000-0000-000000000000")
    Client().get("/no/such/path")

    after = metrics()

    count = "slackclone_http_request_duration_seconds_count"
    assert (
        value(after, count, method="GET", route=route, status="200")
        - value(before, count, method="GET", route=route, status="200")
        == 1
    )
    assert (
        value(after, count, method="GET", route=route, status="404")
        - value(before, count, method="GET", route=route, status="404")
        == 1
    )
    assert value(after, count, method="GET", route="unmatched", status="404") >= 1
    assert not any(str(alice.pk) in str(labels) for _, labels in after)  # never the raw path


@override_settings(METRICS_ALLOWED_IPS=["127.0.0.1"])
def test_sends_broadcasts_and_store_operations_are_counted(client_for, alice, django_capture_on_commit_callbacks):
    from channels_app.services import channel_create

    channel = channel_create(user=alice, name="metered")
    before = metrics()
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(alice).post(f"/api/v1/channels/{channel.id}/messages", {"content": "hi"}, format="json")
    assert response.status_code == 201

    after = metrics()

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("slackclone_messages_sent_total", transport="rest", result="ok") == 1
    assert delta("slackclone_broadcasts_total", event="message.created", result="ok") == 1
    assert delta("slackclone_store_operation_seconds_count", store="mongo", operation="insert") >= 1
    assert delta("slackclone_store_operation_seconds_count", store="postgres", operation="INSERT") >= 1


@override_settings(METRICS_ALLOWED_IPS=["127.0.0.1"])
def test_a_store_that_is_down_is_counted(client_for, alice, monkeypatch):
    from slackclone import errors
    from slackclone.api.exceptions import response_for_domain_error

    before = metrics()
    response_for_domain_error(errors.StoreUnavailable("mongo"))
    after = metrics()

    name = "slackclone_store_unavailable_total"
    assert value(after, name, store="mongo") - value(before, name, store="mongo") == 1


# --- request ids ----------------------------------------------------------------------


def test_a_request_gets_an_id_in_its_response(db):
    response = Client().get("/api/v1/health")

    assert len(response["X-Request-ID"]) == 32


def test_a_valid_client_request_id_is_kept_and_a_bad_one_replaced(db):
    assert Client().get("/api/v1/health", HTTP_X_REQUEST_ID="edge-1234.abc:9")["X-Request-ID"] == "edge-1234.abc:9"
    replaced = Client().get("/api/v1/health", HTTP_X_REQUEST_ID="bad id\nwith newline")["X-Request-ID"]
    assert replaced != "bad id\nwith newline" and len(replaced) == 32
    assert len(Client().get("/api/v1/health", HTTP_X_REQUEST_ID="x" * 129)["X-Request-ID"]) == 32


class Collect(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.INFO)
        self.records = []
        self.addFilter(request_id.RequestIdFilter())

    def emit(self, record):
        self.records.append(record)


def test_every_log_record_of_a_request_carries_its_id(db):
    handler, logger = Collect(), logging.getLogger("slackclone.request")
    logger.addHandler(handler)
    level, logger.level = logger.level, logging.INFO
    try:
        Client().get("/api/v1/health", HTTP_X_REQUEST_ID="trace-me-42")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)

    record = handler.records[-1]
    assert record.route == "api/v1/health" and record.status == 200 and record.method == "GET"
    assert record.request_id == "trace-me-42"


def test_the_json_log_format_is_one_object_a_line_with_the_request_id():
    from django.conf import settings

    formatter_config = dict(settings.LOGGING["formatters"]["json"])
    factory = formatter_config.pop("()")
    from django.utils.module_loading import import_string

    formatter = import_string(factory)(formatter_config["format"], rename_fields=formatter_config["rename_fields"])
    token = request_id.current.set("abc123")
    try:
        record = logging.LogRecord("slackclone.request", logging.INFO, __file__, 1, "GET %s", ("/x",), None)
        request_id.RequestIdFilter().filter(record)
        line = formatter.format(record)
    finally:
        request_id.current.reset(token)

    data = json.loads(line)
    assert data["request_id"] == "abc123"
    assert data["message"] == "GET /x"
    assert data["level"] == "INFO" and data["logger"] == "slackclone.request" and "time" in data


def test_log_format_json_configures_the_json_formatter(monkeypatch):
    import subprocess
    import sys

    code = "import django, logging; django.setup(); logging.getLogger('x').warning('hello %s', 'there')"
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**__import__("os").environ, "LOG_FORMAT": "json", "DJANGO_SETTINGS_MODULE": "slackclone.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert line["message"] == "hello there" and line["request_id"] == "-" and line["level"] == "WARNING"


# --- CORS -----------------------------------------------------------------------------


def test_cors_is_off_by_default(db):
    response = Client().get("/api/v1/health", HTTP_ORIGIN="https://chat.example.com")

    assert "Access-Control-Allow-Origin" not in response


@override_settings(CORS_ALLOWED_ORIGINS=["https://chat.example.com"])
def test_cors_allows_the_configured_origins_only(db):
    allowed = Client().options(
        "/api/v1/auth/login",
        HTTP_ORIGIN="https://chat.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
    )
    other = Client().get("/api/v1/health", HTTP_ORIGIN="https://evil.example.net")

    assert allowed.status_code == 200
    assert allowed["Access-Control-Allow-Origin"] == "https://chat.example.com"
    assert "authorization" in allowed["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in allowed
    assert "Access-Control-Allow-Origin" not in other
    assert (
        "x-request-id"
        in Client()
        .get("/api/v1/health", HTTP_ORIGIN="https://chat.example.com")["Access-Control-Expose-Headers"]
        .lower()
    )


# --- landing page ---------------------------------------------------------------------


def test_the_landing_page_links_docs_admin_and_health(db):
    response = Client().get("/")

    assert response.status_code == 200
    page = response.content.decode()
    for href in ('href="/api/v1/docs/"', 'href="/admin/"', 'href="/api/v1/health"', 'href="/app/"'):
        assert href in page  # /app/: the web client this server serves (issue 21)


@override_settings(WEB_CLIENT_URL="")
def test_the_landing_page_leaves_out_the_web_client_when_unset(db):
    assert "/app/" not in Client().get("/").content.decode()


@override_settings(WEB_CLIENT_URL="/app/", SERVER_NAME="Acme chat")
def test_the_landing_page_links_the_web_client_when_there_is_one(db):
    page = Client().get("/").content.decode()

    assert 'href="/app/"' in page and "Acme chat" in page


@pytest.mark.parametrize("method", ["post", "delete"])
def test_the_landing_page_is_read_only(db, method):
    assert getattr(Client(), method)("/").status_code == 405
