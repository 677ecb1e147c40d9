"""Input validation and output shapes for channels. Nothing here writes."""

import re

from rest_framework import serializers

from accounts.serializers import UserSerializer, workspace_state
from slackclone.api.fields import TimeField
from slackclone.api.serializers import MultiLineCharField, StrictBooleanField, StrictCharField, StrictSerializer
from slackclone.text import MULTILINE_HELP

NAME_MAX_LENGTH = 80
DESCRIPTION_MAX_LENGTH = 250
TOPIC_MAX_LENGTH = 250

# Checked on the raw input (ASCII only, either case), then lower-cased: "General" -> "general".
_NAME_RE = re.compile(r"[A-Za-z0-9_\-]{1,80}")

NAME_HELP = (
    "1-80 characters of letters, digits, `-` and `_`. Case-insensitive: upper-case letters are accepted and "
    "lower-cased, so `General` is stored and returned as `general`."
)


def normalize_channel_name(value: str) -> str:
    if not _NAME_RE.fullmatch(value):
        raise serializers.ValidationError(
            "Use 1-80 characters: letters, digits, '-' or '_' (case-insensitive, stored in lower case)."
        )
    return value.lower()


class ChannelNameField(StrictCharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", NAME_MAX_LENGTH)
        kwargs.setdefault("trim_whitespace", False)
        kwargs.setdefault("help_text", NAME_HELP)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        return normalize_channel_name(super().to_internal_value(data))


class DescriptionField(MultiLineCharField):
    """0-250 characters or null; blank (after trimming) means no description, stored as null."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", DESCRIPTION_MAX_LENGTH)
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault(
            "help_text", "0-250 characters, trimmed; an empty description is stored as null. " + MULTILINE_HELP
        )
        super().__init__(**kwargs)

    def run_validation(self, data=serializers.empty):
        return super().run_validation(data) or None


# --- Output -------------------------------------------------------------------


class ChannelSerializer(serializers.Serializer):
    """A public channel, with its member count and whether you are a member."""

    # Built from channels_app.selectors.channels_for_viewer, which annotates member_count and is_member.

    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True, allow_null=True)
    created_by = serializers.UUIDField(
        source="created_by_id", read_only=True, allow_null=True, help_text="The creator's user id (null if deleted)."
    )
    created_at = TimeField()
    member_count = serializers.IntegerField(read_only=True)
    is_member = serializers.BooleanField(
        read_only=True,
        help_text="Whether you are a member (in a `channel.updated` event: true, as it goes to members only).",
    )
    archived_at = TimeField(
        allow_null=True,
        help_text="When a manager, a workspace admin or staff archived the channel, or null. An archived channel "
        "stays readable, but nobody can join or leave it, be added or removed, or post or edit messages in it, and "
        "only unarchiving changes it (409 `channel_archived`).",
    )
    is_private = serializers.BooleanField(
        read_only=True,
        help_text="A private channel is invisible to non-members (404 on every path under it, staff and workspace "
        "admins included); members add people to it. Fixed at creation.",
    )
    topic = serializers.CharField(read_only=True, help_text="0-250 characters; empty when none is set.")
    my_role = serializers.ChoiceField(
        choices=["manager", "member"],
        read_only=True,
        allow_null=True,
        help_text="Your role in the channel, null if you are not a member. Managers (the creator is the first) and "
        "workspace admins may rename it, set its description and topic, set roles, remove members, archive and "
        "unarchive it. In a `channel.updated` event it is null (it differs per member; see `member.role_changed`).",
    )

    class Meta:
        ref_name = "Channel"


class ChannelMemberSerializer(serializers.Serializer):
    """A member of a channel and when they joined."""

    user = UserSerializer(read_only=True)
    joined_at = TimeField()
    role = serializers.ChoiceField(choices=["manager", "member"], read_only=True, help_text="The role in the channel.")

    class Meta:
        ref_name = "ChannelMember"

    def to_representation(self, instance):
        workspace_state(
            instance.user,
            role=getattr(instance, "user_workspace_role", None),
            is_active=getattr(instance, "user_workspace_is_active", None),
        )
        return super().to_representation(instance)


# --- Input --------------------------------------------------------------------


class ChannelCreateSerializer(StrictSerializer):
    """A new channel. Unknown fields are refused."""

    name = ChannelNameField()
    description = DescriptionField(required=False, default=None)
    is_private = StrictBooleanField(
        required=False,
        default=False,
        help_text="`true` or `false` (a JSON boolean); default false; it cannot change later.",
    )


class ChannelUpdateSerializer(StrictSerializer):
    """The fields of a channel that may change; any other field is refused."""

    name = ChannelNameField(required=False)
    description = DescriptionField(required=False)
    topic = MultiLineCharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        max_length=TOPIC_MAX_LENGTH,
        help_text="0-250 characters, trimmed; empty or null clears it. " + MULTILINE_HELP,
    )


class ChannelMembersAddSerializer(StrictSerializer):
    """People to add to a channel."""

    user_ids = serializers.ListField(
        child=serializers.UUIDField(),
        min_length=1,
        max_length=100,
        help_text="1-100 user ids of active members of the workspace; those already in the channel are skipped.",
    )


class ChannelMemberRoleSerializer(StrictSerializer):
    role = serializers.ChoiceField(choices=["manager", "member"], help_text="The member's new role in the channel.")


class ChannelMembersAddedSerializer(serializers.Serializer):
    added = UserSerializer(many=True, read_only=True, help_text="The users added (those already in it are not).")


class ChannelListQuerySerializer(serializers.Serializer):
    """Query parameters of GET /channels (cursor and limit belong to pagination)."""

    member = serializers.BooleanField(required=False, default=False)
    q = serializers.CharField(required=False, allow_blank=True, max_length=NAME_MAX_LENGTH, trim_whitespace=False)
