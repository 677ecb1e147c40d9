"""Thin REST views for DM conversations."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from dms import selectors, services
from dms.models import DmConversation, GroupDm
from dms.serializers import DmConversationSerializer, DmOpenSerializer, GroupDmOpenSerializer, GroupDmSerializer
from slackclone.api.pagination import ApiCursorPagination
from slackclone.api.schema import error_responses

TAG = ["direct messages"]


class DmPagination(ApiCursorPagination):
    ordering = "-created_at"  # newest conversations first


class DmListApi(generics.ListAPIView):
    serializer_class = DmConversationSerializer
    pagination_class = DmPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return DmConversation.objects.none()
        return selectors.dm_list_for_participant(user=self.request.user, workspace=self.request.workspace)

    @extend_schema(
        tags=TAG,
        summary="My DM conversations",
        description="The conversations you are one of the two users of, newest first.",
        responses={200: DmConversationSerializer(many=True), **error_responses(400, 401)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=TAG,
        summary="Open a DM conversation",
        description="The conversation with `user_id`: 201 if it was created now, 200 if it already existed "
        "(whoever opened it first). 400 `cannot_dm_self` for yourself; 404 `user_not_found` for an unknown or "
        "deactivated user (a pair that has a DM already gets it, 200, even if the other was deactivated since).",
        request=DmOpenSerializer,
        responses={
            200: OpenApiResponse(DmConversationSerializer, description="The conversation already existed."),
            201: OpenApiResponse(DmConversationSerializer, description="The conversation was created."),
            **error_responses(400, 401, 404, 413, 429),
        },
    )
    def post(self, request):
        data = DmOpenSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        conversation, created = services.dm_open(
            user=request.user, workspace=request.workspace, other_user_id=data.validated_data["user_id"]
        )
        body = DmConversationSerializer(conversation, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class DmDetailApi(APIView):
    @extend_schema(
        tags=TAG,
        summary="A DM conversation",
        description="404 unless you are one of its two users.",
        responses={200: DmConversationSerializer, **error_responses(401, 404)},
    )
    def get(self, request, conversation_id):
        conversation = selectors.dm_get_for_participant_with_users(
            user=request.user, workspace=request.workspace, conversation_id=conversation_id
        )
        return Response(DmConversationSerializer(conversation, context={"request": request}).data)


# --- Group DMs (issue 16) ------------------------------------------------------------

GROUP_TAG = ["group DMs"]


class GroupDmPagination(ApiCursorPagination):
    ordering = ("-created_at", "id")  # newest conversations first


class GroupDmListApi(generics.ListAPIView):
    serializer_class = GroupDmSerializer
    pagination_class = GroupDmPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return GroupDm.objects.none()
        return selectors.group_dm_list_for_member(user=self.request.user, workspace=self.request.workspace)

    @extend_schema(
        tags=GROUP_TAG,
        summary="My group DMs",
        description="The group DMs of this workspace you are a member of, newest first.",
        responses={200: GroupDmSerializer(many=True), **error_responses(400, 401)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=GROUP_TAG,
        summary="Open a group DM",
        description="The conversation of you and `user_ids` (3-9 people in all): 201 if it was created now, 200 if "
        "that member set already has one (in any order of `user_ids`; concurrent requests create one). Nobody can "
        "join or leave it later. 400 `invalid_members` for fewer than 2 or more than 8 others, repeats or "
        "yourself; 404 `user_not_found` for a user who is not an active member of this workspace (a set that "
        "has a group DM already gets it, 200, even if a member was deactivated since).",
        request=GroupDmOpenSerializer,
        responses={
            200: OpenApiResponse(GroupDmSerializer, description="The group DM already existed."),
            201: OpenApiResponse(GroupDmSerializer, description="The group DM was created."),
            **error_responses(400, 401, 404, 413, 429),
        },
    )
    def post(self, request):
        data = GroupDmOpenSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        group_dm, created = services.group_dm_open(
            user=request.user, workspace=request.workspace, user_ids=data.validated_data["user_ids"]
        )
        body = GroupDmSerializer(group_dm, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class GroupDmDetailApi(APIView):
    @extend_schema(
        tags=GROUP_TAG,
        summary="A group DM",
        description="404 unless you are one of its members.",
        responses={200: GroupDmSerializer, **error_responses(401, 404)},
    )
    def get(self, request, conversation_id):
        group_dm = selectors.group_dm_get_for_member(
            user=request.user, workspace=request.workspace, conversation_id=conversation_id, with_members=True
        )
        return Response(GroupDmSerializer(group_dm, context={"request": request}).data)
