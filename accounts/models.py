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


class AuthSession(models.Model):
    """What the user sees of one of their API tokens (knox's AuthToken keeps the digest,
    `created` and the sliding `expiry`): the device it was issued to and its last use.

    Keyed by the token (deleted with it). A token issued outside `token_create` has no
    row until its first use; the sessions list shows it all the same (blank device).
    `last_used_at` is written when knox slides the expiry, so at most once a minute.
    """

    token = models.OneToOneField(
        "knox.AuthToken", on_delete=models.CASCADE, primary_key=True, related_name="session", db_column="token_digest"
    )
    device_name = models.CharField(max_length=128, blank=True, default="")
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "auth_sessions"

    def __str__(self):
        return self.device_name or self.token_id[:8]
