"""POST /api/v1/realtime/ticket, and the WebSocket protocol's documentation."""

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from realtime.tickets import TICKET_TTL_SECONDS, ticket_issue
from slackclone.api.schema import error_responses

WEBSOCKET_PROTOCOL = f"""
Trade your token for a single-use WebSocket ticket (browsers cannot set headers on a WebSocket).
The ticket is valid for {TICKET_TTL_SECONDS} seconds and for one connection attempt, used or not.

## WebSocket protocol: `/ws/v1/`

**Connect** with `Authorization: Bearer <token>` or with `?ticket=<ticket>`. A missing, bad, used
or expired credential: the socket is accepted, then closed with code **4401**. A handshake that
carries an `Origin` (every browser sends one) must name a host in `ALLOWED_HOSTS`, else it is refused
with 403; a handshake without `Origin` (a native or server-side client) proceeds to authentication.
Close code **4503** (try again later) means a store is unavailable: reconnect with backoff.
Any other path than `/ws/v1/` is closed with **4404**.
Frames are limited to 65 KiB by default (`WS_MAX_FRAME_BYTES`: the REST body limit,
`MAX_REQUEST_BODY_BYTES`, plus 1 KiB for `type` and the conversation id), so any message that
REST accepts fits in a frame however it is escaped the same way (4000 emoji escaped by
`json.dumps` are 48,000 bytes); the server itself drops connections that send frames over 1 MiB.

Every frame is a JSON object with a `type`. The server first sends
`{{"type": "hello", "user_id", "connection_id"}}`.

**Server events** (for every channel you belong to and every DM you are in, including ones you
join or open after connecting):
- `message.created` `{{"message": Message}}`, `message.updated` `{{"message": Message}}`
- `message.deleted` `{{"id", "channel_id" | "conversation_id"}}`
- `member.joined` / `member.left` `{{"channel_id", "user_id"}}` (the member who left receives
  their own `member.left`, then stops receiving the channel's events)
- `presence.changed` `{{"user_id", "status": "online" | "offline", "last_seen_at"}}` for yourself,
  the users of your DMs and group DMs, the members of your channels of at most
  `PRESENCE_FANOUT_MAX_MEMBERS` (default 100) members, and the users you subscribed to with
  `presence.subscribe` (once per change, whatever the number of shared conversations; "online"
  within about a second of the first connection, "offline" after the last one closed and a
  grace period passed). *Addition (issue 13):* a channel with more members no longer tells every
  member of every member's presence; a client shows such members' presence by subscribing.
- `typing` `{{"channel_id" | "conversation_id", "user_id"}}` (never sent back to the typist's own
  connections)
- *Addition (issue 17):* `thread.updated` `{{"channel_id" | "conversation_id", "root_id", "reply_count",
  "reply_users", "last_reply_at"}}` after a reply's `message.created` (and after a reply's
  `message.deleted`); `reaction.added` / `reaction.removed` `{{"channel_id" | "conversation_id",
  "message_id", "emoji", "user_id", "count"}}` (`count` 0 when the emoji's last reaction went); a pin
  or an unpin sends `message.updated`; deleting a root with replies sends `message.updated` with the
  tombstone (`"deleted": true`, empty `content`) instead of `message.deleted`.
- *Addition (issue 16):* `channel.updated` `{{"channel": Channel}}` (a rename, a description or topic,
  an archive or unarchive; `my_role` is null in it: read yours from `GET /channels/{{id}}`),
  `channel.deleted` `{{"channel_id"}}`, `member.role_changed` `{{"channel_id", "user_id", "role"}}`, to
  the channel's members.
- *Addition (issue 18), to your own sockets only:* `read.updated` `{{"channel_id" | "conversation_id",
  "root_id"?, "last_read_seq"}}` when your marker moved (`root_id` for a thread's marker; never sent
  to the socket named by the PUT's `X-Connection-Id`; heard in the order the markers were written);
  `notification` `{{"reason": "dm" | "mention" | "thread_reply", "message": Message}}` (the rules are
  the contract's "Read state, unread counts and notifications").

**Client frames:**
- `{{"type": "ping"}}` -> `{{"type": "pong"}}`
- `{{"type": "typing", "channel_id" | "conversation_id"}}`: members only; repeats for the same
  conversation within one second are dropped.
- `{{"type": "message.send", "channel_id" | "conversation_id", "content", "client_msg_id", "file_ids"?}}` ->
  `{{"type": "message.ack", "client_msg_id", "message": Message}}`, then `message.created` to every
  connection of every member, this one included (after its ack). A retry with a known
  `client_msg_id` is acked with the original message and not broadcast again. The same rules as
  `POST .../messages`, in the same order: the write budget (`THROTTLE_WRITE`, one budget per user
  shared with every REST write), then `content` and `client_msg_id`, then membership and state.
  *Addition (issue 17):* `thread_id` and `also_in_channel` as in `POST .../messages` (a reply).
- *Addition (issue 17):* writes on a message, with the rules, errors and write budget of REST:
  `{{"type": "reaction.add" | "reaction.remove", "channel_id" | "conversation_id", "message_id", "emoji",
  "request_id"?}}` (as `PUT` / `DELETE .../messages/{{id}}/reactions/{{emoji}}`),
  `{{"type": "message.edit", ..., "message_id", "content", "request_id"?}}` (as `PATCH`),
  `{{"type": "message.delete", ..., "message_id", "request_id"?}}` (as `DELETE`) ->
  `{{"type": "ack", "frame": <the frame's type>, "request_id", "message": Message}}` (a delete:
  `"message_id"` instead of `"message"`), or `{{"type": "error", "frame", "request_id", "error"}}`
  (also when the frame itself is refused: a missing or unknown field, a bad `request_id`).
- *Addition (issue 13):* `{{"type": "presence.subscribe", "user_ids": [id, ...], "request_id"?}}`: the
  users whose presence this connection hears from now on (at most 500; each frame REPLACES the
  previous one, `[]` ends it; DM and group-DM partners and small channels' members are implied,
  ids that are not active members of the workspace are dropped) -> `{{"type": "ack", "frame":
  "presence.subscribe", "request_id", "user_ids": [the ids subscribed], "presence": [{{"user_id",
  "status", "last_seen_at"}}, ...]}}` (their current presence, as `GET /presence`), then
  `presence.changed` for each of their changes. More than 500 ids, or one that is not a UUID:
  an error frame with `frame` and `request_id`, code `invalid` (the previous subscription stays).

**`request_id`** (every client frame): optional; a string of 1-64 characters without control
characters (or null: none), chosen by the client to match the answer to the frame. It is echoed
unchanged in the frame's answer: `pong`, `message.ack`, `ack`, and any `error` frame about the
frame. Any other value (a number, an object, a list, "", over 64 characters, a control character)
is refused: the frame is not acted on, and the answer is an `error` frame (code `invalid`,
`fields.request_id`, `"request_id": null`).

**Errors:** `{{"type": "error", "error": {{"code", "message", "fields"?}}}}`, the REST envelope's
body; for a `message.send` it also has `client_msg_id`. Codes of the frame itself:
`malformed_json`, `payload_too_large`, `unsupported_frame` (binary), `invalid` (not an object,
no `type`, unknown fields), `unknown_type`; then those of the REST API (`not_a_member`,
`not_found`, `invalid`, `store_unavailable`, ...). Over the write budget: code `throttled` with
`retry_after` (whole seconds to wait, as REST's `Retry-After`). The connection stays open.

**Delivery** is best-effort: one connection receives a conversation's `message.created` in
increasing `seq`, and only stored messages are sent; a client that sees a `seq` gap or
reconnects catches up through history with `after_cursor`.
"""


class TicketSerializer(serializers.Serializer):
    ticket = serializers.CharField(help_text="Pass as `?ticket=` when opening `/ws/v1/`.")
    expires_in = serializers.IntegerField(help_text="Seconds the ticket stays valid.")


class RealtimeTicketApi(APIView):
    @extend_schema(
        tags=["realtime"],
        summary="Get a WebSocket ticket (and the WebSocket protocol)",
        operation_id="realtime_ticket_create",
        description=WEBSOCKET_PROTOCOL.strip(),
        request=None,
        responses={200: TicketSerializer, **error_responses(401, 429, 503)},
        examples=[
            OpenApiExample(
                "Ticket",
                value={"ticket": "4pXv0oQ0m2S2bWb6ZbE4f1y2lJ0ZzYwK3Xh1vC8sT9Q", "expires_in": TICKET_TTL_SECONDS},
                response_only=True,
            )
        ],
    )
    def post(self, request):
        ticket = ticket_issue(user=request.user, auth_token=request.auth)
        return Response({"ticket": ticket, "expires_in": TICKET_TTL_SECONDS})
