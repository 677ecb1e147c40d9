"""Message endpoints; included under /api/v1/. Message ids are matched as any string
and validated by the services (a malformed id is a 404 in our JSON envelope)."""

from django.urls import path

from messaging import apis, apis_ext, sidebar_apis

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
    # Issue 17: threads, reactions, mentions, pins.
    path("threads", apis_ext.ThreadsApi.as_view(), name="threads"),
    path("mentions", apis_ext.MentionsApi.as_view(), name="mentions"),
    path("group-dms/<uuid:conversation_id>/messages", apis.GroupDmMessagesApi.as_view(), name="group-dm-messages"),
    path(
        "group-dms/<uuid:conversation_id>/messages/<str:message_id>",
        apis.GroupDmMessageApi.as_view(),
        name="group-dm-message",
    ),
]
# A group DM has "everything that /dms/{id}/messages has" (the contract, "Group DMs").
for _kind, _prefix, _views in (
    ("channel", "channels/<uuid:channel_id>", apis_ext.VIEWS["channel"]),
    ("dm", "dms/<uuid:conversation_id>", apis_ext.VIEWS["dm"]),
    ("group-dm", "group-dms/<uuid:conversation_id>", apis_ext.VIEWS["group_dm"]),
):
    urlpatterns += [
        path(f"{_prefix}/messages/<str:root_id>/replies", _views["replies"].as_view(), name=f"{_kind}-replies"),
        path(f"{_prefix}/messages/<str:root_id>/follow", _views["follow"].as_view(), name=f"{_kind}-follow"),
        path(
            f"{_prefix}/messages/<str:message_id>/reactions/<str:emoji>",
            _views["reaction"].as_view(),
            name=f"{_kind}-reaction",
        ),
        path(f"{_prefix}/messages/<str:message_id>/pin", _views["pin"].as_view(), name=f"{_kind}-pin"),
        path(f"{_prefix}/pins", _views["pins"].as_view(), name=f"{_kind}-pins"),
    ]
