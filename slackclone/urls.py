from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from slackclone.health import health
from slackclone.landing import landing
from slackclone.metrics import metrics_view

api_v1 = [
    path("health", health, name="health"),
    path("", include("accounts.urls")),
    path("", include("channels_app.urls")),
    path("", include("dms.urls")),
    path("", include("messaging.urls")),
    path("", include("presence.urls")),
    path("", include("realtime.urls")),
    path("", include("files.urls")),
    path("", include("search.urls")),
    path("", include("readstate.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]

admin.site.site_header = f"{settings.SERVER_NAME} administration"
admin.site.site_title = f"{settings.SERVER_NAME} admin"
admin.site.index_title = "Users, channels and moderation"

urlpatterns = [
    path("", landing, name="landing"),
    path("metrics", metrics_view, name="metrics"),
    path("api/v1/", include(api_v1)),
    path("admin/", admin.site.urls),
]

handler400 = "slackclone.api.exceptions.json_400"
handler403 = "slackclone.api.exceptions.json_403"
handler404 = "slackclone.api.exceptions.json_404"
handler500 = "slackclone.api.exceptions.json_500"
