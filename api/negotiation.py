"""The API speaks JSON only: every answer is JSON whatever the Accept header asks for (a
browser's ``text/html`` included), rather than a 406 or DRF's browsable HTML pages."""

from rest_framework.negotiation import DefaultContentNegotiation


class JSONOnly(DefaultContentNegotiation):
    """Parsers are chosen as DRF does; the renderer is always the first (and only) one."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type
