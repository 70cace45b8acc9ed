"""Posted forms: the CSRF token that guards them, their fields and files, and where a form
may send the visitor back to."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def form_of(request: Request) -> FormData | None:
    """The posted form (urlencoded or multipart), or None when its CSRF token is missing
    or wrong."""
    form = await request.form()
    sent = form.get("csrf_token")
    expected = request.session.get("csrf")
    if not isinstance(sent, str) or not isinstance(expected, str):
        return None
    if not secrets.compare_digest(sent, expected):
        return None
    return form


def field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def upload(form: FormData, name: str) -> UploadFile | None:
    value = form.get(name)
    return value if isinstance(value, UploadFile) and value.filename else None


def too_large(request: Request, limit: int) -> bool:
    """Whether a multipart post may carry more than `limit` bytes of file (checked before
    reading it: a request with no length is refused too)."""
    length = request.headers.get("content-length")
    return length is None or not length.isdigit() or int(length) > limit + 64 * 1024


def local_path(target: str | None) -> str:
    """`target` if it is a path of this site, else the home page (no open redirect)."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target
