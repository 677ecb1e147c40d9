"""Thin REST views for workspaces: the caller's workspaces, the current one, switching,
invitations (API.md "Workspaces"). Members' roles and deactivation are in accounts.apis."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.apis import TAG, _with_device_name
from accounts.models import Workspace, WorkspaceInvite
from accounts.selectors import require_admin
from accounts.serializers import (
    AuthResultSerializer,
    InviteCreateSerializer,
    InviteSerializer,
    MyWorkspaceSerializer,
    SwitchSerializer,
    WorkspaceCreatedSerializer,
    WorkspaceCreateSerializer,
    WorkspaceSerializer,
    WorkspaceUpdateSerializer,
)
from slackclone.api.pagination import ApiCursorPagination
from slackclone.api.schema import error_responses
from slackclone.api.throttling import AuthRateThrottle

WS_TAG = ["workspaces"]


class WorkspacePagination(ApiCursorPagination):
    ordering = "slug"  # unique


class InvitePagination(ApiCursorPagination):
    ordering = ("-created_at", "code")


class WorkspaceListApi(generics.ListAPIView):
    serializer_class = MyWorkspaceSerializer
    pagination_class = WorkspacePagination

    def get_permissions(self):
        return [AllowAny()] if self.request.method == "POST" else super().get_permissions()

    def get_throttles(self):
        return (
            [AuthRateThrottle()]
            if self.request.method == "POST" and self.request.user.is_anonymous
            else (super().get_throttles())
        )

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Workspace.objects.none()
        return selectors.workspaces_of_user(user=self.request.user)

    @extend_schema(
        tags=WS_TAG,
        summary="My workspaces",
        description="The workspaces you are an active member of, by slug, with your role (a workspace switcher; "
        "POST /auth/switch for a token of another one).",
        responses={200: MyWorkspaceSerializer(many=True), **error_responses(400, 401)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=WS_TAG,
        summary="Create a workspace",
        description="A new `invite_only` workspace. With a token, you become its owner; without one, give the new "
        "owner's `email`, `username` and `password` too (a new account, or an existing one with its own "
        "password). The answer has a token acting in the new workspace. 403 `workspace_creation_closed` unless "
        "the server's `WORKSPACE_CREATION` is `open` (the default when `DEBUG`) or you are staff; 409 "
        "`workspace_slug_taken`.",
        request=WorkspaceCreateSerializer,
        responses={201: WorkspaceCreatedSerializer, **error_responses(400, 401, 403, 409, 413, 429)},
        auth=[{}, {"bearerAuth": []}],
    )
    def post(self, request):
        data = WorkspaceCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        by = request.user if request.user.is_authenticated else None
        if by is not None:
            for name in ("email", "username", "password", "display_name"):
                fields.pop(name, None)
        workspace, user, token = services.workspace_create(by=by, **fields)
        body = WorkspaceCreatedSerializer(
            {"workspace": workspace, "user": user, "token": token}, context={"viewer": user}
        ).data
        return Response(body, status=status.HTTP_201_CREATED)


class WorkspaceCurrentApi(APIView):
    @extend_schema(
        tags=WS_TAG,
        summary="This workspace",
        description="The workspace of the request's token.",
        responses={200: WorkspaceSerializer, **error_responses(401)},
    )
    def get(self, request):
        return Response(WorkspaceSerializer(selectors.workspace_with_counts(workspace_id=request.workspace.pk)).data)

    @extend_schema(
        tags=WS_TAG,
        summary="Change this workspace",
        description="`name` and/or `joining`: workspace admins only (403 `admin_only`).",
        request=WorkspaceUpdateSerializer,
        responses={200: WorkspaceSerializer, **error_responses(400, 401, 403, 413, 429)},
    )
    def patch(self, request):
        data = WorkspaceUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        workspace = services.workspace_update(membership=request.membership, **data.validated_data)
        return Response(WorkspaceSerializer(workspace).data)


class SwitchApi(APIView):
    @extend_schema(
        tags=TAG,
        summary="Switch workspace",
        description="A new token acting in another workspace you are an active member of (the current token "
        "keeps working); 404 `workspace_not_found` for any other slug. The new token is a session of its own "
        "(GET /auth/sessions), listed as `device_name`, else the User-Agent.",
        request=SwitchSerializer,
        responses={200: AuthResultSerializer, **error_responses(400, 401, 404, 413, 429)},
    )
    def post(self, request):
        data = SwitchSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user, token = services.auth_switch(user=request.user, **_with_device_name(request, data.validated_data))
        return Response(AuthResultSerializer({"user": user, "token": token}, context={"viewer": user}).data)


class InviteListApi(generics.ListAPIView):
    serializer_class = InviteSerializer
    pagination_class = InvitePagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return WorkspaceInvite.objects.none()
        require_admin(membership=self.request.membership)
        return selectors.invite_list(workspace=self.request.workspace)

    @extend_schema(
        tags=WS_TAG,
        summary="Invites of this workspace",
        description="Workspace admins only (403). The codes that can still be used (not revoked, expired or used "
        "up), newest first.",
        responses={200: InviteSerializer(many=True), **error_responses(400, 401, 403)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=WS_TAG,
        summary="Create an invite",
        description="Workspace admins only (403). `max_uses` 1-1000 (omitted: unlimited), `expires_in_hours` "
        "1-720 (default 168). Register with `invite_code` to join; a used-up, expired or revoked code answers "
        "400 `invite_invalid`.",
        request=InviteCreateSerializer,
        responses={201: InviteSerializer, **error_responses(400, 401, 403, 413, 429)},
    )
    def post(self, request):
        data = InviteCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invite = services.invite_create(membership=request.membership, **data.validated_data)
        return Response(InviteSerializer(invite).data, status=status.HTTP_201_CREATED)


class InviteDetailApi(APIView):
    @extend_schema(
        tags=WS_TAG,
        summary="Revoke an invite",
        description="Workspace admins only (403); 404 for a code of no invite of this workspace. Harmless twice.",
        request=None,
        responses={204: OpenApiResponse(description="Revoked."), **error_responses(401, 403, 404, 429)},
    )
    def delete(self, request, code):
        services.invite_revoke(membership=request.membership, code=code)
        return Response(status=status.HTTP_204_NO_CONTENT)
