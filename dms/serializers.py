"""Input validation and output shapes for DM conversations. Nothing here writes."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.serializers import UserSerializer, workspace_state
from slackclone.api.fields import TimeField
from slackclone.api.serializers import StrictSerializer


class StrictUUIDField(serializers.UUIDField):
    """A UUID given as a JSON string (DRF's UUIDField would also take an integer)."""

    default_error_messages = {"not_a_string": "Must be a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class DmOpenSerializer(StrictSerializer):
    """The user to talk to. Unknown fields are refused."""

    user_id = StrictUUIDField(help_text="The other user's id.")


class DmConversationSerializer(serializers.Serializer):
    """A direct conversation between two users; `user1_id` is the smaller UUID."""

    # Shaped for the request's user; expects user1 and user2 loaded (select_related): no query per row.

    id = serializers.UUIDField(read_only=True)
    user1_id = serializers.UUIDField(read_only=True, help_text="The smaller of the two user ids.")
    user2_id = serializers.UUIDField(read_only=True, help_text="The larger of the two user ids.")
    other_user = serializers.SerializerMethodField(help_text="The participant who is not you.")
    created_at = TimeField()

    class Meta:
        ref_name = "DmConversation"

    @extend_schema_field(UserSerializer)
    def get_other_user(self, conversation) -> dict:
        viewer_id = self.context["request"].user.pk
        side = "user2" if conversation.user1_id == viewer_id else "user1"
        other = getattr(conversation, side)
        workspace_state(
            other,
            role=getattr(conversation, f"{side}_workspace_role", None),
            is_active=getattr(conversation, f"{side}_workspace_is_active", None),
        )
        return UserSerializer(other, context=self.context).data


# --- Group DMs (issue 16) ------------------------------------------------------------

# No bound of the list's own: 2-8 is the service's rule, so that any other count (1, 9
# or 101 others) gets `invalid_members` like a repeat or yourself (dms.services), as
# the contract says; the request body's limit (MAX_REQUEST_BODY_BYTES) bounds parsing.


class GroupDmOpenSerializer(StrictSerializer):
    """The other members of the group DM (2-8 distinct users, the caller excluded)."""

    user_ids = serializers.ListField(
        child=StrictUUIDField(),
        help_text="The other members: 2-8 distinct user ids of active members of the workspace, not your own "
        "(else 400 `invalid_members`). Their order does not matter.",
    )


class GroupDmSerializer(serializers.Serializer):
    """A conversation of 3-9 people (the caller included); its members never change."""

    # Expects the memberships prefetched with their users (dms.selectors._with_members).

    id = serializers.UUIDField(read_only=True)
    members = serializers.SerializerMethodField(help_text="Every member, you included, by username.")
    created_at = TimeField()

    class Meta:
        ref_name = "GroupDm"

    @extend_schema_field(UserSerializer(many=True))
    def get_members(self, group_dm) -> list[dict]:
        users = []
        for membership in group_dm.memberships.all():
            workspace_state(
                membership.user,
                role=getattr(membership, "user_workspace_role", None),
                is_active=getattr(membership, "user_workspace_is_active", None),
            )
            users.append(UserSerializer(membership.user, context=self.context).data)
        return users
