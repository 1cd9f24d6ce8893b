"""What firmware built on Bitmain's stock image shares: the lighttpd front end and the stock API groups.

The stock Antminer firmware (antminer.py) and Vnish 3.x (vnish_legacy.py, a
modified stock image) both serve their CGI scripts from lighttpd 1.4.32 behind
mod_auth digest, realm "antMiner Configuration", with lighttpd's built-in error
page, and ship a /config/cgminer.conf whose api-groups let LAN clients run only
the five read commands.
"""

from __future__ import annotations

import email.utils

from . import httpd

# The stock /config/cgminer.conf: "api-groups":"A:stats:pools:devs:summary:version", "api-allow":"A:0/0,W:*".
READ_COMMANDS = ("stats", "pools", "devs", "summary", "version")
REALM = "antMiner Configuration"
SERVER = ("Server", "lighttpd/1.4.32")
# lighttpd's built-in error page.
ERROR_PAGE = ('<?xml version="1.0" encoding="iso-8859-1"?>\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 '
              'Transitional//EN"\n         "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
              '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">\n <head>\n'
              '  <title>{code} - {reason}</title>\n </head>\n <body>\n  <h1>{code} - {reason}</h1>\n'
              ' </body>\n</html>\n')


def error_page(status: int, reason: str, headers: list[tuple[str, str]] | None = None) -> httpd.Response:
    """lighttpd's own page for an error status (401, 404 ...), with its Date and Server headers."""
    body = ERROR_PAGE.format(code=status, reason=reason).encode()
    base = [("Date", email.utils.formatdate(usegmt=True)), SERVER]
    return httpd.Response(status, body, headers=(headers or []) + base, reason=reason)


def cgi_reply(body: str | bytes, content_type: str = "text/html") -> httpd.Response:
    """A CGI script's 200 answer as lighttpd sends it (Server header, no Date)."""
    data = body.encode() if isinstance(body, str) else body
    return httpd.Response(200, data, content_type=content_type, headers=[SERVER])
