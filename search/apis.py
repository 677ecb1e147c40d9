"""GET /search/messages (API.md "Search"): thin; search.selectors does the work."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from messaging.serializers import message_to_api
from search import selectors
from search.query import QUERY_MAX_LENGTH
from search.serializers import SearchPageSerializer
from slackclone.api.schema import error_responses

_DESCRIPTION = (
    "The live messages of the conversations the caller belongs to now, in the token's workspace. Words match "
    "case- and accent-insensitively and by prefix; other terms (`foo-bar`, `v1.2.3`, `snake_case`, URLs, emoji, "
    'Chinese or Japanese text) as substrings; `"a phrase"` in order; `-word` excludes. Operators: '
    "`from:@username`, `in:#channel`, `in:@username`, `before:`/`after:`/`on:` `YYYY-MM-DD` (UTC), `has:link`, "
    "`has:file`, `has:pin`, `is:thread`. 400 `invalid_query`: an unknown operator or a bad value, control "
    f"characters, more than {QUERY_MAX_LENGTH} characters, too many terms or operators, or a search that takes "
    "too long. `highlights` are [start, end) offsets in `content`, in Unicode code points."
)


class SearchMessagesApi(APIView):
    @extend_schema(
        operation_id="search_messages",
        tags=["search"],
        summary="Search messages",
        description=_DESCRIPTION,
        parameters=[
            OpenApiParameter("q", str, required=True, description="What to look for (see above)."),
            OpenApiParameter("sort", str, enum=list(selectors.SORTS), description="Default `recent` (newest first)."),
            OpenApiParameter("cursor", str, description="A `next_cursor` of the same search."),
            OpenApiParameter("limit", int, description=f"1-{selectors.LIMIT_MAX} (default {selectors.LIMIT_DEFAULT})."),
        ],
        responses={200: SearchPageSerializer, **error_responses(400, 401, 429, 503)},
    )
    def get(self, request):
        params = request.query_params
        page = selectors.message_search(
            user=request.user,
            workspace=request.workspace,
            q=params.get("q", ""),
            sort=params.get("sort"),
            cursor=params.get("cursor"),
            limit=params.get("limit"),
        )
        return Response(
            {
                "results": [
                    {
                        "message": message_to_api(result.message),
                        "conversation": {
                            "kind": result.conversation_kind,
                            "id": result.message.conversation.id,
                            "name": result.conversation_name,
                        },
                        "highlights": result.highlights,
                    }
                    for result in page.results
                ],
                "next_cursor": page.next_cursor,
            }
        )
