"""Shared pieces of the admin's moderation pages."""

from django.contrib.admin import helpers
from django.template.response import TemplateResponse


def confirmation_page(
    modeladmin,
    request,
    *,
    title: str,
    question: str,
    objects: list,
    action: str | None,
    confirm_label: str,
    consequences: tuple[str, ...] = (),
    cancel_url: str | None = None,
) -> TemplateResponse:
    """The intermediate page of an admin action (like Django's delete_selected): a POST
    form (with CSRF token) that sends the same selection back with post=yes, to the
    URL it came from. `action` is the admin action's name, or None for a custom view."""
    opts = modeladmin.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "opts": opts,
        "app_label": opts.app_label,
        "question": question,
        "consequences": list(consequences),
        "objects": objects,
        "selected": [str(obj.pk) for obj in objects],
        "selected_field": helpers.ACTION_CHECKBOX_NAME,
        "action": action,
        "confirm_label": confirm_label,
        "cancel_url": cancel_url,
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, "admin/moderation/confirm_action.html", context)
