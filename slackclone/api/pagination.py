"""Cursor pagination for Postgres-backed lists: {"results": [...], "next_cursor": str | null}."""

from base64 import b64decode
from urllib.parse import parse_qs, urlparse

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from slackclone import errors


class ApiCursorPagination(CursorPagination):
    page_size = 50
    max_page_size = 200
    page_size_query_param = "limit"
    cursor_query_param = "cursor"
    ordering = "-created_at"  # views set an indexed ordering of their own

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= self.max_page_size:
            raise ValidationError({"limit": [f"Must be an integer from 1 to {self.max_page_size}."]})
        return size

    def decode_cursor(self, request):
        # DRF decodes leniently (garbage reads as "first page") and answers 404 for what
        # it cannot decode; a cursor that is not one of ours is bad input here.
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        try:
            tokens = parse_qs(b64decode(encoded.encode("ascii"), validate=False).decode("ascii"), strict_parsing=True)
            if not tokens or set(tokens) - {"o", "r", "p"}:
                raise ValueError(encoded)
            return super().decode_cursor(request)
        except Exception as exc:
            # The same code as every other cursor of the API (history, search, sidebar).
            raise errors.ValidationFailed(
                "Invalid cursor.", fields={"cursor": ["Invalid cursor."]}, code="invalid_cursor"
            ) from exc

    def encode_cursor(self, cursor):
        # DRF builds a whole URL; clients get only the opaque token.
        url = super().encode_cursor(cursor)
        return parse_qs(urlparse(url).query)[self.cursor_query_param][0]

    def get_paginated_response(self, data):
        return Response({"results": data, "next_cursor": self.get_next_link()})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["results", "next_cursor"],
            "properties": {
                "results": schema,
                "next_cursor": {
                    "type": "string",
                    "nullable": True,
                    "description": "Pass as ?cursor= for the next page.",
                },
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Opaque cursor from a previous page's next_cursor.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": "Page size, 1-200 (default 50).",
                "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
            },
        ]
