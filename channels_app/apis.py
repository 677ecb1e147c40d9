"""Thin REST views for channels: parse, call a service or selector, shape the answer."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from channels_app import selectors, services, services_manage
from channels_app.models import Channel, ChannelMember
from channels_app.serializers import (
    ChannelCreateSerializer,
    ChannelListQuerySerializer,
    ChannelMemberRoleSerializer,
    ChannelMembersAddedSerializer,
    ChannelMembersAddSerializer,
    ChannelMemberSerializer,
    ChannelSerializer,
    ChannelUpdateSerializer,
)
from slackclone.api.pagination import ApiCursorPagination
from slackclone.api.schema import ErrorEnvelopeSerializer, error_responses

TAG = ["channels"]

ARCHIVED_409 = OpenApiResponse(
    ErrorEnvelopeSerializer, description="`channel_archived`: the channel is archived (read-only)."
)
LEAVE_409 = OpenApiResponse(
    ErrorEnvelopeSerializer,
    description="`channel_archived`: the channel is archived (read-only); `last_member`: the last member of a "
    "private channel cannot leave it.",
)


class ChannelPagination(ApiCursorPagination):
    ordering = "name"  # unique and indexed


class MemberPagination(ApiCursorPagination):
    ordering = ("joined_at", "id")  # oldest members first; id breaks ties


class ChannelListApi(generics.ListAPIView):
    serializer_class = ChannelSerializer
    pagination_class = ChannelPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Channel.objects.none()
        query = ChannelListQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return selectors.channel_list(
            user=self.request.user,
            workspace=self.request.workspace,
            member_only=query.validated_data["member"],
            q=query.validated_data.get("q"),
        )

    @extend_schema(
        tags=TAG,
        summary="List channels",
        description="Every channel you can see, ordered by name: the public ones and the private ones you are a "
        "member of (others' private channels never appear). `member=true` lists only yours; `q` is a "
        "case-insensitive prefix of the name.",
        parameters=[
            OpenApiParameter("member", bool, description="`true`: only channels you are a member of."),
            OpenApiParameter("q", str, description="Case-insensitive prefix of the channel name (max 80)."),
        ],
        responses={200: ChannelSerializer(many=True), **error_responses(400, 401)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=TAG,
        summary="Create a channel",
        description="The creator becomes its first member and manager, which posts a SYSTEM message "
        "`<username> joined`. `is_private` (default false) cannot change later. The name is case-insensitive and "
        "stored lower-cased; 409 `channel_name_taken` if it exists in the workspace (private channels included).",
        request=ChannelCreateSerializer,
        responses={201: ChannelSerializer, **error_responses(400, 401, 409, 413, 429, 503)},
    )
    def post(self, request):
        data = ChannelCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        channel = services.channel_create(user=request.user, workspace=request.workspace, **data.validated_data)
        return Response(ChannelSerializer(channel).data, status=status.HTTP_201_CREATED)


class ChannelDetailApi(APIView):
    @extend_schema(
        tags=TAG,
        summary="A channel",
        description="A public channel, or a private one you are a member of; 404 otherwise (staff and workspace "
        "admins included).",
        responses={200: ChannelSerializer, **error_responses(401, 404)},
    )
    def get(self, request, channel_id):
        return Response(
            ChannelSerializer(
                selectors.channel_get_for_viewer(user=request.user, workspace=request.workspace, channel_id=channel_id)
            ).data
        )

    @extend_schema(
        tags=TAG,
        summary="Change a channel",
        description="`name`, `description` and/or `topic` (null or empty clears the last two). The channel's "
        "managers and workspace admins (staff too on a public channel), else 403 `not_a_manager`. Each change "
        "posts a SYSTEM message (`alice renamed the channel to #ops`, `alice set the topic: ...`, `alice set the "
        "description: ...`) and members hear `channel.updated`. 409 `channel_name_taken` on a taken name, 409 "
        "`channel_archived` while archived.",
        request=ChannelUpdateSerializer,
        responses={200: ChannelSerializer, **error_responses(400, 401, 403, 404, 409, 413, 429, 503)},
    )
    def patch(self, request, channel_id):
        data = ChannelUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        channel = services_manage.channel_update(
            user=request.user, workspace=request.workspace, channel_id=channel_id, **data.validated_data
        )
        return Response(ChannelSerializer(channel).data)

    @extend_schema(
        tags=TAG,
        summary="Delete a channel",
        description="Workspace admins only (403 `admin_only`; a private channel they are not in is 404). The "
        "channel, its memberships and its messages are gone; members hear `channel.deleted {channel_id}` and "
        "their sockets stop receiving it. A send or edit racing the delete either completes before it (and goes "
        "with the channel) or answers 404 and stores nothing.",
        request=None,
        responses={204: OpenApiResponse(description="Deleted."), **error_responses(401, 403, 404, 429, 503)},
    )
    def delete(self, request, channel_id):
        services_manage.channel_delete_by_admin(user=request.user, workspace=request.workspace, channel_id=channel_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChannelJoinApi(APIView):
    @extend_schema(
        tags=TAG,
        summary="Join a channel",
        description="Posts a SYSTEM message `<username> joined`. Joining again is harmless: 200, nothing posted. "
        "An archived channel cannot be joined: 409 `channel_archived` (a member joining it again: 200 as ever). "
        "Nobody joins a private channel by themselves: a member adds them (POST /channels/{id}/members); to a "
        "non-member it is 404.",
        request=None,
        responses={200: ChannelSerializer, **error_responses(401, 404, 429, 503), 409: ARCHIVED_409},
    )
    def post(self, request, channel_id):
        channel = services.channel_join(user=request.user, workspace=request.workspace, channel_id=channel_id)
        return Response(ChannelSerializer(channel).data)


class ChannelLeaveApi(APIView):
    @extend_schema(
        tags=TAG,
        summary="Leave a channel",
        description="Posts a SYSTEM message `<username> left`. Leaving when not a member is harmless: 204, "
        "nothing posted (a private channel you are not in is 404). The membership of an archived channel is "
        "frozen: 409 `channel_archived` for a member (a non-member: 204 as ever). The last member of a private "
        "channel cannot leave it (409 `last_member`): nobody else could ever see, reach or delete it, and its "
        "name would stay taken; add someone first, or archive it. Your sockets stop receiving the channel "
        "before the others hear `member.left`; they get `member.left` for you themselves.",
        request=None,
        responses={
            204: OpenApiResponse(description="You are not a member."),
            **error_responses(401, 404, 429, 503),
            409: LEAVE_409,
        },
    )
    def post(self, request, channel_id):
        services.channel_leave(user=request.user, workspace=request.workspace, channel_id=channel_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChannelMemberListApi(generics.ListAPIView):
    serializer_class = ChannelMemberSerializer
    pagination_class = MemberPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return ChannelMember.objects.none()
        return selectors.channel_members_list(
            user=self.request.user, workspace=self.request.workspace, channel_id=self.kwargs["channel_id"]
        )

    @extend_schema(
        tags=TAG,
        summary="Members of a channel",
        description="Oldest members first, each with their `role` in the channel. Anyone in the workspace for a "
        "public channel; only members for a private one (404 otherwise).",
        responses={200: ChannelMemberSerializer(many=True), **error_responses(400, 401, 404)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=TAG,
        summary="Add people to a channel",
        description="Any member of the channel (public or private; 403 `not_a_member` on a public channel you are "
        "not in). `user_ids`: 1-100 active members of the workspace (404 `user_not_found` for anyone else: nobody is "
        "added then); users already in it are skipped. Each one added posts `alice added bob` and is announced "
        "like a join. 409 `channel_archived` while archived.",
        request=ChannelMembersAddSerializer,
        responses={
            200: ChannelMembersAddedSerializer,
            **error_responses(400, 401, 403, 404, 413, 429, 503),
            409: ARCHIVED_409,
        },
    )
    def post(self, request, channel_id):
        data = ChannelMembersAddSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        added = services_manage.channel_members_add(
            user=request.user,
            workspace=request.workspace,
            channel_id=channel_id,
            user_ids=data.validated_data["user_ids"],
        )
        return Response(ChannelMembersAddedSerializer({"added": added}, context={"request": request}).data)


class ChannelMemberApi(APIView):
    @extend_schema(
        tags=TAG,
        summary="Remove a member",
        description="The channel's managers and workspace admins (403 `not_a_manager`). Posts `alice removed bob`. "
        "The removed user's sockets stop receiving the channel at once, on every server process, before the "
        "remaining members hear `member.left`; their own sockets get `member.left` for themselves. Removing "
        "someone who is not a member is harmless (204); 404 `user_not_found` for a user outside the workspace. "
        "409 `channel_archived` while archived; 409 `last_member` for the last member of a private channel (as "
        "for leaving).",
        request=None,
        responses={
            204: OpenApiResponse(description="Removed (or was not a member)."),
            **error_responses(401, 403, 404, 429, 503),
            409: LEAVE_409,
        },
    )
    def delete(self, request, channel_id, user_id):
        services_manage.channel_member_remove(
            user=request.user, workspace=request.workspace, channel_id=channel_id, user_id=user_id
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        tags=TAG,
        summary="Set a member's role",
        description="`manager` or `member`. The channel's managers and workspace admins (403 `not_a_manager`); 404 "
        "`not_a_member` if the user is not in the channel. A change posts `alice made bob a manager` and members "
        "hear `member.role_changed {channel_id, user_id, role}`; setting the current role changes nothing. The "
        "last manager may be demoted (workspace admins can still manage the channel). 409 `channel_archived`.",
        request=ChannelMemberRoleSerializer,
        responses={
            200: ChannelMemberSerializer,
            **error_responses(400, 401, 403, 404, 413, 429, 503),
            409: ARCHIVED_409,
        },
    )
    def patch(self, request, channel_id, user_id):
        data = ChannelMemberRoleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services_manage.channel_member_role_set(
            user=request.user,
            workspace=request.workspace,
            channel_id=channel_id,
            user_id=user_id,
            role=data.validated_data["role"],
        )
        membership = selectors.channel_member_get(
            user=request.user, workspace=request.workspace, channel_id=channel_id, member_id=user_id
        )
        return Response(ChannelMemberSerializer(membership).data)


class _ChannelArchiveApi(APIView):
    archived: bool

    def post(self, request, channel_id):
        channel = services_manage.channel_set_archived(
            user=request.user, workspace=request.workspace, channel_id=channel_id, archived=self.archived
        )
        return Response(ChannelSerializer(channel).data)


class ChannelArchiveApi(_ChannelArchiveApi):
    archived = True

    @extend_schema(
        tags=TAG,
        summary="Archive a channel",
        description="The channel's managers and workspace admins (403 `not_a_manager`). Posts `alice archived the "
        "channel`; then nothing can be posted, edited, joined, left, added or removed (409 `channel_archived`) "
        "until it is unarchived. A send or invite racing the archive either lands before it or is refused. "
        "Archiving an archived channel is harmless. Members hear `channel.updated`.",
        request=None,
        responses={200: ChannelSerializer, **error_responses(401, 403, 404, 429, 503)},
    )
    def post(self, request, channel_id):
        return super().post(request, channel_id)


class ChannelUnarchiveApi(_ChannelArchiveApi):
    archived = False

    @extend_schema(
        tags=TAG,
        summary="Unarchive a channel",
        description="The channel's managers and workspace admins (403 `not_a_manager`). Posts `alice unarchived the "
        "channel`; unarchiving a live channel is harmless. Members hear `channel.updated`.",
        request=None,
        responses={200: ChannelSerializer, **error_responses(401, 403, 404, 429, 503)},
    )
    def post(self, request, channel_id):
        return super().post(request, channel_id)
