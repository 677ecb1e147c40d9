"""GET /api/v1/presence?user_ids=<id>,<id>"""

from uuid import UUID

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from presence.services import MAX_USER_IDS, OFFLINE, ONLINE, presence_get_many
from slackclone.api.schema import error_responses


class UserIdListField(serializers.Field):
    """Comma-separated UUIDs -> a list of canonical UUID strings, repeats dropped, order kept."""

    default_error_messages = {
        "invalid_uuid": "Not a UUID: {value}.",
        "too_many": f"At most {MAX_USER_IDS} user ids.",
    }

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError("Must be a comma-separated list of UUIDs.")
        ids: dict[str, None] = {}
        for part in data.split(","):
            part = part.strip()
            if not part:
                continue
            try:
                ids[str(UUID(part))] = None
            except ValueError:
                self.fail("invalid_uuid", value=part[:40])
            if len(ids) > MAX_USER_IDS:
                self.fail("too_many")
        return list(ids)

    def to_representation(self, value):
        return ",".join(value)


class PresenceQuerySerializer(serializers.Serializer):
    user_ids = UserIdListField()


class PresenceSerializer(serializers.Serializer):
    user_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=[ONLINE, OFFLINE])
    last_seen_at = serializers.DateTimeField(
        allow_null=True,
        help_text="The last time a connection of the user was seen (UTC, milliseconds); null if never.",
    )
    status_text = serializers.CharField(help_text="The user's status text (0-100 characters; empty if none).")
    status_emoji = serializers.CharField(help_text="The user's status emoji (empty if none).")
    dnd = serializers.BooleanField(help_text="Do not disturb: true while `dnd_until` is in the future.")
    dnd_until = serializers.DateTimeField(allow_null=True, help_text="Until when the user does not want notifications.")


class PresenceListSerializer(serializers.Serializer):
    results = PresenceSerializer(many=True)


class PresenceListApi(APIView):
    @extend_schema(
        tags=["presence"],
        summary="Presence of users",
        operation_id="presence_list",
        description="Whether each user is online: a user is online while at least one of their WebSocket "
        "connections is open on any server process, and offline once the last one has closed (or its process "
        "died) and a short grace period has passed. Results follow the order asked, repeats removed; an unknown "
        "user, and anyone outside the token's workspace, reads as offline with a null `last_seen_at`. "
        f"At most {MAX_USER_IDS} ids.",
        parameters=[
            OpenApiParameter(
                "user_ids",
                str,
                required=True,
                description=f"Comma-separated user UUIDs (1-{MAX_USER_IDS}).",
            )
        ],
        responses={200: PresenceListSerializer, **error_responses(400, 401, 503)},
    )
    def get(self, request):
        query = PresenceQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(
            {"results": presence_get_many(user_ids=query.validated_data["user_ids"], workspace=request.workspace)}
        )
