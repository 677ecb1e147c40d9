"""REST endpoints of messages, the same under /channels/{id}/ and /dms/{id}/.

Thin: parse (serializers), call a selector or service, shape the answer. Access
checks, validation of raw values and storage live in selectors/services.
"""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from dms.selectors import conversation_route_check
from messaging import selectors, services
from messaging.serializers import (
    ChannelHistorySerializer,
    ChannelMessageSerializer,
    DmHistorySerializer,
    DmMessageSerializer,
    MessageEditSerializer,
    MessageSendSerializer,
    message_to_api,
    sent_message_to_api,
)
from slackclone import metrics
from slackclone.api.schema import ErrorEnvelopeSerializer, error_responses

_HISTORY_PARAMETERS = [
    OpenApiParameter("limit", int, description="Page size, 1-200 (default 50)."),
    OpenApiParameter(
        "before",
        str,
        description="A `before_cursor` from an earlier page: the page just older than it. Not with `after`.",
    ),
    OpenApiParameter(
        "after",
        str,
        description="An `after_cursor` from an earlier page: the page just newer than it (every message stored "
        "since, none skipped or repeated). Not with `before`.",
    ),
    OpenApiParameter(
        "thread_roots_only",
        bool,
        description="`true`: the channel view, replies left out unless `also_in_channel` (its seq gaps are "
        "expected). Default false: every message, replies included.",
    ),
]
_MESSAGE_ID = OpenApiParameter(
    "message_id",
    str,
    OpenApiParameter.PATH,
    description="The message's id: 24 hex characters. Anything else is a 404.",
)


class _ConversationMixin:
    scope_kwarg: str  # "channel_id" or "conversation_id"
    route_kind: str = "channel"  # "channel", "dm" or "group_dm": what the path names

    def initial(self, request, *args, **kwargs):
        """After authentication: a /dms/ path must name a 1:1 DM and a /group-dms/ path a
        group DM (404 otherwise); the services accept either by conversation_id."""
        super().initial(request, *args, **kwargs)
        if self.route_kind != "channel":
            conversation_route_check(conversation_id=kwargs[self.scope_kwarg], group=self.route_kind == "group_dm")

    def scope(self, kwargs) -> dict:
        """The conversation named by the path, in the workspace of the request's token."""
        return {self.scope_kwarg: kwargs[self.scope_kwarg], "workspace": self.request.workspace}


class _MessagesApi(_ConversationMixin, APIView):
    def get(self, request, **kwargs):
        params = request.query_params
        page = selectors.message_history(
            user=request.user,
            **self.scope(kwargs),
            limit=params.get("limit"),
            before=params.get("before"),
            after=params.get("after"),
            thread_roots_only=params.get("thread_roots_only"),
        )
        return Response(
            {
                "results": [message_to_api(message) for message in page.results],
                "has_more": page.has_more,
                "before_cursor": page.before_cursor,
                "after_cursor": page.after_cursor,
            }
        )

    def post(self, request, **kwargs):
        serializer = MessageSendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = services.message_send(sender=request.user, **self.scope(kwargs), **serializer.validated_data)
        metrics.MESSAGES_SENT.labels("rest", "ok").inc()
        answer = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        return Response(sent_message_to_api(result.message), status=answer)


class _MessageApi(_ConversationMixin, APIView):
    def patch(self, request, message_id: str, **kwargs):
        serializer = MessageEditSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        message = services.message_edit(
            user=request.user, message_id=message_id, **self.scope(kwargs), **serializer.validated_data
        )
        return Response(message_to_api(message))

    def delete(self, request, message_id: str, **kwargs):
        services.message_delete(user=request.user, message_id=message_id, **self.scope(kwargs))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _history_schema(*, where: str, page, errors: tuple[int, ...], operation_id: str):
    return extend_schema(
        operation_id=operation_id,
        tags=["messages"],
        summary=f"Message history of a {where}",
        description=(
            "Live messages oldest first. Without a cursor, the newest `limit` messages; `has_more` then says "
            "whether older ones exist. With `before`/`after`, the page just older/newer than the cursor, and "
            "`has_more` says whether another page exists in that direction. An empty page hands back the "
            "position asked for in both cursors."
        ),
        parameters=_HISTORY_PARAMETERS,
        responses={200: page, **error_responses(*errors)},
    )


_ARCHIVED = "`channel_archived`: the channel is archived (read-only)."
_BUSY = (
    "Throttled (`throttled`), or `conversation_busy`: this server process has as many sends to this "
    "conversation in flight or queued as it serves without answering late (a hot conversation is shed, not "
    "the server). Nothing was stored; retry after `Retry-After` seconds with the same `client_msg_id`."
)


def _send_schema(*, where: str, message, errors: tuple[int, ...], operation_id: str, archivable: bool = False):
    conflicts = "`client_msg_id_conflict`: another user already sent a message with this client_msg_id in this "
    conflicts += "conversation." + (f" {_ARCHIVED}" if archivable else "")
    return extend_schema(
        operation_id=operation_id,
        tags=["messages"],
        summary=f"Send a message to a {where}",
        description=(
            "201 with the stored message. A retry with a `client_msg_id` already stored in this conversation "
            "stores nothing and answers 200 with the original (409 `client_msg_id_conflict` if another user "
            "sent it)."
            + (" Nothing can be posted in an archived channel (409 `channel_archived`)." if archivable else "")
        ),
        request=MessageSendSerializer,
        responses={
            201: OpenApiResponse(message, description="Stored."),
            200: OpenApiResponse(message, description="A retry: the message stored earlier with this client_msg_id."),
            **error_responses(*errors),
            409: OpenApiResponse(ErrorEnvelopeSerializer, description=conflicts),
            429: OpenApiResponse(ErrorEnvelopeSerializer, description=_BUSY),
        },
    )


def _edit_schema(*, where: str, message, errors: tuple[int, ...], operation_id: str, archivable: bool = False):
    responses = {200: message, **error_responses(*errors)}
    description = (
        "The author only (403 `not_author`), while a member (403 `not_a_member`); SYSTEM messages never "
        "(403 `system_message_immutable`). A deleted or unknown message is a 404: an edit racing a delete of "
        "the same message either lands before it (its `message.updated` is sent before the `message.deleted`) "
        "or answers 404. Concurrent edits are applied one after the other; the last one wins. `content` may "
        "be empty (or only whitespace) for a message that carries files: its caption is removed; for any other "
        "message that is 400."
    )
    if archivable:
        responses[409] = OpenApiResponse(ErrorEnvelopeSerializer, description=_ARCHIVED)
        description += " Nothing can be edited in an archived channel (409 `channel_archived`)."
    return extend_schema(
        operation_id=operation_id,
        tags=["messages"],
        summary=f"Edit a message in a {where}",
        description=description,
        parameters=[_MESSAGE_ID],
        request=MessageEditSerializer,
        responses=responses,
    )


def _delete_schema(*, where: str, errors: tuple[int, ...], operation_id: str):
    return extend_schema(
        operation_id=operation_id,
        tags=["messages"],
        summary=f"Delete a message in a {where}",
        description=(
            "Soft delete: the message no longer appears in history. Its author or staff (403 `not_author`); "
            "a SYSTEM message only staff (403 `system_message_immutable`). Deleting twice is a 404. "
            "Of concurrent deletes of one message (API or admin) exactly one answers 204 and is announced "
            "(one `message.deleted`); the others answer 404. Once a delete answered 204 the message stays "
            "deleted: later edits and deletes of it answer 404. A channel's archive does not stop it: an "
            "archived channel is read-only for sends, edits, reactions and pins, but its authors (and staff) "
            "can still remove a message."
        ),
        parameters=[_MESSAGE_ID],
        request=None,
        responses={204: OpenApiResponse(description="Deleted."), **error_responses(*errors)},
    )


class ChannelMessagesApi(_MessagesApi):
    scope_kwarg = "channel_id"

    @_history_schema(
        where="channel",
        page=ChannelHistorySerializer,
        errors=(400, 401, 403, 404, 503),
        operation_id="channel_messages_list",
    )
    def get(self, request, **kwargs):
        return super().get(request, **kwargs)

    @_send_schema(
        where="channel",
        message=ChannelMessageSerializer,
        errors=(400, 401, 403, 404, 413, 429, 503),
        operation_id="channel_messages_send",
        archivable=True,
    )
    def post(self, request, **kwargs):
        return super().post(request, **kwargs)


class ChannelMessageApi(_MessageApi):
    scope_kwarg = "channel_id"

    @_edit_schema(
        where="channel",
        message=ChannelMessageSerializer,
        errors=(400, 401, 403, 404, 413, 429, 503),
        operation_id="channel_messages_edit",
        archivable=True,
    )
    def patch(self, request, message_id: str, **kwargs):
        return super().patch(request, message_id, **kwargs)

    @_delete_schema(where="channel", errors=(401, 403, 404, 429, 503), operation_id="channel_messages_delete")
    def delete(self, request, message_id: str, **kwargs):
        return super().delete(request, message_id, **kwargs)


class DmMessagesApi(_MessagesApi):
    scope_kwarg = "conversation_id"
    route_kind = "dm"

    @_history_schema(
        where="DM conversation",
        page=DmHistorySerializer,
        errors=(400, 401, 404, 503),
        operation_id="dm_messages_list",
    )
    def get(self, request, **kwargs):
        return super().get(request, **kwargs)

    @_send_schema(
        where="DM conversation",
        message=DmMessageSerializer,
        errors=(400, 401, 404, 413, 429, 503),
        operation_id="dm_messages_send",
    )
    def post(self, request, **kwargs):
        return super().post(request, **kwargs)


class DmMessageApi(_MessageApi):
    scope_kwarg = "conversation_id"
    route_kind = "dm"

    @_edit_schema(
        where="DM conversation",
        message=DmMessageSerializer,
        errors=(400, 401, 403, 404, 413, 429, 503),
        operation_id="dm_messages_edit",
    )
    def patch(self, request, message_id: str, **kwargs):
        return super().patch(request, message_id, **kwargs)

    @_delete_schema(where="DM conversation", errors=(401, 403, 404, 429, 503), operation_id="dm_messages_delete")
    def delete(self, request, message_id: str, **kwargs):
        return super().delete(request, message_id, **kwargs)


# Group DMs (issue 16): the same operations as a DM's, addressed by conversation_id.


class GroupDmMessagesApi(_MessagesApi):
    scope_kwarg = "conversation_id"
    route_kind = "group_dm"

    @_history_schema(
        where="group DM", page=DmHistorySerializer, errors=(400, 401, 404, 503), operation_id="group_dm_messages_list"
    )
    def get(self, request, **kwargs):
        return super().get(request, **kwargs)

    @_send_schema(
        where="group DM",
        message=DmMessageSerializer,
        errors=(400, 401, 404, 413, 429, 503),
        operation_id="group_dm_messages_send",
    )
    def post(self, request, **kwargs):
        return super().post(request, **kwargs)


class GroupDmMessageApi(_MessageApi):
    scope_kwarg = "conversation_id"
    route_kind = "group_dm"

    @_edit_schema(
        where="group DM",
        message=DmMessageSerializer,
        errors=(400, 401, 403, 404, 413, 429, 503),
        operation_id="group_dm_messages_edit",
    )
    def patch(self, request, message_id: str, **kwargs):
        return super().patch(request, message_id, **kwargs)

    @_delete_schema(where="group DM", errors=(401, 403, 404, 429, 503), operation_id="group_dm_messages_delete")
    def delete(self, request, message_id: str, **kwargs):
        return super().delete(request, message_id, **kwargs)
