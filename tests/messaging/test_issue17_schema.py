"""The OpenAPI schema of issue 17's lists says how to page them (contract: "Threads",
"Mentions"): GET /threads and GET /mentions take `cursor` and `limit`."""

import pytest
from drf_spectacular.generators import SchemaGenerator


@pytest.mark.parametrize("path", ["/api/v1/threads", "/api/v1/mentions"])
def test_the_paged_lists_document_cursor_and_limit(path):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"][path]["get"]
    assert {"cursor", "limit"} <= {parameter["name"] for parameter in operation.get("parameters", [])}
    page = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert "next_cursor" in schema["components"]["schemas"][page]["properties"]


def test_the_websocket_protocol_in_the_schema_names_every_client_frame_and_issue_17_event():
    """The protocol a client developer reads (POST /realtime/ticket's description) lists the
    write frames, their ack, and the thread and reaction events."""
    from realtime import events
    from realtime.services import FRAME_FIELDS

    schema = SchemaGenerator().get_schema(request=None, public=True)
    described = schema["paths"]["/api/v1/realtime/ticket"]["post"]["description"]
    server_events = (
        events.MEMBER_ROLE_CHANGED,
        events.CHANNEL_UPDATED,
        events.CHANNEL_DELETED,
        events.READ_UPDATED,
        events.NOTIFICATION,
    )
    for name in (*FRAME_FIELDS, *events.CONVERSATION_EVENTS, *server_events, "thread_id", "also_in_channel", '"frame"'):
        assert name in described, name
