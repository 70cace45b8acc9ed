"""Pages in the visitor's language: the templates, the texts (`translations`), times in the
rules profile's time zone and sizes in the language's units."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment
from starlette.requests import Request
from starlette.responses import HTMLResponse

from pickup.entrypoints.forms import csrf_token
from pickup.entrypoints.translations import Language, language_of, text
from pickup.entrypoints.visits import signed_in


def format_size(size: int, language: Language) -> str:
    megabytes = size / (1024 * 1024)
    number = f"{megabytes:.0f}" if megabytes >= 1 else f"{size / 1024:.0f}"
    unit = ("Mo" if language == "fr" else "MB") if megabytes >= 1 else ("Ko" if language == "fr" else "KB")
    return f"{number} {unit}"


@dataclass(frozen=True)
class Pages:
    templates: Environment
    timezone: ZoneInfo

    def language(self, request: Request) -> Language:
        return language_of(request.session.get("lang"))

    def t(self, request: Request, key: str, **values: object) -> str:
        return text(self.language(request), key, **values)

    def render(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        language = self.language(request)
        context.setdefault("csrf_token", csrf_token(request))
        context.setdefault("errors", {})
        context.setdefault("form_error", None)
        context.setdefault("signed_in", signed_in(request.session))
        body = self.templates.get_template(name).render(
            request=request,
            lang=language,
            _=lambda key, **values: text(language, key, **values),
            when=lambda moment: self.when(moment, language),
            size=lambda n: format_size(n, language),
            **context,
        )
        return HTMLResponse(body, status)

    def when(self, moment: datetime, language: Language) -> str:
        local = moment.astimezone(self.timezone)
        return text(language, "time.at", date=local.strftime("%d/%m/%Y"), time=local.strftime("%H:%M"))

    def size(self, request: Request, size: int) -> str:
        return format_size(size, self.language(request))

    def problem(self, request: Request, message: str, status: int = 409) -> HTMLResponse:
        return self.render(request, "problem.html", status, message=message)

    def forbidden(self, request: Request) -> HTMLResponse:
        """A form posted without its CSRF token, or with a stale one: start again."""
        request.session.pop("csrf", None)
        return self.render(request, "expired.html", 403)

    def locked(self, request: Request, reason: str, until: datetime) -> HTMLResponse:
        """The locked page: `reason` is `address`, `item` or `code`."""
        return self.render(
            request, "locked.html", 429, reason=reason, until=self.when(until, self.language(request))
        )
