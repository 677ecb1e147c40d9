"""Thin REST views for channels: parse, call a service or selector, shape the answer."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from channels_app import selectors, services
from channels_app.models import Channel, ChannelMember
from channels_app.serializers import (
    ChannelCreateSerializer,
    ChannelListQuerySerializer,
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
        description="Every channel, ordered by name (channels are public). `member=true` lists only yours; "
        "`q` is a case-insensitive prefix of the name.",
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
        description="The creator becomes its first member, which posts a SYSTEM message `<username> joined`. "
        "The name is case-insensitive and stored lower-cased; 409 `channel_name_taken` if it exists.",
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
        description="Any channel (channels are public); 404 if it does not exist.",
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
        description="`description` (null or empty clears it) and/or `name`. Only the channel's creator or staff "
        "(else 403); 409 `channel_name_taken` on a taken name.",
        request=ChannelUpdateSerializer,
        responses={200: ChannelSerializer, **error_responses(400, 401, 403, 404, 409, 413, 429)},
    )
    def patch(self, request, channel_id):
        data = ChannelUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        channel = services.channel_update(
            user=request.user, workspace=request.workspace, channel_id=channel_id, **data.validated_data
        )
        return Response(ChannelSerializer(channel).data)


class ChannelJoinApi(APIView):
    @extend_schema(
        tags=TAG,
        summary="Join a channel",
        description="Posts a SYSTEM message `<username> joined`. Joining again is harmless: 200, nothing posted. "
        "An archived channel cannot be joined: 409 `channel_archived`.",
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
        "nothing posted. The membership of an archived channel is frozen: 409 `channel_archived`.",
        request=None,
        responses={
            204: OpenApiResponse(description="You are not a member."),
            **error_responses(401, 404, 429, 503),
            409: ARCHIVED_409,
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
        return selectors.channel_members_list(workspace=self.request.workspace, channel_id=self.kwargs["channel_id"])

    @extend_schema(
        tags=TAG,
        summary="Members of a channel",
        description="Oldest members first. Channels are public, so any signed-in user may list the members.",
        responses={200: ChannelMemberSerializer(many=True), **error_responses(400, 401, 404)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
