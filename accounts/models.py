import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.contrib.postgres.indexes import OpClass
from django.db import models
from django.db.models.functions import Upper


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, username, email, password=None, **extra):
        user = self.model(username=username.lower(), email=email.lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, username, email, password=None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self.create_user(username, email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A registered user.

    `email` and `username` are stored lower-cased, which makes them unique without
    regard to case and lets prefix search use the plain btree pattern index.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(max_length=254, unique=True)
    username = models.CharField(max_length=32, unique=True)
    display_name = models.CharField(max_length=80, blank=True, default="")
    password = models.CharField("password", max_length=128, db_column="password_hash")
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserManager()

    USERNAME_FIELD = "username"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["email"]

    class Meta:
        db_table = "users"
        indexes = [
            # Directory search by display-name prefix: UPPER(display_name) LIKE 'AB%'.
            models.Index(OpClass(Upper("display_name"), name="text_pattern_ops"), name="users_display_name_prefix"),
        ]

    def __str__(self):
        return self.username


# --- Workspaces ----------------------------------------------------------------


class Workspace(models.Model):
    """A team: every channel, DM, message and file belongs to exactly one workspace.

    `slug` is 2-40 of [a-z0-9-], unique. `joining`: `open` (anyone may register into it)
    or `invite_only` (registering needs an invite code; new workspaces start so).
    """

    class Joining(models.TextChoices):
        OPEN = "open"
        INVITE_ONLY = "invite_only"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=80)
    joining = models.CharField(max_length=16, choices=Joining.choices, default=Joining.INVITE_ONLY)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "workspaces"

    def __str__(self):
        return self.slug


def default_workspace_id():
    """The id of the deployment's default workspace (settings.DEFAULT_WORKSPACE), created
    `open` if missing. The model default of every workspace-scoped row, for the
    one-workspace deployment and for rows created outside the services (scripts, old
    fixtures); the services always pass the workspace explicitly."""
    from django.conf import settings

    workspace, _ = Workspace.objects.get_or_create(
        slug=settings.DEFAULT_WORKSPACE,
        defaults={"name": settings.DEFAULT_WORKSPACE.title(), "joining": Workspace.Joining.OPEN},
    )
    return workspace.pk


def workspace_foreign_key(related_name: str) -> models.ForeignKey:
    """The `workspace` column of a workspace-scoped table: non-null, defaulting to the
    default workspace, without an index of its own (each table's indexes lead with it)."""
    return models.ForeignKey(
        "accounts.Workspace",
        on_delete=models.CASCADE,
        related_name=related_name,
        db_index=False,
        default=default_workspace_id,
    )


class WorkspaceMember(models.Model):
    """A user's membership of a workspace. Deactivation keeps the row (is_active false):
    the profile still answers, the tokens and sockets for the workspace are gone."""

    class Role(models.TextChoices):
        OWNER = "owner"
        ADMIN = "admin"
        MEMBER = "member"

    id = models.BigAutoField(primary_key=True)
    # The unique (workspace, user) index serves every "is X a member of W" check and the
    # workspace's member lists; user has its own index (a user's workspaces).
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships", db_index=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="workspace_memberships")
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField(auto_now_add=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        db_table = "workspace_members"
        constraints = [models.UniqueConstraint(fields=["workspace", "user"], name="workspace_members_unique_pair")]

    def __str__(self):
        return f"{self.user_id} in {self.workspace_id} ({self.role})"

    @property
    def is_admin(self) -> bool:
        """Owners have every right admins have."""
        return self.role in (self.Role.OWNER, self.Role.ADMIN)


class WorkspaceInvite(models.Model):
    """An invitation code to an (invite-only) workspace. Redeemed by registering with it;
    `uses` only grows, by a conditional UPDATE (accounts.services.invite_redeem)."""

    code = models.CharField(max_length=64, primary_key=True)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="invites", db_index=False)
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    max_uses = models.PositiveIntegerField(null=True, blank=True)  # null: unlimited until it expires
    uses = models.PositiveIntegerField(default=0)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "workspace_invites"
        indexes = [models.Index(fields=["workspace", "-created_at"], name="workspace_invites_by_created")]

    def __str__(self):
        return f"invite to {self.workspace_id}"


class TokenWorkspace(models.Model):
    """Which workspace membership a knox token acts in (one row per token, keyed by the
    token's digest, deleted with it). A token without a row is a legacy token: it acts in
    the default workspace (accounts.selectors.token_membership)."""

    token = models.OneToOneField(
        "knox.AuthToken", primary_key=True, on_delete=models.CASCADE, related_name="workspace_binding"
    )
    member = models.ForeignKey(WorkspaceMember, on_delete=models.CASCADE, related_name="token_bindings")

    class Meta:
        db_table = "token_workspaces"

    def __str__(self):
        return f"token -> {self.member_id}"
