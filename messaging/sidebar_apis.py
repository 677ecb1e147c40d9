"""GET /conversations: the sidebar (issue 16). Thin: parse, call the selector, shape."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.serializers import UserSerializer
from messaging import sidebar
from slackclone.api.fields import TimeField, format_time
from slackclone.api.schema import PAGE_PARAMETERS, error_responses


class LatestSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    created_at = TimeField()
    sender_id = serializers.UUIDField(allow_null=True, help_text="Null for a SYSTEM message without an actor.")
    preview = serializers.CharField(help_text="The first 120 characters of the newest visible message.")

    class Meta:
        ref_name = "ConversationLatest"


class ConversationItemSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=list(sidebar.KINDS))
    id = serializers.UUIDField()
    name = serializers.CharField(allow_null=True, help_text="Channels: the name; null otherwise.")
    other_user = UserSerializer(allow_null=True, help_text="DMs: the other participant; null otherwise.")
    members = UserSerializer(
        many=True, allow_null=True, help_text="Group DMs: every member, you included; null otherwise."
    )
    is_private = serializers.BooleanField(help_text="Channels: as the channel says. DMs and group DMs: always true.")
    latest = LatestSerializer(
        allow_null=True,
        help_text="The newest visible message (a SYSTEM one too), or null if none. An edit of it updates "
        "`preview`; deleting it moves `latest` back to the newest visible message.",
    )
    last_read_seq = serializers.IntegerField(help_text="Your read marker (0: nothing read yet).")
    unread_count = serializers.IntegerField(
        help_text="Messages after your marker that are not yours: TEXT, visible, in the conversation's view "
        "(thread replies only when also sent to it). Exact (counted from the marker on the stored messages)."
    )
    mention_count = serializers.IntegerField(
        help_text="The part of `unread_count` that mentions you or the whole conversation."
    )
    muted = serializers.BooleanField(help_text="As set by PUT …/preferences.")

    class Meta:
        ref_name = "ConversationItem"


def _item(row: sidebar.SidebarRow, page: sidebar.SidebarPage, context) -> dict:
    latest = None
    if row.latest_seq is not None:
        latest = {
            "seq": row.latest_seq,
            "created_at": format_time(row.latest_created_at),
            "sender_id": str(row.latest_sender_id) if row.latest_sender_id else None,
            "preview": row.latest_preview or "",
        }
    other = page.other_users.get(row.other_user_id) if row.kind == "dm" else None
    members = page.group_members.get(row.id) if row.kind == "group_dm" else None
    state = page.read_states[str(row.id)]
    return {
        "kind": row.kind,
        "id": str(row.id),
        "name": row.name if row.kind == "channel" else None,
        "other_user": UserSerializer(other, context=context).data if other is not None else None,
        "members": [UserSerializer(u, context=context).data for u in members] if members is not None else None,
        "is_private": bool(row.is_private),
        "latest": latest,
        "last_read_seq": state.last_read_seq,
        "unread_count": state.unread_count,
        "mention_count": state.mention_count,
        "muted": state.muted,
    }


class ConversationListApi(APIView):
    @extend_schema(
        tags=["conversations"],
        summary="The sidebar: my conversations",
        description="Your channels, DMs and group DMs in this workspace, most recent activity first (the newest "
        "message's time, else the conversation's creation; ties by id), paginated with `cursor`/`limit` (default "
        "50, max 200). One query per page however many conversations you have. `kinds` restricts the kinds "
        "(comma-separated subset of `channel,dm,group_dm`; default all). Each item carries your read state "
        "(`last_read_seq`, `unread_count`, `mention_count`, `muted`), counted for the page in a few more queries "
        "(over the unread messages only, on the unread index). The order follows activity as it is when each "
        "page is read: a conversation whose activity changes while you page can move across the cursor (a new "
        "message lifts it above pages already read; deleting its newest message can bring it back on a later "
        "page), so dedupe by `id` and keep it current from `message.created` / `message.deleted`.",
        parameters=[
            OpenApiParameter("kinds", str, description="Comma-separated subset of `channel`, `dm`, `group_dm`."),
            *PAGE_PARAMETERS,
        ],
        responses={
            200: inline_serializer(
                "ConversationPage",
                {
                    "results": ConversationItemSerializer(many=True),
                    "next_cursor": serializers.CharField(allow_null=True),
                },
            ),
            **error_responses(400, 401),
        },
    )
    def get(self, request):
        params = request.query_params
        page = sidebar.conversations_list(
            user=request.user,
            workspace=request.workspace,
            kinds=sidebar.clean_kinds(params.get("kinds")),
            cursor=params.get("cursor"),
            limit=params.get("limit"),
        )
        context = {"request": request}
        return Response(
            {"results": [_item(row, page, context) for row in page.results], "next_cursor": page.next_cursor}
        )
