from django.urls import path

from presence import apis

urlpatterns = [
    path("presence", apis.PresenceListApi.as_view(), name="presence-list"),
]
