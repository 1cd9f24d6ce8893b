"""TLS for this controller's two MQTT clients (the publisher, ``mqtt.*``, and the battery source, ``battery.mqtt.*``).

One rule for both: ``tls: true`` trusts the system's CA certificates; ``ca_file: /path/ca.crt`` trusts that
PEM file instead (a home broker's own CA, or its self-signed certificate) and implies TLS. The broker's
certificate must name the configured ``host`` (hostname or IP address check): there is deliberately no
"insecure" switch, because TLS that accepts any certificate only hides the traffic from passive listeners
while any machine on the LAN can impersonate the broker and read the MQTT password (docs/mqtt.md).
"""

from __future__ import annotations

import os
import ssl
import sys
from typing import Any


def enabled(tls: bool, ca_file: str, cert_file: str = "") -> bool:
    """TLS is on when asked for, or when a CA file or a client certificate is named (naming one means wanting TLS)."""
    return bool(tls or ca_file or cert_file)


def tls_on(cfg: Any) -> bool:
    """enabled() of a client's section (mqtt.* or battery.mqtt.*: tls, ca_file, cert_file)."""
    return enabled(cfg.tls, cfg.ca_file, cfg.cert_file)


def _file_problem(path: str) -> str | None:
    """Why ``path`` is not a readable absolute file path (one line), or None."""
    if path != path.strip():
        return f"not a file path (spaces around it): {path!r}"
    if not os.path.isabs(path):
        # The service's working directory is not the config file's: a relative path would depend on how it started.
        return f"must be an absolute path, got {path!r}"
    if not os.path.exists(path):
        return f"no such file: {path}"
    if not os.path.isfile(path):
        return f"not a file: {path}"
    if not os.access(path, os.R_OK):
        return f"cannot read {path}: permission denied (the service's user must be able to read it)"
    return None


def client_cert_problem(cert_file: str, key_file: str) -> tuple[str, str] | None:
    """(key, why) when the client certificate and key cannot be used together, or None (both "" = none).

    The key is "cert_file" or "key_file" (the caller adds its section). The pair is loaded the way
    paho loads it at connect time (ssl's load_cert_chain), so what passes here cannot fail there.
    The key's content never appears in a message.
    """
    if not cert_file and not key_file:
        return None
    if not cert_file:
        return "cert_file", "required with key_file (the client certificate, PEM)"
    if not key_file:
        return "key_file", "required with cert_file (the client certificate's private key, PEM)"
    for key, path in (("cert_file", cert_file), ("key_file", key_file)):
        problem = _file_problem(path)
        if problem:
            return key, problem
    try:
        with open(key_file, "rb") as handle:
            head = handle.read(64 * 1024)
    except OSError as exc:
        return "key_file", f"cannot read {key_file}: {exc.strerror}"
    if b"ENCRYPTED" in head:
        # paho's tls_set takes no passphrase, and a service cannot type one at boot.
        return "key_file", f"{key_file} is encrypted (a passphrase cannot be given): store it unencrypted, owner-only"
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(certfile=cert_file, keyfile=key_file)
    except ssl.SSLError as exc:
        reason = getattr(exc, "reason", None) or ""
        if reason == "KEY_VALUES_MISMATCH":
            return "key_file", f"{key_file} is not the private key of {cert_file}"
        if reason in ("NO_START_LINE", "PEM_LIB") or "PEM" in reason:
            return "cert_file", f"not a PEM certificate and key pair ({reason or exc}): {cert_file}, {key_file}"
        return "cert_file", f"OpenSSL refuses {cert_file} with {key_file}: {reason or exc}"
    except OSError as exc:
        return "cert_file", f"cannot read {cert_file}: {exc.strerror}"
    return None


def ca_file_problem(path: str) -> str | None:
    """Why ``path`` cannot serve as a CA file (one line, without the key), or None when it can ("" = system CAs)."""
    if not path:
        return None
    problem = _file_problem(path)
    if problem:
        return problem
    try:
        with open(path, "rb") as handle:
            data = handle.read(1_000_001)
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror}"
    if len(data) > 1_000_000:
        return f"not a PEM certificate (over 1 MB): {path}"
    from cryptography import x509

    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        # A DER file, a private key, a text note: only "-----BEGIN CERTIFICATE-----" blocks are accepted.
        return f"not a PEM certificate (expected -----BEGIN CERTIFICATE-----): {path}"
    if not certs:  # pragma: no cover - cryptography raises instead
        return f"not a PEM certificate: {path}"
    try:
        # The same call paho makes at connect time: what passes here cannot fail there.
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
    except (ssl.SSLError, OSError) as exc:
        return f"OpenSSL refuses the certificate in {path}: {getattr(exc, 'reason', None) or exc}"
    return None


def configure(client: Any, *, tls: bool, ca_file: str, cert_file: str = "", key_file: str = "") -> None:
    """Set up TLS on a paho client before connect(); nothing when TLS is off.

    paho-mqtt 2.x ``tls_set`` builds a PROTOCOL_TLS_CLIENT context: certificate and hostname checks on.
    A client certificate (``cert_file`` + ``key_file``) is presented to a broker that asks for one
    (mosquitto's ``require_certificate true``).
    """
    if not enabled(tls, ca_file, cert_file):
        return
    client.tls_set(ca_certs=ca_file or None,  # None: the system's CA certificates (load_default_certs)
                   certfile=cert_file or None, keyfile=key_file or None)


def files_text(cfg: Any, prefix: str) -> str:
    """The TLS files a section names, for an error: "mqtt.ca_file /a.crt, mqtt.cert_file /c.crt" (no key content)."""
    named = [f"{prefix}{key} {getattr(cfg, key)}" for key in ("ca_file", "cert_file", "key_file") if getattr(cfg, key)]
    return ", ".join(named) or f"{prefix}tls"


NOT_TLS_HINT = " (is the port a TLS listener?)"


def describe_error(exc: BaseException | None, *, tls: bool = False, ca_key: str = "", ca_file: str = "") -> str:
    """One readable line for a failed connect attempt ("" when unknown); TLS failures start with "TLS:"."""
    if exc is None:
        return ""
    if tls and isinstance(exc, (ConnectionResetError, ssl.SSLEOFError)):
        # A plain MQTT listener (1883) drops a TLS ClientHello as a malformed packet: mosquitto 2.0 resets.
        return f"TLS: handshake failed: {exc.strerror or getattr(exc, 'reason', None) or 'connection closed'}{NOT_TLS_HINT}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        why = exc.verify_message or exc.reason or str(exc)
        line = f"TLS: certificate verify failed: {why}"
        if exc.verify_code in (18, 19, 20, 21) and ca_key:  # self-signed, or signed by an unknown CA
            line += (f" ({ca_key} {ca_file} did not sign the broker's certificate)" if ca_file
                     else f" (set {ca_key} to the broker's own CA certificate)")
        elif exc.verify_code in (62, 64):  # OpenSSL's hostname / IP address mismatch
            line += " (use a host name or address that the broker's certificate lists)"
        return line
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or str(exc)
        hint = NOT_TLS_HINT if reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE") else ""
        return f"TLS: handshake failed: {reason}{hint}"
    if isinstance(exc, ssl.CertificateError):  # pragma: no cover - only without check_hostname, which stays on
        return f"TLS: certificate verify failed: {exc}"
    if isinstance(exc, (TimeoutError, ConnectionRefusedError)):
        return "timed out" if isinstance(exc, TimeoutError) else "connection refused"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc) or type(exc).__name__
    return type(exc).__name__


def current_error(*, tls: bool = False, ca_key: str = "", ca_file: str = "") -> str:
    """describe_error() of the exception being handled: for paho's ``on_connect_fail``.

    paho-mqtt 2.2 gives that callback no exception, but calls it inside its ``except OSError`` block
    (loop_forever), so the reason is still sys.exc_info(); "" when a later paho calls it elsewhere.
    """
    return describe_error(sys.exc_info()[1], tls=tls, ca_key=ca_key, ca_file=ca_file)


def unanswered(tls: bool, prefix: str, cert_file: str = "") -> str:
    """The line for a broker that closed the connection before its CONNACK; ``prefix`` is "mqtt." or "battery.mqtt."."""
    line = "the broker closed the connection without answering"
    if not tls:
        # A plain client on a TLS port (8883): mosquitto reads the CONNECT as a bad TLS record and hangs up.
        return f"{line} (a TLS listener? set {prefix}tls: true, or {prefix}ca_file)"
    # TLS 1.3: the client's handshake is done before the broker checks the client's certificate, so a
    # missing or untrusted one shows only as this hang-up (mosquitto 2.0 with require_certificate true).
    if cert_file:
        return f"{line} (does it accept {prefix}cert_file {cert_file}? it must be signed by the broker's cafile)"
    return f"{line} (does it require a client certificate? set {prefix}cert_file and {prefix}key_file)"
