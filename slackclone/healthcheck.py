"""`python -m slackclone.healthcheck [URL]`: exit 0 if GET /api/v1/health answers 200.

For a container's HEALTHCHECK (no curl in the image) and process supervisors. It asks
the local server with a Host header from ALLOWED_HOSTS (so DEBUG=false does not refuse
it as a foreign host) and needs no Django setup: it costs a few milliseconds.
"""

import os
import sys
import urllib.error
import urllib.request


def host_header() -> str:
    """The first concrete name of ALLOWED_HOSTS ("localhost" when there is none)."""
    for host in os.environ.get("ALLOWED_HOSTS", "").split(","):
        host = host.strip()
        if host and not host.startswith((".", "*")):
            return host
    return "localhost"


def check(url: str, *, timeout: float = 3.0) -> bool:
    request = urllib.request.Request(url, headers={"Host": host_header(), "X-Forwarded-Proto": "https"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (our own loopback URL)
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def main(argv: list[str]) -> int:
    url = argv[1] if len(argv) > 1 else f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/api/v1/health"
    return 0 if check(url) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
