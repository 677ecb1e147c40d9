"""Admin for the custom user model (staff only, as Django's admin enforces)."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from rest_framework import serializers

from accounts.models import User, Workspace, WorkspaceInvite, WorkspaceMember
from accounts.serializers import normalize_username
from accounts.services import user_deactivate
from moderation.admin_tools import confirmation_page
from slackclone import errors


class _NormalizedUserFieldsMixin:
    """Lower-case username and email as the API does, and apply the API's username rule."""

    def clean_username(self):
        username = self.cleaned_data.get("username") or ""
        try:
            username = normalize_username(username)
        except serializers.ValidationError as exc:
            raise forms.ValidationError(exc.detail[0]) from exc
        if User.objects.filter(username=username).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError("This username is taken.")
        return username

    def clean_email(self):
        email = (self.cleaned_data.get("email") or "").lower()
        if User.objects.filter(email=email).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError("This email is already registered.")
        return email


class UserCreateForm(_NormalizedUserFieldsMixin, AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("username", "email", "display_name")


class UserEditForm(_NormalizedUserFieldsMixin, UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserEditForm
    add_form = UserCreateForm
    fieldsets = (
        (None, {"fields": ("id", "username", "email", "password")}),
        ("Profile", {"fields": ("display_name",)}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "created_at", "updated_at")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "email", "display_name", "usable_password", "password1", "password2"),
            },
        ),
    )
    readonly_fields = ("id", "last_login", "created_at", "updated_at")
    list_display = ("username", "email", "display_name", "is_active", "is_staff", "created_at")
    list_filter = ("workspace_memberships__workspace", "is_active", "is_staff", "is_superuser")
    search_fields = ("email", "username", "display_name")
    ordering = ("username",)

    actions = ["deactivate_selected"]

    @admin.action(description="Deactivate selected users (and revoke their tokens)", permissions=["change"])
    def deactivate_selected(self, request, queryset):
        users = list(queryset.order_by("username"))
        if request.POST.get("post") != "yes":
            return confirmation_page(
                self,
                request,
                title="Deactivate users?",
                question="Deactivate these users? They can no longer log in, and all their API tokens stop "
                "working at once. Their memberships and messages are kept.",
                objects=users,
                action="deactivate_selected",
                confirm_label="Yes, deactivate",
            )
        changed = 0
        for user in users:
            try:
                changed += user_deactivate(user=user, by=request.user)
            except errors.DomainError as exc:
                self.message_user(request, f"{user.username}: {exc.message}", messages.ERROR)
        self.message_user(request, f"Deactivated {changed} user{'s' if changed != 1 else ''}.", messages.SUCCESS)
        return None

    def save_model(self, request, obj, form, change):
        """Unticking "active" on the change form deactivates through the service too, so
        the user's tokens are deleted and the act is audited."""
        deactivating = change and "is_active" in form.changed_data and not obj.is_active
        if deactivating:
            obj.is_active = True  # the service makes (and records) the change
        super().save_model(request, obj, form, change)
        if deactivating:
            try:
                user_deactivate(user=obj, by=request.user)
            except errors.DomainError as exc:
                self.message_user(request, f"Not deactivated: {exc.message}", messages.ERROR)


# --- Workspaces (operators: staff) ------------------------------------------------------


class WorkspaceMemberInline(admin.TabularInline):
    model = WorkspaceMember
    extra = 0
    fields = ("user", "role", "is_active", "joined_at")
    readonly_fields = ("joined_at",)
    raw_id_fields = ("user",)
    show_change_link = True


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "joining", "created_at")
    list_filter = ("joining",)
    search_fields = ("slug", "name")
    readonly_fields = ("id", "created_at")
    inlines = [WorkspaceMemberInline]


@admin.register(WorkspaceMember)
class WorkspaceMemberAdmin(admin.ModelAdmin):
    """Role and activation changes made here bypass the API's rules (the last owner, the
    audit log, closing sockets): workspace admins use the API; staff fix what is stuck."""

    list_display = ("user", "workspace", "role", "is_active", "joined_at")
    list_filter = ("workspace", "role", "is_active")
    search_fields = ("user__username", "user__email", "workspace__slug")
    list_select_related = ("user", "workspace")
    raw_id_fields = ("user",)


@admin.register(WorkspaceInvite)
class WorkspaceInviteAdmin(admin.ModelAdmin):
    list_display = ("code", "workspace", "created_by", "created_at", "expires_at", "uses", "max_uses", "revoked_at")
    list_filter = ("workspace", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("=code", "workspace__slug")
    list_select_related = ("workspace", "created_by")
    readonly_fields = ("code", "uses", "created_at", "created_by")
