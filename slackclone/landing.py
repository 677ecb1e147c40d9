"""GET /: a small page that says what this server is and where to go next."""

from django.conf import settings
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_safe

from slackclone import __version__


@require_safe
def landing(request):
    """The server's name and version, and links to the API docs, the admin, health and
    (when WEB_CLIENT_URL is set) the web client. No data, no login: safe to expose."""
    links = [
        {"href": reverse("docs"), "title": "API documentation", "text": "Swagger UI, from the OpenAPI schema"},
        {"href": reverse("schema"), "title": "OpenAPI schema", "text": "the machine-readable contract (YAML)"},
        {"href": reverse("admin:index"), "title": "Admin", "text": "moderation, for staff accounts"},
        {"href": reverse("health"), "title": "Health", "text": "is each store answering? (JSON)"},
    ]
    if settings.WEB_CLIENT_URL:
        links.insert(
            0, {"href": settings.WEB_CLIENT_URL, "title": "Open the web client", "text": "chat in the browser"}
        )
    return render(
        request,
        "landing.html",
        {"server_name": settings.SERVER_NAME, "version": __version__, "links": links, "websocket": "/ws/v1/"},
    )
