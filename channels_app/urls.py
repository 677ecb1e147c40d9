from django.urls import path

from channels_app import apis

urlpatterns = [
    path("channels", apis.ChannelListApi.as_view(), name="channel-list"),
    path("channels/<uuid:channel_id>", apis.ChannelDetailApi.as_view(), name="channel-detail"),
    path("channels/<uuid:channel_id>/join", apis.ChannelJoinApi.as_view(), name="channel-join"),
    path("channels/<uuid:channel_id>/leave", apis.ChannelLeaveApi.as_view(), name="channel-leave"),
    path("channels/<uuid:channel_id>/members", apis.ChannelMemberListApi.as_view(), name="channel-members"),
    path("channels/<uuid:channel_id>/members/<uuid:user_id>", apis.ChannelMemberApi.as_view(), name="channel-member"),
    path("channels/<uuid:channel_id>/archive", apis.ChannelArchiveApi.as_view(), name="channel-archive"),
    path("channels/<uuid:channel_id>/unarchive", apis.ChannelUnarchiveApi.as_view(), name="channel-unarchive"),
]
