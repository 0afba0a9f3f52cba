"""WSGI entry point (gunicorn config.wsgi)."""

import io
import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application


def read_chunked_bodies(application):
    """Give Django the length of a ``Transfer-Encoding: chunked`` body.

    Django reads a request body only as far as ``Content-Length`` says, so a chunked body
    (which has none) reads as empty. A server that decodes the chunks and marks the input as
    ending with the body (``wsgi.input_terminated``, as gunicorn does) lets us read it here: up
    to one byte over DATA_UPLOAD_MAX_MEMORY_SIZE, so a larger body is still refused (413).
    """

    def with_length(environ, start_response):
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if chunked and not environ.get("CONTENT_LENGTH") and environ.get("wsgi.input_terminated"):
            body = environ["wsgi.input"].read(settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
            environ = {
                **environ,
                "wsgi.input": io.BytesIO(body),
                "CONTENT_LENGTH": str(len(body)),
            }
            del environ["HTTP_TRANSFER_ENCODING"]
        return application(environ, start_response)

    return with_length


os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = read_chunked_bodies(get_wsgi_application())
