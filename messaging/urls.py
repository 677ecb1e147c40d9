"""Message endpoints; included under /api/v1/. Message ids are matched as any string
and validated by the services (a malformed id is a 404 in our JSON envelope)."""

from django.urls import path

from messaging import apis, sidebar_apis

urlpatterns = [
    path("conversations", sidebar_apis.ConversationListApi.as_view(), name="conversation-list"),
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
    path("group-dms/<uuid:conversation_id>/messages", apis.GroupDmMessagesApi.as_view(), name="group-dm-messages"),
    path(
        "group-dms/<uuid:conversation_id>/messages/<str:message_id>",
        apis.GroupDmMessageApi.as_view(),
        name="group-dm-message",
    ),
]
