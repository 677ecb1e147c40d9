from django.conf import settings
from django.http import JsonResponse

from slackclone.api.exceptions import envelope


class BodySizeLimitMiddleware:
    """Refuse a declared-too-large body with 413 before anything reads it.

    Bodies without Content-Length (chunked) are still capped when read, by
    DATA_UPLOAD_MAX_MEMORY_SIZE, which the API exception handler turns into 413.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse(envelope("bad_request", "Invalid Content-Length."), status=400)
        if length > settings.MAX_REQUEST_BODY_BYTES:
            return JsonResponse(envelope("payload_too_large", "The request body is too large."), status=413)
        return self.get_response(request)
