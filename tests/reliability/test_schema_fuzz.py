"""Schema fuzzing: schemathesis generates requests for EVERY operation of the OpenAPI
schema (positive and negative data), sends them to the app in-process (Django's WSGI
handler, the real stores) with and without a valid Bearer token, and checks that no
answer is a 5xx and that every answer matches the schema (status code, content type,
body).

FUZZ_EXAMPLES scales the examples per operation and mode (default 6; `make fuzz` uses
many more). Path ids are random (404 is fine) or, for about half the cases, the id of
a channel, DM, message or user the caller can see, so the deeper code runs too.

(schemathesis' own pytest integration, `from_fixture(...).parametrize()`, does not
work with pytest 9; the loop below is the same thing: one Hypothesis test per
operation and generation mode.)
"""

import contextlib
import os
import zlib

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from knox.models import AuthToken
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import token_for

MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Negative data may be rejected with any documented 4xx; what it may never do is 5xx.
NEGATIVE_CHECKS = [not_a_server_error, content_type_conformance]

SPEC = SchemaGenerator().get_schema(request=None, public=True)
SCHEMA = schemathesis.openapi.from_dict(SPEC)
SCHEMA.app = get_wsgi_application()
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
PATH_PARAMETERS = {
    "channel_id",
    "conversation_id",
    "user_id",
    "message_id",
    "session_id",
    "code",
    "file_id",
    "root_id",
    "emoji",
}


@pytest.fixture
def in_process(db):
    # Like Django's test client: the request cycle must not close the test's connection
    # (the test runs in a transaction that is rolled back at its end).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _image_upload(user) -> str:
    """A PNG uploaded by `user` (so /files/{id}/thumbnail runs deep too); its id."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from files.services import file_upload
    from tests.files.conftest import image_bytes

    return str(file_upload(user=user, workspace=None, uploaded=SimpleUploadedFile("f.png", image_bytes())).pk)


@pytest.fixture
def world(in_process, make_user):
    """A user with a token (the owner of the default workspace, so the workspace's admin
    operations run deep), a channel and a DM they belong to, a message in each, an
    invite code of the workspace, and a spare session."""
    from accounts.selectors import session_id_for, workspace_or_default
    from accounts.services import invite_create, token_create
    from channels_app.services import channel_create
    from dms.services import dm_open, group_dm_open
    from messaging.services import message_send

    me = make_user("fuzzer", role="owner")
    other = make_user("fuzzother")
    membership = me.workspace_memberships.select_related("workspace", "user").get(workspace=workspace_or_default(None))
    spare = token_create(user=me, membership=membership, device_name="spare")  # a session the fuzzer may revoke
    channel = channel_create(user=me, name="fuzz", description="")
    dm = dm_open(user=me, other_user_id=other.id)[0]
    group = group_dm_open(user=me, user_ids=[other.id, make_user("fuzzthird").id])[0]  # issue 16
    ids = {
        "channel_id": str(channel.id),
        "conversation_id": str(dm.id),
        "user_id": str(other.id),
        "channel_message_id": message_send(sender=me, channel_id=channel.id, content="hi").message.id,
        "dm_message_id": message_send(sender=me, conversation_id=dm.id, content="hi").message.id,
        "session_id": session_id_for(token_digest=AuthToken.objects.get(token_key=spare[:15]).digest),
        "code": invite_create(membership=membership, max_uses=1000).code,
        "file_id": _image_upload(me),
        "group_id": str(group.id),
        "group_message_id": message_send(sender=me, conversation_id=group.id, content="hi").message.id,
    }
    # logging out everywhere must not revoke the fuzzer's own token: a user of its own
    return {"user": me, "token": token_for(me), "ids": ids, "everywhere": make_user("fuzzeverywhere")}


def _use_known_ids(case, ids: dict) -> None:
    """For about half the cases (chosen by the generated values, so replays are stable),
    point path ids at objects the caller can see."""
    params = case.path_parameters or {}
    if not params or zlib.crc32(repr(sorted(params.items())).encode()) % 2:
        return
    group = case.path.startswith("/api/v1/group-dms")  # issue 16: a group DM and its message
    for name in params:
        if name in ("message_id", "root_id") and group:
            params[name] = ids["group_message_id"]
        elif name == "conversation_id" and group:
            params[name] = ids["group_id"]
        elif name in ("message_id", "root_id"):
            params[name] = ids["dm_message_id" if "conversation_id" in params else "channel_message_id"]
        elif name == "emoji":
            params[name] = "👍"
        elif name in ids:
            params[name] = ids[name]


STATS = {"operations": set(), "calls": 0, "statuses": {}}


@pytest.fixture(scope="module", autouse=True)
def _summary():
    yield
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(STATS["statuses"].items()))
    print(f"\nschema fuzz: {STATS['calls']} requests over {len(STATS['operations'])} operations ({statuses})")


def _run(operation, world, *, mode: GenerationMode, authenticated: bool) -> int:
    calls = 0

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case):
        nonlocal calls
        if mode is GenerationMode.POSITIVE:
            _use_known_ids(case, world["ids"])
        headers = {}
        if authenticated:
            # logging out must not revoke the token the rest of the run uses
            token = token_for(world["user"]) if case.path.endswith("/auth/logout") else world["token"]
            if case.path.endswith("/auth/logout-all"):
                token = token_for(world["everywhere"])
            headers["Authorization"] = f"Bearer {token}"
        calls += 1
        checks = CHECKS if mode is GenerationMode.POSITIVE else NEGATIVE_CHECKS
        response = case.call_and_validate(headers=headers, checks=checks)
        STATS["calls"] += 1
        STATS["operations"].add(operation.label)
        STATS["statuses"][response.status_code] = STATS["statuses"].get(response.status_code, 0) + 1

    fuzz()
    return calls


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
@pytest.mark.parametrize("authenticated", [True, False], ids=["token", "anonymous"])
def test_operation_conforms_to_schema(operation, authenticated, world):
    calls = _run(operation, world, mode=GenerationMode.POSITIVE, authenticated=authenticated)
    with contextlib.suppress(Unsatisfiable):  # nothing to negate (no parameters, no body): GET /health
        calls += _run(operation, world, mode=GenerationMode.NEGATIVE, authenticated=authenticated)
    assert calls > 0


def test_every_operation_is_fuzzed():
    assert len(OPERATIONS) == sum(
        1 for item in SPEC["paths"].values() for method in item if method in {"get", "post", "patch", "put", "delete"}
    )
    names = {p["name"] for op in OPERATIONS for p in op.definition.raw.get("parameters", []) if p["in"] == "path"}
    assert names <= PATH_PARAMETERS, names
