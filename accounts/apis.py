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
        "lower-cased; the password is checked by the server's password validators. Throttled per client IP.",
        request=RegisterSerializer,
        responses={201: AuthResultSerializer, **error_responses(400, 409, 413, 429)},
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
        "Throttled per client IP.",
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
        services.token_revoke(token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllApi(APIView):
    @extend_schema(
        tags=TAG,
        summary="Log out everywhere",
        description="Revoke every token of the caller, this one included, and close all their WebSockets "
        "(close code 4401). Use it after losing a device.",
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
        "a user holds a handful.",
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
        responses={200: UserSerializer, **error_responses(401)},
    )
    def get(self, request):
        return Response(UserSerializer(request.user, context={"request": request}).data)

    @extend_schema(
        tags=TAG,
        summary="Update my account",
        description="Change `display_name` and/or `username` (other fields are refused). A username is "
        "case-insensitive and stored lower-cased; 409 `username_taken` if someone else has it.",
        request=UserUpdateSerializer,
        responses={200: UserSerializer, **error_responses(400, 401, 409, 413, 429)},
    )
    def patch(self, request):
        data = UserUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_update(user=request.user, **data.validated_data)
        return Response(UserSerializer(user, context={"request": request}).data)


class UserListApi(generics.ListAPIView):
    serializer_class = UserSerializer
    pagination_class = UserPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return User.objects.none()
        query = UserSearchSerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return selectors.user_search(q=query.validated_data.get("q"))

    @extend_schema(
        tags=TAG,
        summary="Search the user directory",
        description="Active users, ordered by username. `q` matches a case-insensitive prefix of the username "
        "or of the display name; without it every active user is listed.",
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
        description="Any active user; unknown and deactivated users are 404.",
        responses={200: UserSerializer, **error_responses(401, 404)},
    )
    def get(self, request, user_id):
        user = selectors.user_get_active(user_id=user_id)
        return Response(UserSerializer(user, context={"request": request}).data)
