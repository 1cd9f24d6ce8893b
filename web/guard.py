"""Every request: the Host allow-list (DNS rebinding) first, security headers on every response.

The pages load only our own files (templates/, static/: no CDN, no inline
script or style), so the Content-Security-Policy allows 'self' alone, plus the
live WebSocket of the same host (ws:, or wss: behind a TLS proxy), which CSP
'self' has not always covered.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Flask, Response, jsonify, request

from services.hostcheck import HostAllowList

_SAFE_HOST = re.compile(r"^[A-Za-z0-9.\-:\[\]]{1,255}$")  # a Host that can go into the CSP as it is

_STATIC_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def content_security_policy(host: str) -> str:
    """The policy for a response to ``host`` (the request's Host header, port included)."""
    connect = "'self'"
    if _SAFE_HOST.match(host or ""):
        connect += f" ws://{host} wss://{host}"
    return ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
            f"connect-src {connect}; object-src 'none'; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'none'")


def add_security_headers(response: Response, host: str) -> Response:
    """Set the security headers on ``response`` (those a route set itself stay)."""
    for name, value in _STATIC_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Content-Security-Policy", content_security_policy(host))
    return response


def register(app: Flask) -> None:
    """Install the Host check (server.allowed_hosts) and the security headers on ``app``."""
    allow = HostAllowList(app.config["CONTROLLER"].server.allowed_hosts)
    app.extensions["host_allow_list"] = allow

    @app.before_request
    def check_host():
        header = request.headers.get("Host")
        if allow.allows(header):
            return None
        shown = "".join(ch for ch in (header or "")[:80] if ch.isprintable())
        response = jsonify({"error": f"unknown Host {shown!r}: this controller answers to its own names and "
                                     "addresses; add the name to server.allowed_hosts in config.yaml"})
        response.status_code = 400
        return response

    @app.before_request
    def check_websocket_origin():
        # A WebSocket is not bound by the same-origin policy: any page the LAN's browsers open could
        # read the live snapshots (cross-site WebSocket hijacking). Browsers always send Origin on the
        # handshake; scripts usually send none, and they are not refused.
        origin = request.headers.get("Origin")
        if request.path != "/ws" or origin is None:
            return None
        if urlsplit(origin).netloc.lower() == request.host.lower():
            return None
        response = jsonify({"error": "cross-origin WebSocket refused: the Origin header does not match this host"})
        response.status_code = 403
        return response

    @app.after_request
    def security_headers(response: Response) -> Response:
        return add_security_headers(response, request.host)
