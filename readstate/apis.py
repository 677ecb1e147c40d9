"""REST endpoints of read state (issue 18): PUT …/read, PUT …/messages/{root_id}/replies/read,
PUT …/preferences (channels and DMs; group DMs reuse the views with their own scope
kwarg), and GET /unreads. Thin: parse, call a service or selector, answer."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from messaging.apis import _ConversationMixin
from messaging.apis_ext import _scoped
from readstate import selectors, services
from slackclone.api.schema import error_responses
from slackclone.api.serializers import StrictBooleanField, clean_value

CONNECTION_HEADER = "X-Connection-Id"

_ERRORS = {"channel": (401, 403, 404), "dm": (401, 404), "group_dm": (401, 404)}
_WHERE = {"channel": "channel", "dm": "DM conversation", "group_dm": "group DM"}
_KWARGS = {"channel": "channel_id", "dm": "conversation_id", "group_dm": "conversation_id"}

_READ_IN = inline_serializer(
    "ReadMarkIn",
    {
        "seq": serializers.IntegerField(
            min_value=0,
            max_value=services.SEQ_MAX,
            help_text="The seq read up to (inclusive); above the newest seq it is clamped to it.",
        )
    },
)
_READ_OUT = inline_serializer(
    "ReadState",
    {
        "last_read_seq": serializers.IntegerField(
            help_text="The marker after this call: never lower than before, never above the newest seq."
        ),
        "unread_count": serializers.IntegerField(
            help_text="Messages after the marker that are visible, not the caller's own, not SYSTEM, and not "
            "replies unless `also_in_channel` (for a thread: its visible replies after the marker, not the "
            "caller's own)."
        ),
        "mention_count": serializers.IntegerField(
            help_text="The part of `unread_count` that mentions the caller or the whole conversation."
        ),
    },
)
_CONNECTION = OpenApiParameter(
    CONNECTION_HEADER,
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="Optional: the `connection_id` of the caller's own WebSocket (from its `hello`), which then does "
    "not get the `read.updated` this call causes; the caller's other sockets do.",
)
_ROOT_ID = OpenApiParameter("root_id", str, OpenApiParameter.PATH, description="The thread root's id; else 404.")
_PREFS = inline_serializer("ConversationPreferences", {"muted": serializers.BooleanField()})


def _seq(request):
    data = request.data if isinstance(request.data, dict) else {}
    return data.get("seq")


class _ReadApi(_ConversationMixin, APIView):
    def put(self, request, **kwargs):
        return Response(
            services.read_mark(
                user=request.user,
                seq=_seq(request),
                connection_id=request.headers.get(CONNECTION_HEADER),
                **self.scope(kwargs),
            )
        )


class _ThreadReadApi(_ConversationMixin, APIView):
    def put(self, request, root_id: str, **kwargs):
        return Response(
            services.thread_read_mark(
                user=request.user,
                root_id=root_id,
                seq=_seq(request),
                connection_id=request.headers.get(CONNECTION_HEADER),
                **self.scope(kwargs),
            )
        )


class _PreferencesApi(_ConversationMixin, APIView):
    def put(self, request, **kwargs):
        data = request.data if isinstance(request.data, dict) else {}
        muted = clean_value(StrictBooleanField(), data.get("muted"), name="muted")
        return Response(services.preferences_set(user=request.user, muted=muted, **self.scope(kwargs)))


def _read_schema(kind: str):
    return extend_schema(
        operation_id=f"{kind}_read",
        tags=["read state"],
        summary=f"Mark a {_WHERE[kind]} read",
        description=(
            "Moves the caller's read marker forward to `seq`, clamped to the conversation's newest seq; a lower "
            "`seq` leaves the marker where it is (200 with the current state). Concurrent calls from several "
            "devices end at the highest. When the marker moves, the caller's other sockets get "
            "`read.updated {channel_id | conversation_id, last_read_seq}`. A new member's marker starts at the "
            "newest seq; a marker never set is 0."
        ),
        parameters=[_CONNECTION],
        request=_READ_IN,
        responses={200: _READ_OUT, **error_responses(400, *_ERRORS[kind], 429, 503)},
    )


def _thread_read_schema(kind: str):
    return extend_schema(
        operation_id=f"{kind}_thread_read",
        tags=["read state"],
        summary=f"Mark a thread of a {_WHERE[kind]} read",
        description=(
            "The same as marking the conversation read, for one thread (the root may be a tombstone): replies "
            "with a seq above the marker, visible and not the caller's own, are unread. `read.updated` carries "
            "`root_id` and the conversation's id. A thread marker never set is 0."
        ),
        parameters=[_ROOT_ID, _CONNECTION],
        request=_READ_IN,
        responses={200: _READ_OUT, **error_responses(400, *_ERRORS[kind], 429, 503)},
    )


def _preferences_schema(kind: str):
    return extend_schema(
        operation_id=f"{kind}_preferences",
        tags=["read state"],
        summary=f"Set the caller's preferences in a {_WHERE[kind]}",
        description=(
            "`muted`: no notifications from this conversation, except for a direct mention of the caller "
            "(`<@id>` / `@username`; `@channel` / `@here` do not break through), and it does not count in "
            "`unread_conversations` of GET /unreads (its mentions still count in `mention_count`)."
        ),
        request=_PREFS,
        responses={200: _PREFS, **error_responses(400, *_ERRORS[kind], 429, 503)},
    )


VIEWS: dict[str, dict[str, type]] = {
    kind: {
        "read": _scoped(_ReadApi, kind, _KWARGS[kind], {"put": _read_schema(kind)}),
        "thread_read": _scoped(_ThreadReadApi, kind, _KWARGS[kind], {"put": _thread_read_schema(kind)}),
        "preferences": _scoped(_PreferencesApi, kind, _KWARGS[kind], {"put": _preferences_schema(kind)}),
    }
    for kind in _KWARGS
}


class UnreadsApi(APIView):
    @extend_schema(
        operation_id="unreads_totals",
        tags=["read state"],
        summary="Unread totals of the workspace",
        description=(
            "`unread_conversations`: the caller's conversations of the token's workspace with an `unread_count` "
            "above 0, muted ones left out; `mention_count`: the sum of their `mention_count` (muted ones "
            "included); `threads_with_unread_replies`: followed threads with replies after the caller's thread "
            "marker (visible, not the caller's own)."
        ),
        responses={
            200: inline_serializer(
                "UnreadTotals",
                {
                    "unread_conversations": serializers.IntegerField(),
                    "mention_count": serializers.IntegerField(),
                    "threads_with_unread_replies": serializers.IntegerField(),
                },
            ),
            **error_responses(401, 503),
        },
    )
    def get(self, request):
        return Response(selectors.unreads_totals(user=request.user, workspace=request.workspace))
