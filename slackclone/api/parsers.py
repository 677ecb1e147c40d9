"""The API's JSON body parser."""

from rest_framework import exceptions, parsers


class JSONParser(parsers.JSONParser):
    """DRF's JSONParser, plus: a body nested too deeply for Python's decoder (about a
    thousand levels: `[[[[...]]]]` of 2 KB) is 400 `malformed_json` like any other body
    that is not JSON, instead of a RecursionError and a 500 (the contract: a 500 is
    always a bug). Anyone can send one, without a token."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise exceptions.ParseError("JSON parse error - the body is nested too deeply.") from exc
