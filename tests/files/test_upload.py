"""POST /files and the bytes served (API.md "Files"; issue 20, "What must be true")."""

import hashlib
import io

import pytest
from PIL import Image

from files.models import File
from tests.files.conftest import body, exif_with_gps, image_bytes, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(client_for, alice):
    return client_for(alice)


def test_upload_answers_a_file_detected_from_its_bytes(client, alice):
    data = b"hello\nworld\n" * 10
    response = upload(client, data, name="report.pdf", content_type="application/pdf")
    assert response.status_code == 201, response.content
    got = response.json()
    assert got["mime_type"] == "text/plain"  # from the bytes, not the name or the client's type
    assert got["size"] == len(data)
    assert got["sha256"] == hashlib.sha256(data).hexdigest()
    assert got["uploader_id"] == str(alice.pk)
    assert got["name"] == "report.pdf"
    assert got["image"] is None and got["thumbnail_url"] is None
    assert got["url"] == f"/api/v1/files/{got['id']}/content"
    assert client.get(f"/api/v1/files/{got['id']}").json() == got

    content = client.get(got["url"])
    assert content.status_code == 200
    assert body(content) == data
    assert content["Content-Type"] == "text/plain"
    assert content["Content-Disposition"] == 'attachment; filename="report.pdf"'
    assert content["X-Content-Type-Options"] == "nosniff"


def test_an_image_is_inline_with_a_thumbnail(client):
    png = image_bytes("PNG", size=(1200, 800))
    got = upload(client, png, name="shot.txt", content_type="text/plain").json()
    assert got["mime_type"] == "image/png"
    assert got["image"] == {"width": 1200, "height": 800}
    content = client.get(got["url"])
    assert content["Content-Disposition"].startswith("inline")
    assert content["X-Content-Type-Options"] == "nosniff"
    thumb = client.get(got["thumbnail_url"])
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/png"
    assert thumb["X-Content-Type-Options"] == "nosniff"
    image = Image.open(io.BytesIO(body(thumb)))
    assert max(image.size) == 360


def test_html_is_never_served_inline(client):
    got = upload(client, b"<html><script>alert(1)</script></html>", name="x.html", content_type="image/png").json()
    content = client.get(got["url"])
    assert content["Content-Disposition"].startswith("attachment")
    assert "sandbox" in content["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\evil.exe", "evil.exe"),
        ("in\x00voice\x1b.pdf", "invoice.pdf"),
        ("harmless\u202egnp.exe", "harmlessgnp.exe"),  # RIGHT-TO-LEFT OVERRIDE dropped
        ("...", "file"),
        (".hidden", "hidden"),
        ("  spaced \t name .txt ", "spaced name .txt"),
        ("é" * 300 + ".txt", "é" * 125 + ".txt"),  # 255 UTF-8 bytes at most, extension kept
    ],
)
def test_names_are_sanitised(client, sent, stored):
    got = upload(client, b"data", name=sent).json()
    assert got["name"] == stored
    assert len(got["name"].encode()) <= 255


def test_content_disposition_is_rfc6266_for_any_name(client):
    got = upload(client, b"data", name='naïve "quote"\r\n.txt').json()
    header = client.get(got["url"])["Content-Disposition"]
    assert header.startswith("attachment; filename*=utf-8''")
    assert "\r" not in header and "\n" not in header and '"quote"' not in header


def test_exif_and_gps_are_stripped_from_the_served_image_and_the_thumbnail(client):
    out = io.BytesIO()
    Image.new("RGB", (400, 300), "blue").save(out, "JPEG", exif=exif_with_gps())
    assert Image.open(io.BytesIO(out.getvalue())).getexif().get(0x8825)  # the input has GPS
    got = upload(client, out.getvalue(), name="photo.jpg").json()
    assert got["mime_type"] == "image/jpeg"
    served = body(client.get(got["url"]))
    assert got["sha256"] == hashlib.sha256(served).hexdigest() and got["size"] == len(served)
    for data in (served, body(client.get(got["thumbnail_url"]))):
        image = Image.open(io.BytesIO(data))
        assert not image.getexif(), image.getexif()
        assert b"Camera Maker" not in data


XMP_WITH_GPS = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="48,51.48N" '
    b'exif:GPSLongitude="2,17.67E"/></rdf:RDF></x:xmpmeta>'
)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_a_location_in_xmp_is_stripped_too(client, fmt):
    """A photo whose location is only in XMP (exif:GPSLatitude, as Lightroom exports or
    a tool that removed the EXIF block write it) was served as sent: only EXIF made the
    image be re-encoded."""
    from PIL.PngImagePlugin import PngInfo

    out, text = io.BytesIO(), PngInfo()
    text.add_itxt("XML:com.adobe.xmp", XMP_WITH_GPS.decode())  # where PNG keeps XMP
    extra = {"pnginfo": text} if fmt == "PNG" else {"xmp": XMP_WITH_GPS}
    Image.new("RGB", (40, 30), "green").save(out, fmt, **extra)
    assert b"GPSLatitude" in out.getvalue()
    got = upload(client, out.getvalue(), name=f"photo.{fmt.lower()}").json()
    served = body(client.get(got["url"]))
    assert b"GPSLatitude" not in served and b"xmpmeta" not in served
    assert Image.open(io.BytesIO(served)).size == (40, 30)
    assert got["sha256"] == hashlib.sha256(served).hexdigest() and got["size"] == len(served)


def test_a_decompression_bomb_is_refused(client, settings):
    # A 20000 x 20000 PNG (400 Mpx) compresses to ~100 kB: refused from its header.
    out = io.BytesIO()
    Image.new("1", (20000, 20000)).save(out, "PNG")
    assert len(out.getvalue()) < 1024 * 1024
    response = upload(client, out.getvalue(), name="bomb.png")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "image_too_large"
    assert not File.objects.exists()


def test_a_bomb_just_over_the_limit_is_refused_too(client, settings):
    settings.FILES_MAX_IMAGE_PIXELS = 100 * 100
    response = upload(client, image_bytes("PNG", size=(101, 100)), name="big.png")
    assert response.status_code == 400 and response.json()["error"]["code"] == "image_too_large"


def test_animated_gif_keeps_its_frames_and_gets_a_thumbnail(client):
    frames = [Image.new("RGB", (50, 40), color) for color in ("red", "green", "blue")]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    got = upload(client, out.getvalue(), name="anim.gif").json()
    assert got["mime_type"] == "image/gif" and got["image"] == {"width": 50, "height": 40}
    served = body(client.get(got["url"]))
    assert served == out.getvalue()
    assert Image.open(io.BytesIO(served)).n_frames == 3
    assert client.get(got["thumbnail_url"]).status_code == 200


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_an_animated_png_or_webp_loses_its_exif_and_keeps_its_frames(client, fmt):
    """Animated images are kept as sent (re-encoding every frame would cost), so an
    APNG or animated WebP carrying EXIF was served with its GPS. Its metadata chunks
    are now dropped, its frames untouched."""
    frames = [Image.new("RGB", (50, 40), color) for color in ("red", "green", "blue")]
    out = io.BytesIO()
    frames[0].save(out, fmt, save_all=True, append_images=frames[1:], duration=100, exif=exif_with_gps())
    assert Image.open(io.BytesIO(out.getvalue())).getexif().get(0x8825)  # the input has GPS
    got = upload(client, out.getvalue(), name=f"anim.{fmt.lower()}").json()
    served = body(client.get(got["url"]))
    image = Image.open(io.BytesIO(served))
    assert not image.getexif() and b"Camera Maker" not in served
    assert image.n_frames == 3 and image.size == (50, 40)
    sent = Image.open(io.BytesIO(out.getvalue()))
    image.seek(2)
    sent.seek(2)
    assert image.convert("RGB").tobytes() == sent.convert("RGB").tobytes()  # the same frames, not re-encoded
    assert got["sha256"] == hashlib.sha256(served).hexdigest() and got["size"] == len(served)


def test_cmyk_jpeg_gets_an_rgb_thumbnail(client):
    got = upload(client, image_bytes("JPEG", size=(80, 60), mode="CMYK"), name="print.jpg").json()
    assert got["mime_type"] == "image/jpeg" and got["image"] == {"width": 80, "height": 60}
    thumb = Image.open(io.BytesIO(body(client.get(got["thumbnail_url"]))))
    assert thumb.mode == "RGB"


def test_a_corrupt_image_is_stored_as_a_plain_file(client):
    got = upload(client, b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, name="broken.png").json()
    assert got["image"] is None and got["thumbnail_url"] is None
    assert client.get(f"/api/v1/files/{got['id']}/thumbnail").status_code == 404


def test_every_prefix_of_an_animated_gif_uploads_never_a_500(client):
    """A GIF cut inside its second frame made Pillow raise IndexError or struct.error
    from `is_animated` (not OSError): the upload answered 500. Any damaged image is a
    plain file (or an image if its first frame is whole), never a 500."""
    frames = [Image.new("RGB", (40, 30), color) for color in ("red", "green", "blue")]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:])
    data = out.getvalue()
    client.raise_request_exception = False
    statuses = {cut: upload(client, data[:cut], name="cut.gif").status_code for cut in range(20, len(data))}
    assert {code for code in statuses.values()} == {201}, {cut: code for cut, code in statuses.items() if code != 201}


def test_a_damaged_exif_block_is_accepted_and_dropped(client):
    """An EXIF whose GPSLatitude is stored as text (a tag of the wrong type, as buggy
    camera software writes) made Pillow's exif_transpose raise TypeError: 500. The
    image is accepted, its (readable) orientation applied, and its EXIF dropped."""
    exif = exif_with_gps()
    exif[0x0112] = 6  # rotated: exif_transpose rewrites the EXIF block
    out = io.BytesIO()
    Image.new("RGB", (40, 30), "blue").save(out, "JPEG", exif=exif)
    latitude_ref = b"\x00\x01\x00\x02\x00\x00\x00\x02N\x00"  # GPS tag 1 (ASCII "N"), big-endian
    assert out.getvalue().count(latitude_ref) == 1
    damaged = out.getvalue().replace(latitude_ref, b"\x00\x02" + latitude_ref[2:])  # now tag 2, a RATIONAL
    client.raise_request_exception = False
    response = upload(client, damaged, name="photo.jpg")
    assert response.status_code == 201, response.content
    got = response.json()
    assert got["mime_type"] == "image/jpeg" and got["image"] == {"width": 30, "height": 40}  # orientation 6 applied
    served = body(client.get(got["url"]))
    assert not Image.open(io.BytesIO(served)).getexif() and b"Camera Maker" not in served
    assert client.get(got["thumbnail_url"]).status_code == 200


def test_missing_part_is_400_and_json_is_415(client):
    assert client.post("/api/v1/files", {}, format="multipart").status_code == 400
    assert client.post("/api/v1/files", {"file": "x"}, format="json").status_code == 415


def _multipart(client, *parts: str):
    boundary = "b0undary"
    body = "".join(f"--{boundary}\r\n{part}\r\n" for part in parts) + f"--{boundary}--\r\n"
    return client.generic(
        "POST", "/api/v1/files", body.encode(), content_type=f"multipart/form-data; boundary={boundary}"
    )


def test_two_file_parts_are_400_not_the_last_one_silently(client):
    """Two parts named `file` were answered 201 with the second one; the first was
    dropped without a word. One upload per request: 400, nothing stored."""
    one = 'Content-Disposition: form-data; name="file"; filename="one.txt"\r\n\r\nONE'
    two = 'Content-Disposition: form-data; name="file"; filename="two.txt"\r\n\r\nTWO'
    response = _multipart(client, one, two)
    assert response.status_code == 400, response.content
    assert "file" in response.json()["error"]["fields"]
    assert not File.objects.exists()
    assert _multipart(client, one).status_code == 201


def test_a_file_part_without_a_filename_says_so(client):
    """`curl -F file=<notes.txt` sends the bytes without a filename: a form field, not a
    file. The answer names the problem instead of asking for a part it was given."""
    response = _multipart(client, 'Content-Disposition: form-data; name="file"\r\n\r\nhello')
    assert response.status_code == 400
    assert "no filename" in response.json()["error"]["fields"]["file"][0]


def test_over_max_upload_bytes_is_413_by_content_length(client, settings):
    settings.MAX_UPLOAD_BYTES = 1000
    response = upload(client, b"x" * 50_000)
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"
    assert not File.objects.exists()


def test_over_max_upload_bytes_is_413_while_parsing(client, settings):
    # Within the body limit (MAX_UPLOAD_BYTES + multipart framing), over MAX_UPLOAD_BYTES
    # for the file: the upload handler stops at the first chunk past it.
    settings.MAX_UPLOAD_BYTES = 10_000
    response = upload(client, b"x" * 12_000)
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"
    assert not File.objects.exists()


def test_the_json_body_limit_stays_for_everything_else(client_for, alice):
    client = client_for(alice)
    response = client.post("/api/v1/channels", {"name": "x" * 70_000}, format="json")
    assert response.status_code == 413
    response = client.post("/api/v1/files/x", {"name": "x" * 70_000}, format="json")
    assert response.status_code == 413


def _assert_store_unavailable(response):
    assert response.status_code == 503, response.content
    assert response.json()["error"]["code"] == "store_unavailable" and response["Retry-After"]
    assert not File.objects.exists()


def test_an_unreachable_s3_store_is_503_not_500(client, settings):
    """The contract: 503 when a store is unavailable (with Retry-After); a 500 is a bug.
    An S3 endpoint that refused connections made every upload a 500."""
    from botocore.config import Config

    from slackclone.settings import s3_storage_options

    options = s3_storage_options("s3://key:secret@127.0.0.1:9/bucket?secure=false")  # nothing listens on port 9
    options["client_config"] = Config(connect_timeout=1, read_timeout=1, retries={"max_attempts": 1})
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options},
    }
    client.raise_request_exception = False
    _assert_store_unavailable(upload(client, b"hello"))
    _assert_store_unavailable(upload(client, image_bytes("PNG"), name="a.png"))  # the thumbnail is written first


def test_an_unwritable_files_directory_is_503_not_500(client, settings, tmp_path):
    root = tmp_path / "files"
    root.write_bytes(b"a file where the directory should be")  # as a full or read-only disk would refuse
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}},
    }
    client.raise_request_exception = False
    _assert_store_unavailable(upload(client, b"hello"))


def test_content_whose_object_is_missing_is_404_not_500(client, settings):
    """A row whose bytes are gone (a restore without the files directory; check_consistency
    reports it) made GET …/content a 500 (FileNotFoundError). S3 answers such a signed
    URL 404; so does the local storage now."""
    import shutil

    got = upload(client, image_bytes("PNG"), name="a.png").json()
    shutil.rmtree(settings.FILES_ROOT)
    client.raise_request_exception = False
    for url in (got["url"], got["thumbnail_url"]):
        response = client.get(url)
        assert response.status_code == 404, response.content
        assert response.json()["error"]["code"] == "file_content_missing"
    assert client.get(f"/api/v1/files/{got['id']}").status_code == 200  # the metadata is still there


def test_unauthenticated_is_401(anon):
    assert upload(anon, b"data").status_code == 401


def test_a_form_that_cannot_be_read_is_malformed_multipart_not_json(client):
    """A part header past Django's limits (a 1000-character file name) is a form the
    parser refuses: 400 `malformed_multipart`, not `malformed_json` (there is no JSON)."""
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{"n" * 1000}.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\nx\r\n--{boundary}--\r\n"
    ).encode()  # by hand: Django's test client would shorten the name to 255 characters
    response = client.generic("POST", "/api/v1/files", body, content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "malformed_multipart"
