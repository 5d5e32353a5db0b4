"""The API speaks JSON only: every answer is JSON whatever the Accept header asks for (a
browser's ``text/html`` included), rather than a 406 or DRF's browsable HTML pages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rest_framework.negotiation import DefaultContentNegotiation

if TYPE_CHECKING:  # loaded by rest_framework.views (DEFAULT_CONTENT_NEGOTIATION_CLASS)
    from rest_framework.renderers import BaseRenderer
    from rest_framework.request import Request


class JSONOnly(DefaultContentNegotiation):
    """Parsers are chosen as DRF does; the renderer is always the first (and only) one."""

    # DRF passes the view's renderer list (APIView.get_renderers); the stubs say Iterable.
    def select_renderer(  # type: ignore[override]
        self, request: Request, renderers: Sequence[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        return renderers[0], renderers[0].media_type
