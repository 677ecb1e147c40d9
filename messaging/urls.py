"""Message endpoints; included under /api/v1/. Message ids are matched as any string
and validated by the services (a malformed id is a 404 in our JSON envelope)."""

from django.urls import path

from messaging import apis

urlpatterns = [
    path("channels/<uuid:channel_id>/messages", apis.ChannelMessagesApi.as_view(), name="channel-messages"),
    path(
        "channels/<uuid:channel_id>/messages/<str:message_id>",
        apis.ChannelMessageApi.as_view(),
        name="channel-message",
    ),
    path("dms/<uuid:conversation_id>/messages", apis.DmMessagesApi.as_view(), name="dm-messages"),
    path(
        "dms/<uuid:conversation_id>/messages/<str:message_id>",
        apis.DmMessageApi.as_view(),
        name="dm-message",
    ),
]
