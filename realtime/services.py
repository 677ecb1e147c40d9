"""What a WebSocket connection does, as plain sync functions the consumer calls through
`database_sync_to_async`: open and close (groups, presence), typing, sending a
message; plus the frame rules (`frame_parse`, `frame_validate`), so the consumer only moves frames.
"""

import json
from dataclasses import dataclass
from uuid import UUID

from django.conf import settings

from channels_app.selectors import user_channel_seqs
from dms.selectors import user_dm_ids
from files.validation import clean_file_ids
from messaging import services as messaging_services
from messaging import validation
from messaging.selectors import conversation_get_for_member
from messaging.serializers import message_to_api, sent_message_to_api
from presence import services as presence_services
from realtime import broadcast, events
from slackclone import errors
from slackclone.api.serializers import SingleLineCharField, clean_value
from slackclone.api.throttling import retry_after_seconds, write_budget_take

# The fields each client frame may carry besides "type" and the optional `request_id`,
# which every client frame may carry (see clean_request_id).
_FIELDS: dict[str, frozenset[str]] = {
    events.PING: frozenset(),
    events.TYPING: frozenset({"channel_id", "conversation_id"}),
    events.MESSAGE_SEND: frozenset(
        {"channel_id", "conversation_id", "content", "client_msg_id", "file_ids", "thread_id", "also_in_channel"}
    ),
    # Issue 17: writes on a message.
    events.REACTION_ADD: frozenset({"channel_id", "conversation_id", "message_id", "emoji"}),
    events.REACTION_REMOVE: frozenset({"channel_id", "conversation_id", "message_id", "emoji"}),
    events.MESSAGE_EDIT: frozenset({"channel_id", "conversation_id", "message_id", "content"}),
    events.MESSAGE_DELETE: frozenset({"channel_id", "conversation_id", "message_id"}),
    # Issue 13: whose presence this socket hears (replaces the previous subscription).
    events.PRESENCE_SUBSCRIBE: frozenset({"user_ids"}),
}
FRAME_FIELDS: dict[str, frozenset[str]] = {name: fields | {"request_id"} for name, fields in _FIELDS.items()}
REQUEST_ID_MAX_LENGTH = 64
# The fields those frames must carry.
FRAME_REQUIRED: dict[str, tuple[str, ...]] = {
    events.MESSAGE_SEND: ("content",),
    events.REACTION_ADD: ("message_id", "emoji"),
    events.REACTION_REMOVE: ("message_id", "emoji"),
    events.MESSAGE_EDIT: ("message_id", "content"),
    events.MESSAGE_DELETE: ("message_id",),
    events.PRESENCE_SUBSCRIBE: ("user_ids",),
}
WRITE_FRAMES = frozenset({events.REACTION_ADD, events.REACTION_REMOVE, events.MESSAGE_EDIT, events.MESSAGE_DELETE})
# Frames answered by {"type": "ack" | "error", "frame", "request_id", ...}, a refused one included.
ACK_FRAMES = WRITE_FRAMES | {events.PRESENCE_SUBSCRIBE}


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def frame_parse(*, text: str | None = None, data: bytes | None = None):
    """A client frame -> the decoded JSON object. Raises ValidationFailed with the error
    frame's code: `unsupported_frame` (binary), `payload_too_large` (over
    WS_MAX_FRAME_BYTES), `malformed_json`, `invalid` (not an object)."""
    if text is None:
        raise errors.ValidationFailed("Binary frames are not supported: send JSON text.", code="unsupported_frame")
    limit = settings.WS_MAX_FRAME_BYTES
    if len(text) > limit or len(text.encode("utf-8", "surrogatepass")) > limit:
        raise errors.ValidationFailed(f"A frame may have at most {limit} bytes.", code="payload_too_large")
    try:
        frame = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply for the decoder
        raise errors.ValidationFailed("The frame is not valid JSON.", code="malformed_json") from exc
    if not isinstance(frame, dict):
        raise errors.ValidationFailed("A frame must be a JSON object.")
    return frame


def frame_validate(frame: dict) -> tuple[str, dict]:
    """A decoded frame -> (type, the other fields). Raises ValidationFailed: `invalid` (a
    missing or non-string type, unknown fields, a bad `request_id`, a message.send without content),
    `unknown_type`. The values themselves are checked by the services."""
    fields = dict(frame)
    frame_type = fields.pop("type", None)
    if not isinstance(frame_type, str):
        text = "This field is required." if frame_type is None else "Must be a string."
        raise errors.ValidationFailed("A frame must have a type.", fields={"type": [text]})
    if frame_type not in FRAME_FIELDS:
        raise errors.ValidationFailed(
            f"Unknown frame type; expected one of {', '.join(sorted(FRAME_FIELDS))}.",
            fields={"type": ["Unknown frame type."]},
            code="unknown_type",
        )
    unknown = sorted(set(fields) - FRAME_FIELDS[frame_type])
    if unknown:
        raise errors.ValidationFailed(
            "The frame has unknown fields.", fields={name: ["Unknown field."] for name in unknown}
        )
    if "request_id" in fields:
        fields["request_id"] = clean_request_id(fields["request_id"])
    required = FRAME_REQUIRED.get(frame_type, ())
    if frame_type == events.MESSAGE_SEND and fields.get("file_ids"):
        required = ()  # files alone: content may be left out (issue 20)
    missing = [name for name in required if name not in fields]
    if missing:
        raise errors.ValidationFailed(
            "The request is not valid.", fields={name: ["This field is required."] for name in missing}
        )
    return frame_type, fields


@dataclass(frozen=True)
class Opened:
    groups: list[str]  # the user's own group, and every channel's and DM's of the user
    went_online: bool  # the user's first live connection: the caller queues the announcement
    # channel group -> the channel's newest seq read with it (events.MEMBERSHIP_SEQ)
    membership_seqs: dict[str, int]


def connection_open(*, user, workspace, connection: str) -> Opened:
    """A socket of `user` opened with a token of `workspace` (its channel-layer name is
    `connection`): register it for presence and return the groups it must join: the
    user's group of that workspace and that workspace's channels and DMs of the user,
    nothing of any other workspace, and each channel's newest seq as read with its
    membership (`membership_seqs`: a removal announced later with a greater or equal
    seq happened after this read). Announcing the user online is left to the caller
    (the process batches announcements, see presence.services.LocalPresence).

    Registering comes first: a membership change committed after the groups are read
    here finds the connection in the presence registry (see realtime.broadcast).
    Raises StoreUnavailable("redis")."""
    user_id, workspace_id = str(user.pk), str(workspace.pk)
    registered = presence_services.presence_connect(
        user_id=user_id, connection=events.presence_member(connection, workspace_id), announce=False
    )
    channels = {
        events.channel_group(cid): seq
        for cid, seq in user_channel_seqs(user_id=user_id, workspace_id=workspace_id).items()
    }
    groups = (
        [events.user_group(user_id, workspace_id)]
        + list(channels)
        + [events.dm_group(cid) for cid in user_dm_ids(user_id=user_id, workspace_id=workspace_id)]
    )
    return Opened(groups=groups, went_online=registered.went_online, membership_seqs=channels)


def _uuid_text(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(UUID(value))
    except ValueError:
        return None


def presence_subscribe(*, workspace, user_ids: object) -> dict:
    """A `presence.subscribe` frame of a socket of `workspace` (issue 13): the users whose
    presence it hears from now on besides its DMs, group DMs and channels of at most
    PRESENCE_FANOUT_MAX_MEMBERS members; each frame REPLACES the previous subscription
    ([] ends it). `user_ids`: a list of at most 500 user ids (400 `invalid` otherwise;
    repeats count once). Ids that are not active members of the workspace are dropped,
    as GET /presence reads them offline. Returns {"user_ids": the subscribed ids in the
    order given, "presence": their current presence, as GET /presence answers}, and the
    caller joins `events.presence_group(id, workspace)` of each. Raises
    StoreUnavailable("redis")."""
    from accounts.selectors import users_of_workspace

    limit = presence_services.SUBSCRIBE_MAX_USER_IDS
    if not isinstance(user_ids, list) or len(user_ids) > limit:
        text = f"A list of at most {limit} user ids."
        raise errors.ValidationFailed(text, fields={"user_ids": [text]})
    wanted = [_uuid_text(value) for value in user_ids]
    if None in wanted:
        text = "Each user id must be a UUID."
        raise errors.ValidationFailed(text, fields={"user_ids": [text]})
    wanted = list(dict.fromkeys(wanted))
    members = {
        str(pk) for pk in users_of_workspace(workspace=workspace).filter(pk__in=wanted).values_list("pk", flat=True)
    }
    subscribed = [uid for uid in wanted if uid in members]
    return {
        "user_ids": subscribed,
        "presence": presence_services.presence_get_many(user_ids=subscribed, workspace=workspace),
    }


def typing_notify(*, user, workspace, channel_id: object = None, conversation_id: object = None) -> None:
    """Tell the other members of a channel or DM of `workspace` that `user` is typing
    (members only: the same rule as sending; 400/403/404 like message.send, and 409
    `channel_archived` in an archived channel, where nobody can post: "bob is typing"
    there would announce a message that cannot come)."""
    conversation = conversation_get_for_member(
        user=user, workspace=workspace, channel_id=channel_id, conversation_id=conversation_id, for_write=True
    )
    broadcast.typing(user_id=str(user.pk), **{conversation.api_field: conversation.id})


def socket_message_send(
    *,
    user,
    workspace,
    channel_id: object = None,
    conversation_id: object = None,
    content: object = None,
    client_msg_id: object = None,
    file_ids: object = None,
    thread_id: object = None,
    also_in_channel: object = None,
) -> dict:
    """message.send over a socket: the same rules, in the same order, as POST
    .../messages, and the same service (membership, storage, idempotency, broadcast).
    Returns the API Message for the ack.

    First the user's write budget, shared with every REST write (Throttled, 429
    `throttled` with `retry_after`), then the body's fields as the REST serializer
    checks them (400 `invalid`), then the service (404, 403, 409, 503). The frame
    size (`WS_MAX_FRAME_BYTES`) and its fields (`frame_validate`) were checked on
    arrival, as REST checks the body size and unknown fields."""
    wait = write_budget_take(user_id=user.pk)
    if wait is not None:
        raise errors.Throttled(retry_after_seconds(wait))
    file_ids = clean_file_ids(file_ids)  # issue 20: as REST, content may then be empty
    content = validation.clean_send_content(content, has_files=bool(file_ids))
    client_msg_id = validation.clean_client_msg_id(client_msg_id)
    result = messaging_services.message_send(
        sender=user,
        workspace=workspace,
        channel_id=channel_id,
        conversation_id=conversation_id,
        content=content,
        client_msg_id=client_msg_id,
        file_ids=file_ids,
        thread_id=thread_id,  # issue 17: replies over the socket too
        also_in_channel=also_in_channel,
    )
    return sent_message_to_api(result.message)


def clean_request_id(value: object) -> str | None:
    """The optional `request_id` any client frame may carry, echoed in its answer (ack,
    pong, message.ack, error): null/absent -> None, else a string of 1-64 characters of
    single-line text (no control characters, slackclone.text); anything else is 400
    `invalid` naming `request_id` (the frame is not acted on)."""
    field = SingleLineCharField(max_length=REQUEST_ID_MAX_LENGTH, trim_whitespace=False, allow_null=True)
    return clean_value(field, value, name="request_id")


def request_id_echo(frame: object) -> dict:
    """The `request_id` part of the answer to a frame that may have been refused before
    its fields were checked: {} when it carried none, {"request_id": the value} when it
    is valid, else {"request_id": None}."""
    if not isinstance(frame, dict) or "request_id" not in frame:
        return {}
    try:
        return {"request_id": clean_request_id(frame["request_id"])}
    except errors.ValidationFailed:
        return {"request_id": None}


def socket_message_write(*, user, workspace, frame_type: str, fields: dict) -> dict:
    """reaction.add / reaction.remove / message.edit / message.delete over a socket (issue
    17): the user's write budget (shared with REST, 429 `throttled`), then the very
    service of PUT/DELETE .../reactions/{emoji}, PATCH and DELETE .../messages/{id},
    with the same rules and errors. Returns the ack's fields: {"message": Message} (for
    a delete {"message_id"})."""
    wait = write_budget_take(user_id=user.pk)
    if wait is not None:
        raise errors.Throttled(retry_after_seconds(wait))
    from messaging import reactions

    scope = {"channel_id": fields.get("channel_id"), "conversation_id": fields.get("conversation_id")}
    if frame_type in (events.REACTION_ADD, events.REACTION_REMOVE):
        message = reactions.reaction_set(
            user=user,
            workspace=workspace,
            message_id=fields["message_id"],
            emoji=fields["emoji"],
            present=frame_type == events.REACTION_ADD,
            **scope,
        )
    elif frame_type == events.MESSAGE_EDIT:
        # The body first, as PATCH's serializer checks it before the service looks for
        # the message (a bad content is 400 whatever the message).
        content = validation.clean_edit_content(fields["content"], has_files=True)  # "" only for a file's message
        message = messaging_services.message_edit(
            user=user, workspace=workspace, message_id=fields["message_id"], content=content, **scope
        )
    else:
        messaging_services.message_delete(user=user, workspace=workspace, message_id=fields["message_id"], **scope)
        # The id as `message.deleted` names it (a valid id, since the delete succeeded).
        return {"message_id": validation.clean_message_id(fields["message_id"])}
    return {"message": message_to_api(message)}
