"""Input validation and output shapes for accounts. Nothing here writes."""

import re

from rest_framework import serializers

from messaging.validation import EMOJI_MAX_LENGTH, clean_emoji
from slackclone.api.fields import TimeField
from slackclone.api.serializers import SingleLineCharField, StrictCharField, StrictSerializer
from slackclone.text import SINGLE_LINE_HELP

USERNAME_MAX_LENGTH = 32
EMAIL_MAX_LENGTH = 254
DISPLAY_NAME_MAX_LENGTH = 80
PASSWORD_MAX_LENGTH = 1024  # every hash is computed over it: bound the work a request can ask for
SEARCH_MAX_LENGTH = 80

# Checked on the raw input (ASCII only, either case), then lower-cased: "Alice" -> "alice".
_USERNAME_RE = re.compile(r"[A-Za-z0-9_.\-]{1,32}")

USERNAME_HELP = (
    "1-32 characters of letters, digits, `_`, `.` and `-`. Case-insensitive: stored and returned in lower case. "
    "`channel`, `here` and `everyone` are reserved (broadcast mentions): 400 `invalid`."
)


# The words of the broadcast mentions (messaging.mentions: `@channel`, `@here`,
# `<!everyone>`): a user holding one could never be mentioned, so nobody may take one.
RESERVED_USERNAMES = frozenset({"channel", "here", "everyone"})


def normalize_username(value: str) -> str:
    if not _USERNAME_RE.fullmatch(value):
        raise serializers.ValidationError(
            "Use 1-32 characters: letters, digits, '_', '.' or '-' (case-insensitive, stored in lower case)."
        )
    if value.lower() in RESERVED_USERNAMES:
        raise serializers.ValidationError(
            f"This name is reserved (@{value.lower()} mentions everyone in a conversation); choose another."
        )
    return value.lower()


class UsernameField(StrictCharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", USERNAME_MAX_LENGTH)
        kwargs.setdefault("trim_whitespace", False)
        kwargs.setdefault("help_text", USERNAME_HELP)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        return normalize_username(super().to_internal_value(data))


class StrictEmailField(serializers.EmailField):
    """An email address given as a JSON string; normalised to lower case."""

    default_error_messages = {"not_a_string": "Must be a string."}

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", EMAIL_MAX_LENGTH)
        kwargs.setdefault("help_text", "Case-insensitive: stored and returned in lower case.")
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data).lower()


class PasswordField(StrictCharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", PASSWORD_MAX_LENGTH)
        kwargs.setdefault("trim_whitespace", False)  # a password is exactly what was typed
        kwargs.setdefault("write_only", True)
        kwargs.setdefault("style", {"input_type": "password"})
        super().__init__(**kwargs)


def display_name_field(**kwargs):
    return SingleLineCharField(
        max_length=DISPLAY_NAME_MAX_LENGTH,
        allow_blank=True,
        help_text="0-80 characters; surrounding whitespace is trimmed. " + SINGLE_LINE_HELP,
        **kwargs,
    )


# --- Output -------------------------------------------------------------------


class UserSerializer(serializers.Serializer):
    """A user. `email` appears only in your own record."""

    # "Own": the record of the context's `viewer` (register, login), else of the request's user.
    id = serializers.UUIDField(read_only=True)
    # Not read_only, so the schema does not mark it required: it is absent from other users' records.
    email = serializers.EmailField(required=False, help_text="Only present in your own record.")
    username = serializers.CharField(read_only=True, help_text="Lower case.")
    display_name = serializers.CharField(read_only=True)
    created_at = TimeField()
    role = serializers.ChoiceField(
        source="workspace_role",
        choices=["owner", "admin", "member"],
        read_only=True,
        help_text="The user's role in the workspace of the request's token.",
    )
    is_active = serializers.BooleanField(
        source="workspace_is_active",
        read_only=True,
        help_text="False once a workspace admin deactivated the user in this workspace (or staff the account).",
    )

    class Meta:
        ref_name = "User"

    def to_representation(self, instance):
        workspace_state(instance)
        data = super().to_representation(instance)
        viewer = self.context.get("viewer")
        if viewer is None and (request := self.context.get("request")) is not None:
            viewer = request.user
        if viewer is None or getattr(viewer, "pk", None) != instance.pk:
            data.pop("email", None)
        return data


class SessionSerializer(serializers.Serializer):
    """One of your sessions: a token you hold, on one device."""

    id = serializers.CharField(read_only=True, help_text="Revoke it with DELETE /auth/sessions/{id}.")
    device_name = serializers.CharField(
        read_only=True, help_text="From `device_name` at login/registration, else the User-Agent; may be empty."
    )
    created_at = TimeField(help_text="When the token was issued (login or registration).")
    last_used_at = TimeField(help_text="Its last use, to about a minute (its creation until then).")
    expires_at = TimeField(
        allow_null=True, help_text="It stops working then unless used before (sliding TOKEN_TTL); null: never."
    )
    current = serializers.BooleanField(read_only=True, help_text="The token of this very request.")
    workspace = serializers.CharField(
        read_only=True, help_text="The slug of the workspace the token acts in (a token acts in one workspace)."
    )

    class Meta:
        ref_name = "Session"


def workspace_state(user, *, role=None, is_active=None):
    """Give `user` the `workspace_role` and `workspace_is_active` the User shape shows:
    from the arguments (annotations of the row that loaded the user), else from what the
    selector annotated on it, else from the membership its token acts in."""
    if role is not None:
        user.workspace_role, user.workspace_is_active = role, bool(is_active)
    elif not hasattr(user, "workspace_role") and (member := getattr(user, "workspace_member", None)) is not None:
        user.workspace_role, user.workspace_is_active = member.role, member.is_active
    if hasattr(user, "workspace_is_active"):
        user.workspace_is_active = bool(user.workspace_is_active) and bool(user.is_active)
    return user


class AuthResultSerializer(serializers.Serializer):
    """Your account and a new API token."""

    user = UserSerializer(read_only=True)
    token = serializers.CharField(read_only=True, help_text="Send as `Authorization: Bearer <token>`.")


# --- Input --------------------------------------------------------------------


def device_name_field():
    return SingleLineCharField(
        required=False,
        allow_blank=True,
        max_length=128,
        help_text='What GET /auth/sessions lists this token as (0-128 characters, e.g. "Alice\'s laptop"); '
        "without it, the request's User-Agent. " + SINGLE_LINE_HELP,
    )


def workspace_slug_field(**kwargs):
    kwargs.setdefault("help_text", "A workspace's slug (2-40 of `[a-z0-9-]`).")
    return StrictCharField(max_length=40, trim_whitespace=False, **kwargs)


def invite_code_field(**kwargs):
    kwargs.setdefault("help_text", "An invite code.")
    return StrictCharField(max_length=64, trim_whitespace=False, **kwargs)


class RegisterSerializer(StrictSerializer):
    """A new account (or an existing one, with its password) joining a workspace. Unknown
    fields are refused."""

    email = StrictEmailField()
    username = UsernameField()
    password = PasswordField(help_text="Checked by the server's password validators (length, similarity, common).")
    display_name = display_name_field(required=False, default="")
    device_name = device_name_field()
    workspace = workspace_slug_field(
        required=False,
        help_text="The workspace to join (slug). Default: the invite's workspace, else the deployment's default.",
    )
    invite_code = invite_code_field(required=False, help_text="Required to join an `invite_only` workspace.")


class LoginSerializer(StrictSerializer):
    """`email` or `username` (exactly one of them), and `password`; optional `workspace`.
    Unknown fields are refused."""

    workspace = workspace_slug_field(
        required=False,
        help_text="The workspace the token acts in (slug). Default: the deployment's default workspace if you are "
        "in it, else your only one, else 400 `workspace_required` with your slugs in `fields.workspace`.",
    )

    email = StrictCharField(
        required=False, max_length=EMAIL_MAX_LENGTH, trim_whitespace=False, help_text="Case-insensitive."
    )
    username = StrictCharField(
        required=False, max_length=USERNAME_MAX_LENGTH, trim_whitespace=False, help_text="Case-insensitive."
    )
    password = PasswordField()
    device_name = device_name_field()

    def validate(self, attrs):
        given = [name for name in ("email", "username") if name in attrs]
        if len(given) != 1:
            message = "Give either email or username, not both." if given else "Give email or username."
            raise serializers.ValidationError({name: [message] for name in ("email", "username")})
        return attrs


class StatusEmojiField(StrictCharField):
    """`status_emoji`: "" (or only whitespace) clears it; else the very rule of reactions
    (messaging.validation.clean_emoji: one Unicode emoji or a `:shortcode:`, stored as the
    fully-qualified Unicode emoji; anything else 400 `invalid_emoji` on `status_emoji`)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("max_length", EMOJI_MAX_LENGTH)
        kwargs.setdefault(
            "help_text",
            "One Unicode emoji (skin tones and ZWJ sequences included) or a standard `:shortcode:`, stored as the "
            "Unicode emoji, as reactions take them; anything else is 400 `invalid_emoji`. Empty: none.",
        )
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        return clean_emoji(value, field="status_emoji") if value else value


class UserUpdateSerializer(StrictSerializer):
    """The fields of your account you may change; any other field is refused."""

    display_name = display_name_field(required=False)
    username = UsernameField(required=False)
    # Issue 18: status and do-not-disturb.
    dnd_until = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Do not disturb until this time (null: off)."
    )
    status_text = SingleLineCharField(
        required=False, allow_blank=True, max_length=100, help_text="0-100 characters. " + SINGLE_LINE_HELP
    )
    status_emoji = StatusEmojiField(required=False)


class MeSerializer(UserSerializer):
    """Your own record: a User with your status and do-not-disturb (issue 18)."""

    status_text = serializers.CharField(read_only=True)
    status_emoji = serializers.CharField(read_only=True)
    dnd = serializers.BooleanField(read_only=True, help_text="True while `dnd_until` is in the future.")
    dnd_until = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        ref_name = "Me"

    def to_representation(self, instance):
        from readstate.selectors import status_fields, statuses_of
        from slackclone.api.fields import format_time

        data = super().to_representation(instance)
        fields = status_fields(statuses_of(user_ids=[str(instance.pk)]).get(str(instance.pk)))
        return {**data, **fields, "dnd_until": format_time(fields["dnd_until"])}


class UserSearchSerializer(serializers.Serializer):
    """Query parameters of the directory search (other parameters belong to pagination)."""

    q = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=SEARCH_MAX_LENGTH,
        trim_whitespace=False,
        help_text="Case-insensitive prefix of a username or display name.",
    )


# --- Workspaces -------------------------------------------------------------------

_SLUG_RE = re.compile(r"[a-z0-9-]{2,40}")
WORKSPACE_NAME_MAX_LENGTH = 80


class WorkspaceSlugField(StrictCharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 40)
        kwargs.setdefault("trim_whitespace", False)
        kwargs.setdefault("help_text", "2-40 characters of `[a-z0-9-]`; unique.")
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not _SLUG_RE.fullmatch(value):
            raise serializers.ValidationError("Use 2-40 characters: lower-case letters, digits or '-'.")
        return value


def workspace_name_field(**kwargs):
    return SingleLineCharField(
        max_length=WORKSPACE_NAME_MAX_LENGTH, help_text="1-80 characters, trimmed. " + SINGLE_LINE_HELP, **kwargs
    )


class WorkspaceSerializer(serializers.Serializer):
    """A workspace (the one of the request's token, or one of yours)."""

    id = serializers.UUIDField(read_only=True)
    slug = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)
    joining = serializers.ChoiceField(choices=["open", "invite_only"], read_only=True)
    created_at = TimeField()
    member_count = serializers.IntegerField(read_only=True, help_text="Active members.")

    class Meta:
        ref_name = "Workspace"


class MyWorkspaceSerializer(WorkspaceSerializer):
    """One of your workspaces, with your role in it (for a workspace switcher)."""

    role = serializers.ChoiceField(source="my_role", choices=["owner", "admin", "member"], read_only=True)

    class Meta:
        ref_name = "MyWorkspace"


class WorkspaceCreateSerializer(StrictSerializer):
    """A new workspace; without a token, also the new owner's account. Unknown fields are refused."""

    slug = WorkspaceSlugField()
    name = workspace_name_field()
    email = StrictEmailField(required=False, help_text="Without a token: the new owner's email.")
    username = UsernameField(required=False)
    password = PasswordField(required=False, help_text="Without a token: the new owner's password.")
    display_name = display_name_field(required=False, default="")


class WorkspaceCreatedSerializer(serializers.Serializer):
    workspace = WorkspaceSerializer(read_only=True)
    user = UserSerializer(read_only=True)
    token = serializers.CharField(read_only=True, help_text="A token acting in the new workspace.")


class WorkspaceUpdateSerializer(StrictSerializer):
    name = workspace_name_field(required=False)
    joining = serializers.ChoiceField(choices=["open", "invite_only"], required=False)


class SwitchSerializer(StrictSerializer):
    workspace = workspace_slug_field(help_text="The slug of another workspace you are an active member of.")
    device_name = device_name_field()


class InviteCreateSerializer(StrictSerializer):
    max_uses = serializers.IntegerField(
        required=False, min_value=1, max_value=1000, allow_null=True, help_text="1-1000; omitted: unlimited."
    )
    expires_in_hours = serializers.IntegerField(required=False, min_value=1, max_value=720, default=168)

    def validate_max_uses(self, value):
        if isinstance(self.initial_data.get("max_uses"), bool):
            raise serializers.ValidationError("A valid integer is required.")
        return value

    def validate_expires_in_hours(self, value):
        if isinstance(self.initial_data.get("expires_in_hours"), bool):
            raise serializers.ValidationError("A valid integer is required.")
        return value


class InviteSerializer(serializers.Serializer):
    code = serializers.CharField(read_only=True)
    expires_at = TimeField()
    max_uses = serializers.IntegerField(read_only=True, allow_null=True, help_text="Null: unlimited.")
    uses = serializers.IntegerField(read_only=True)
    created_at = TimeField()

    class Meta:
        ref_name = "WorkspaceInvite"


class MemberRoleSerializer(StrictSerializer):
    role = serializers.ChoiceField(choices=["owner", "admin", "member"])
