"""Admin for the custom user model (staff only, as Django's admin enforces)."""

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from rest_framework import serializers

from accounts.models import User
from accounts.serializers import normalize_username


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
    list_filter = ("is_active", "is_staff", "is_superuser")
    search_fields = ("email", "username", "display_name")
    ordering = ("username",)
