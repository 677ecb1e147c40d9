"""REST endpoints of threads, reactions, mentions and pins (issue 17), the same under
/channels/{id}/ and /dms/{id}/ (group DMs reuse them with their own scope). Thin:
parse, call a selector or service, shape the answer."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from messaging import pins, reactions, selectors, threads
from messaging.apis import _HISTORY_PARAMETERS, _MESSAGE_ID, _ConversationMixin
from messaging.mentions import mentions_list
from messaging.serializers import (
    ChannelHistorySerializer,
    ChannelMessageSerializer,
    DmHistorySerializer,
    DmMessageSerializer,
    message_to_api,
)
from slackclone.api.pagination import ApiCursorPagination
from slackclone.api.schema import PAGE_PARAMETERS, ErrorEnvelopeSerializer, error_responses

_ROOT_ID = OpenApiParameter(
    "root_id", str, OpenApiParameter.PATH, description="The thread root's id (24 hex characters); else 404."
)
_EMOJI = OpenApiParameter(
    "emoji",
    str,
    OpenApiParameter.PATH,
    description="URL-encoded: one Unicode emoji (skin tones and ZWJ sequences included) or a standard "
    "`:shortcode:` (e.g. `:+1:`), stored as the fully-qualified Unicode emoji, so `:+1:` and 👍 are one "
    "reaction. Anything else is 400 `invalid_emoji`.",
)
_SCOPES = {
    "channel": {"message": ChannelMessageSerializer, "page": ChannelHistorySerializer, "errors": (401, 403, 404)},
    "dm": {"message": DmMessageSerializer, "page": DmHistorySerializer, "errors": (401, 404)},
}
_SCOPES["group_dm"] = _SCOPES["dm"]  # a group DM is addressed like a DM (issue 16)
_WHERE = {"channel": "channel", "dm": "DM conversation", "group_dm": "group DM"}


def _scoped(base, where: str, scope_kwarg: str, decorate: dict):
    """A concrete view of `base` for one kind of conversation, its methods wrapped in
    their schema (the schema differs per kind: channel_id or conversation_id)."""
    attrs = {"scope_kwarg": scope_kwarg, "route_kind": where}
    for method, schema in decorate.items():
        attrs[method] = schema(_fresh(getattr(base, method)))
    return type(f"{where.title()}{base.__name__}", (base,), attrs)


def _fresh(func):
    """A new function object calling `func` (schemas are attached to the function)."""

    def method(self, request, *args, **kwargs):
        return func(self, request, *args, **kwargs)

    method.__name__ = func.__name__
    return method


# --- Threads ------------------------------------------------------------------------


class _RepliesApi(_ConversationMixin, APIView):
    def get(self, request, root_id: str, **kwargs):
        params = request.query_params
        page = selectors.message_history(
            user=request.user,
            **self.scope(kwargs),
            limit=params.get("limit"),
            before=params.get("before"),
            after=params.get("after"),
            thread_root_id=root_id,
        )
        return Response(
            {
                "results": [message_to_api(message) for message in page.results],
                "has_more": page.has_more,
                "before_cursor": page.before_cursor,
                "after_cursor": page.after_cursor,
            }
        )


def _replies_schema(kind: str):
    return extend_schema(
        operation_id=f"{kind}_thread_replies",
        tags=["threads"],
        summary=f"Replies of a thread in a {_WHERE[kind]}",
        description=(
            "The root's visible replies (not the root), oldest first, with the same cursors, `has_more` and "
            "promises as history. The root may be a tombstone (a deleted root with replies). 404 if `root_id` is "
            "not a root of this conversation."
        ),
        parameters=[_ROOT_ID, *[p for p in _HISTORY_PARAMETERS if p.name != "thread_roots_only"]],
        responses={200: _SCOPES[kind]["page"], **error_responses(400, *_SCOPES[kind]["errors"], 503)},
    )


_FOLLOW_OUT = inline_serializer(
    "ThreadFollowState",
    {"root_id": serializers.CharField(), "following": serializers.BooleanField()},
)


class _FollowApi(_ConversationMixin, APIView):
    def _set(self, request, root_id: str, following: bool, kwargs):
        root = threads.thread_follow_set(user=request.user, root_id=root_id, following=following, **self.scope(kwargs))
        return Response({"root_id": root.id, "following": following})

    def put(self, request, root_id: str, **kwargs):
        return self._set(request, root_id, True, kwargs)

    def delete(self, request, root_id: str, **kwargs):
        return self._set(request, root_id, False, kwargs)


def _follow_schema(kind: str, verb: str):
    return extend_schema(
        operation_id=f"{kind}_thread_{verb}",
        tags=["threads"],
        summary=f"{verb.title()} a thread in a {_WHERE[kind]}",
        description=(
            "Idempotent. The root's author, every replier and everyone mentioned in the thread follow it "
            "automatically; an unfollow sticks until the user replies again. 404 if `root_id` is not a root."
        ),
        parameters=[_ROOT_ID],
        request=None,
        responses={200: _FOLLOW_OUT, **error_responses(*_SCOPES[kind]["errors"], 429, 503)},
    )


class ThreadsPagination(ApiCursorPagination):
    ordering = ("-last_reply_at", "-id")


class ThreadsApi(APIView):
    pagination_class = ThreadsPagination

    @extend_schema(
        operation_id="threads_list",
        tags=["threads"],
        summary="Followed threads",
        description=(
            "Threads the caller follows in the token's workspace that have replies, in conversations the caller "
            "is in now, newest reply first. `unread_replies`: visible replies after the caller's thread "
            "marker `last_read_seq` (0 until PUT …/replies/read set it; for a user who started following "
            "because a reply mentioned them, just before that reply), not the caller's own. "
            "A root is a channel or a DM message (with `channel_id` or `conversation_id`). A page can hold "
            "fewer than `limit` threads (a thread whose replies were all deleted is left out): follow "
            "`next_cursor` until it is null."
        ),
        parameters=PAGE_PARAMETERS,
        responses={
            200: inline_serializer(
                "FollowedThreadPage",
                {
                    "results": inline_serializer(
                        "FollowedThread",
                        {
                            "root": serializers.DictField(help_text="The root Message (channel or DM shape)."),
                            "unread_replies": serializers.IntegerField(),
                            "last_read_seq": serializers.IntegerField(
                                help_text="Your thread marker (0 until PUT …/replies/read set it)."
                            ),
                        },
                        many=True,
                    ),
                    "next_cursor": serializers.CharField(allow_null=True),
                },
            ),
            **error_responses(400, 401, 503),
        },
    )
    def get(self, request):
        paginator = self.pagination_class()
        rows = paginator.paginate_queryset(
            threads.thread_follows_for_user(user=request.user, workspace=request.workspace), request, view=self
        )
        items = threads.followed_threads(rows=list(rows))
        from readstate.selectors import thread_states  # issue 18

        states = thread_states(user_id=request.user.pk, roots=[item.root for item in items])
        data = [
            {
                "root": message_to_api(item.root),
                "unread_replies": states[item.root.id][1],
                "last_read_seq": states[item.root.id][0],
            }
            for item in items
        ]
        return paginator.get_paginated_response(data)


# --- Reactions ------------------------------------------------------------------------


class _ReactionApi(_ConversationMixin, APIView):
    def _set(self, request, message_id: str, emoji: str, present: bool, kwargs):
        message = reactions.reaction_set(
            user=request.user, message_id=message_id, emoji=emoji, present=present, **self.scope(kwargs)
        )
        return Response(message_to_api(message))

    def put(self, request, message_id: str, emoji: str, **kwargs):
        return self._set(request, message_id, emoji, True, kwargs)

    def delete(self, request, message_id: str, emoji: str, **kwargs):
        return self._set(request, message_id, emoji, False, kwargs)


def _reaction_schema(kind: str, verb: str):
    responses = {200: _SCOPES[kind]["message"], **error_responses(400, *_SCOPES[kind]["errors"], 429, 503)}
    responses[409] = OpenApiResponse(
        ErrorEnvelopeSerializer,
        description="`too_many_reactions`: 50 different emoji already; `channel_archived`: read-only channel.",
    )
    return extend_schema(
        operation_id=f"{kind}_reaction_{verb}",
        tags=["reactions"],
        summary=f"{'Add' if verb == 'add' else 'Remove'} your reaction in a {_WHERE[kind]}",
        description=(
            "Idempotent: the same reaction from two devices at once counts once; removing one you do not have "
            "changes nothing. Answers the message. Sends `reaction.added` / `reaction.removed` with the emoji's "
            "new `count` (0 when the last one went) when something changed. Deleted messages are 404."
        ),
        parameters=[_MESSAGE_ID, _EMOJI],
        request=None,
        responses=responses,
    )


# --- Pins ------------------------------------------------------------------------------


class _PinApi(_ConversationMixin, APIView):
    def _set(self, request, message_id: str, pinned: bool, kwargs):
        message = pins.message_pin_set(user=request.user, message_id=message_id, pinned=pinned, **self.scope(kwargs))
        return Response(message_to_api(message))

    def put(self, request, message_id: str, **kwargs):
        return self._set(request, message_id, True, kwargs)

    def delete(self, request, message_id: str, **kwargs):
        return self._set(request, message_id, False, kwargs)


def _pin_schema(kind: str, verb: str):
    responses = {200: _SCOPES[kind]["message"], **error_responses(*_SCOPES[kind]["errors"], 429, 503)}
    responses[409] = OpenApiResponse(
        ErrorEnvelopeSerializer, description="`too_many_pins`: 100 pins already; `channel_archived`."
    )
    return extend_schema(
        operation_id=f"{kind}_message_{verb}",
        tags=["pins"],
        summary=f"{verb.title()} a message in a {_WHERE[kind]}",
        description=(
            "Any member; idempotent (answers the message as it is). Pinning posts a SYSTEM message "
            '("alice pinned a message"); pin and unpin send `message.updated`. Deleted messages are 404.'
        ),
        parameters=[_MESSAGE_ID],
        request=None,
        responses=responses,
    )


class _PinsApi(_ConversationMixin, APIView):
    def get(self, request, **kwargs):
        found = pins.pins_list(user=request.user, **self.scope(kwargs))
        return Response({"results": [message_to_api(message) for message in found]})


def _pins_schema(kind: str):
    return extend_schema(
        operation_id=f"{kind}_pins_list",
        tags=["pins"],
        summary=f"Pinned messages of a {_WHERE[kind]}",
        description="Newest pin first; at most 100 (the limit of pins), so there is no further page.",
        responses={
            200: inline_serializer(
                f"{kind.title().replace('_', '')}PinList", {"results": _SCOPES[kind]["message"](many=True)}
            ),
            **error_responses(*_SCOPES[kind]["errors"], 503),
        },
    )


# --- Mentions ------------------------------------------------------------------------------


class MentionsApi(APIView):
    @extend_schema(
        operation_id="mentions_list",
        tags=["mentions"],
        summary="Messages that mention you",
        description=(
            "Messages with `<@YOUR_ID>` or `@your_username` (outside code), newest first, in the channels and DMs "
            "of the token's workspace you are in now. `@channel` / `@here` are not listed here (they are in "
            "`mentions_channel`). Paged with `cursor` and `limit` (1-200, default 50)."
        ),
        parameters=PAGE_PARAMETERS,
        responses={
            200: inline_serializer(
                "MentionPage",
                {
                    "results": serializers.ListField(
                        child=serializers.DictField(), help_text="Messages (channel or DM shape), newest first."
                    ),
                    "next_cursor": serializers.CharField(allow_null=True),
                },
            ),
            **error_responses(400, 401, 503),
        },
    )
    def get(self, request):
        page = mentions_list(
            user=request.user,
            workspace=request.workspace,
            cursor=request.query_params.get("cursor"),
            limit=request.query_params.get("limit"),
        )
        return Response({"results": [message_to_api(m) for m in page.results], "next_cursor": page.next_cursor})


# --- The concrete views ---------------------------------------------------------------------

_KWARGS = {"channel": "channel_id", "dm": "conversation_id", "group_dm": "conversation_id"}
VIEWS: dict[str, dict[str, type]] = {}
for _kind, _kwarg in _KWARGS.items():
    VIEWS[_kind] = {
        "replies": _scoped(_RepliesApi, _kind, _kwarg, {"get": _replies_schema(_kind)}),
        "follow": _scoped(
            _FollowApi,
            _kind,
            _kwarg,
            {"put": _follow_schema(_kind, "follow"), "delete": _follow_schema(_kind, "unfollow")},
        ),
        "reaction": _scoped(
            _ReactionApi,
            _kind,
            _kwarg,
            {"put": _reaction_schema(_kind, "add"), "delete": _reaction_schema(_kind, "remove")},
        ),
        "pin": _scoped(
            _PinApi, _kind, _kwarg, {"put": _pin_schema(_kind, "pin"), "delete": _pin_schema(_kind, "unpin")}
        ),
        "pins": _scoped(_PinsApi, _kind, _kwarg, {"get": _pins_schema(_kind)}),
    }
