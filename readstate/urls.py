"""Read-state endpoints (issue 18); included under /api/v1/."""

from django.urls import path

from readstate import apis

urlpatterns = [path("unreads", apis.UnreadsApi.as_view(), name="unreads")]
for _kind, _prefix, _views in (
    ("channel", "channels/<uuid:channel_id>", apis.VIEWS["channel"]),
    ("dm", "dms/<uuid:conversation_id>", apis.VIEWS["dm"]),
    ("group-dm", "group-dms/<uuid:conversation_id>", apis.VIEWS["group_dm"]),  # the contract: "…/read (… group DMs)"
):
    urlpatterns += [
        path(f"{_prefix}/read", _views["read"].as_view(), name=f"{_kind}-read"),
        path(
            f"{_prefix}/messages/<str:root_id>/replies/read",
            _views["thread_read"].as_view(),
            name=f"{_kind}-thread-read",
        ),
        path(f"{_prefix}/preferences", _views["preferences"].as_view(), name=f"{_kind}-preferences"),
    ]
