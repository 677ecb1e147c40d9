"""Thin REST views for accounts: parse, call a service or selector, shape the answer."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.models import User
from accounts.serializers import (
    AuthResultSerializer,
    LoginSerializer,
    MemberRoleSerializer,
    MeSerializer,
    RegisterSerializer,
    SessionSerializer,
    UserSearchSerializer,
    UserSerializer,
    UserUpdateSerializer,
)
from slackclone.api.pagination import ApiCursorPagination
from slackclone.api.schema import error_responses
from slackclone.api.throttling import AuthRateThrottle

TAG = ["accounts"]


class UserPagination(ApiCursorPagination):
    ordering = "username"  # unique, and served by its btree index


def _with_device_name(request, data: dict) -> dict:
    device_name = services.device_name_from(
        device_name=data.get("device_name"), user_agent=request.META.get("HTTP_USER_AGENT")
    )
    return {**data, "device_name": device_name}


class RegisterApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [AuthRateThrottle]

    @extend_schema(
        tags=TAG,
        summary="Register",
        description="Create an account and a first token. Email and username are case-insensitive and stored "
        "lower-cased; the password is checked by the server's password validators. Throttled per client IP.\n\n"
        "**Workspaces.** The account joins `workspace` (a slug), or the invite's workspace when only "
        "`invite_code` is given, or else the deployment's default workspace (`DEFAULT_WORKSPACE`); the token acts "
        "in it. An `invite_only` workspace needs a valid `invite_code` (400 `invite_required`; 400 "
        "`invite_invalid` for an unknown, used-up, expired or revoked code, or one of another workspace); each "
        "registration takes one use. An unknown slug is 404 `workspace_not_found`. An account that exists already "
        "joins with its own email, username and password (201); 409 `email_taken` if it is already a member there "
        "or the password does not match.",
        request=RegisterSerializer,
        responses={201: AuthResultSerializer, **error_responses(400, 404, 409, 413, 429)},
        auth=[{}],
    )
    def post(self, request):
        data = RegisterSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user, token = services.user_register(**_with_device_name(request, data.validated_data))
        body = AuthResultSerializer({"user": user, "token": token}, context={"viewer": user}).data
        return Response(body, status=status.HTTP_201_CREATED)


class LoginApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [AuthRateThrottle]

    @extend_schema(
        tags=TAG,
        summary="Log in",
        description="Exchange `email` or `username` (exactly one of them, case-insensitive) and `password` for a "
        "new token. Bad credentials and deactivated accounts both answer 401 `invalid_credentials`. "
        "Throttled per client IP.\n\nThe token acts in `workspace` (a slug; 401 `invalid_credentials` unless you "
        "are an active member of it); without one: the default workspace if you are in it, else your only "
        "workspace, else 400 `workspace_required` with your workspaces' slugs in `fields.workspace`.",
        request=LoginSerializer,
        responses={200: AuthResultSerializer, **error_responses(400, 401, 413, 429)},
        auth=[{}],
    )
    def post(self, request):
        data = LoginSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user, token = services.user_login(**_with_device_name(request, data.validated_data))
        return Response(AuthResultSerializer({"user": user, "token": token}, context={"viewer": user}).data)


class LogoutApi(APIView):
    @extend_schema(
        tags=TAG,
        summary="Log out",
        description="Revoke the token used for this request; the user's other tokens keep working.",
        request=None,
        responses={204: OpenApiResponse(description="The token no longer works."), **error_responses(401, 429)},
    )
    def post(self, request):
        services.token_revoke(token=request.auth, workspace=request.workspace)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllApi(APIView):
    @extend_schema(
        tags=TAG,
        summary="Log out everywhere",
        description="Revoke every token of the caller, this one included, and close all their WebSockets "
        "(close code 4401). Use it after losing a device.\n\n**Workspaces.** This logs the person out of EVERY "
        "workspace: the tokens acting in the caller's other workspaces (POST /auth/switch, or a login naming "
        "another workspace) are revoked too, and their sockets close. To end one session only, use "
        "DELETE /auth/sessions/{id} or POST /auth/logout.",
        request=None,
        responses={
            204: OpenApiResponse(description="None of your tokens works any more."),
            **error_responses(401, 429),
        },
    )
    def post(self, request):
        services.token_revoke_all(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SessionListApi(APIView):
    @extend_schema(
        tags=TAG,
        summary="My sessions",
        description="The caller's tokens that have not expired, newest first: one per login or registration "
        "(device). Tokens expire TOKEN_TTL (server setting, 30 days by default) after their last use. Not paged: "
        "a user holds a handful.\n\n**Workspaces.** The list is the person's, across every workspace they hold "
        "tokens for (each token acts in one: its `workspace` slug), not only the caller's current workspace; "
        "DELETE /auth/sessions/{id} revokes any of them.",
        responses={200: SessionSerializer(many=True), **error_responses(401)},
    )
    def get(self, request):
        current = selectors.session_id_for(token_digest=request.auth.digest)
        sessions = selectors.session_list_for_user(user=request.user)
        return Response(
            [SessionSerializer({**vars(s), "current": s.id == current}).data for s in sessions],
        )


class SessionDetailApi(APIView):
    @extend_schema(
        tags=TAG,
        summary="Revoke a session",
        description="Revoke one of the caller's sessions (its token stops working; its WebSockets close with "
        "4401). Revoking the current one is a logout. Another user's session, an expired one or an unknown id "
        "answers 404 `session_not_found`.",
        request=None,
        responses={204: OpenApiResponse(description="That token no longer works."), **error_responses(401, 404, 429)},
    )
    def delete(self, request, session_id):
        services.session_revoke(user=request.user, session_id=session_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    @extend_schema(
        tags=TAG,
        summary="My account",
        responses={200: MeSerializer, **error_responses(401)},
    )
    def get(self, request):
        return Response(MeSerializer(request.user, context={"request": request}).data)

    @extend_schema(
        tags=TAG,
        summary="Update my account",
        description="Change `display_name` and/or `username` (other fields are refused). A username is "
        "case-insensitive and stored lower-cased; 409 `username_taken` if someone else has it. "
        "`dnd_until` (a time, or null to end it), `status_text` and `status_emoji` set your status; a change is "
        "announced in `presence.changed` to those who share a conversation with you.",
        request=UserUpdateSerializer,
        responses={200: MeSerializer, **error_responses(400, 401, 409, 413, 429)},
    )
    def patch(self, request):
        data = UserUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        status = {
            k: data.validated_data.pop(k)
            for k in ("dnd_until", "status_text", "status_emoji")
            if k in data.validated_data
        }
        user = services.user_update(user=request.user, **data.validated_data)
        if status:
            from readstate.services import status_update  # issue 18

            status_update(user=user, **status)
        return Response(MeSerializer(user, context={"request": request}).data)


class UserListApi(generics.ListAPIView):
    serializer_class = UserSerializer
    pagination_class = UserPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return User.objects.none()
        query = UserSearchSerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return selectors.user_search(workspace=self.request.workspace, q=query.validated_data.get("q"))

    @extend_schema(
        tags=TAG,
        summary="Search the user directory",
        description="Active members of the token's workspace, ordered by username. `q` matches a "
        "case-insensitive prefix of the username or of the display name; without it every active member is listed.",
        parameters=[
            OpenApiParameter("q", str, description="Case-insensitive prefix of a username or display name (max 80)."),
        ],
        responses={200: UserSerializer(many=True), **error_responses(400, 401)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class UserDetailApi(APIView):
    @extend_schema(
        tags=TAG,
        summary="A user",
        description="A member of the token's workspace, `is_active` false if deactivated there; anyone else "
        "(unknown, or only in other workspaces) is 404.",
        responses={200: UserSerializer, **error_responses(401, 404)},
    )
    def get(self, request, user_id):
        user = selectors.user_get_in_workspace(workspace=request.workspace, user_id=user_id)
        return Response(UserSerializer(user, context={"request": request}).data)

    @extend_schema(
        tags=TAG,
        summary="Set a member's role",
        description="Workspace admins only (403 `admin_only`). Owners set any role; admins set `member` or "
        "`admin` on non-owners (403 `owner_only` otherwise). The last owner cannot be demoted: 409 `last_owner`. "
        "404 for users outside the workspace. Audited.",
        request=MemberRoleSerializer,
        responses={200: UserSerializer, **error_responses(400, 401, 403, 404, 409, 413, 429)},
    )
    def patch(self, request, user_id):
        data = MemberRoleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.member_role_set(by=request.membership, user_id=user_id, role=data.validated_data["role"])
        user = selectors.user_get_in_workspace(workspace=request.workspace, user_id=user_id)
        return Response(UserSerializer(user, context={"request": request}).data)


class UserDeactivateApi(APIView):
    @extend_schema(
        tags=TAG,
        summary="Deactivate a member of this workspace",
        description="Workspace admins only (403; owners only by owners). The member's tokens for this workspace "
        "are deleted (reactivating does not revive them) and their sockets of this workspace close with 4401; "
        "their profile still answers, with `is_active` false. Not yourself (400 `cannot_deactivate_self`). "
        "Deactivating twice is harmless. Audited.",
        request=None,
        responses={200: UserSerializer, **error_responses(400, 401, 403, 404, 429)},
    )
    def post(self, request, user_id):
        services.member_deactivate(by=request.membership, user_id=user_id)
        user = selectors.user_get_in_workspace(workspace=request.workspace, user_id=user_id)
        return Response(UserSerializer(user, context={"request": request}).data)


class UserReactivateApi(APIView):
    @extend_schema(
        tags=TAG,
        summary="Reactivate a member of this workspace",
        description="Workspace admins only (403; owners only by owners). They log in again for a new token. "
        "Harmless for an active member. Audited.",
        request=None,
        responses={200: UserSerializer, **error_responses(401, 403, 404, 429)},
    )
    def post(self, request, user_id):
        services.member_reactivate(by=request.membership, user_id=user_id)
        user = selectors.user_get_in_workspace(workspace=request.workspace, user_id=user_id)
        return Response(UserSerializer(user, context={"request": request}).data)
