from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from slackclone.health import health

api_v1 = [
    path("health", health, name="health"),
    path("", include("accounts.urls")),
    path("", include("channels_app.urls")),
    path("", include("dms.urls")),
    path("", include("messaging.urls")),
    path("", include("presence.urls")),
    path("", include("realtime.urls")),
    path("", include("readstate.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("admin/", admin.site.urls),
]

handler400 = "slackclone.api.exceptions.json_400"
handler403 = "slackclone.api.exceptions.json_403"
handler404 = "slackclone.api.exceptions.json_404"
handler500 = "slackclone.api.exceptions.json_500"
