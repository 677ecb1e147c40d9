"""Shapes of GET /search/messages, for the OpenAPI schema (the answer is built in apis)."""

from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers

from messaging.serializers import ChannelMessageSerializer, DmMessageSerializer


class SearchConversationSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=["channel", "dm", "group_dm"],
        help_text="As the sidebar says: a group DM is `group_dm` (its messages are under /group-dms/{id}/).",
    )
    id = serializers.UUIDField()
    name = serializers.CharField(allow_null=True, help_text="The channel's name; null for a DM.")

    class Meta:
        ref_name = "SearchConversation"


class SearchResultSerializer(serializers.Serializer):
    message = PolymorphicProxySerializer(
        component_name="SearchMessage",
        serializers=[ChannelMessageSerializer, DmMessageSerializer],
        resource_type_field_name=None,
    )
    conversation = SearchConversationSerializer()
    highlights = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField(min_value=0), min_length=2, max_length=2),
        help_text="[start, end) offsets of the matches in `message.content`, in Unicode code points.",
    )

    class Meta:
        ref_name = "SearchResult"


class SearchPageSerializer(serializers.Serializer):
    results = SearchResultSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True, help_text="The next page's `cursor`; null on the last page.")

    class Meta:
        ref_name = "SearchPage"
