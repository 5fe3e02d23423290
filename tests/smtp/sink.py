"""A real SMTP server for Tessera's tests and CI: aiosmtpd on loopback, writing each
message it accepts to DIR as JSON (envelope, headers, text and HTML parts as decoded by
Python's email package), one file per message, written atomically.

    python sink.py DIR [PORT [starttls|implicit]]

Prints "READY <port>" once it accepts connections (PORT 0 or absent: a free one), and
runs until killed. With `starttls` it requires STARTTLS before MAIL; with `implicit` it
speaks TLS from the first byte (SMTPS). Either way its certificate, for 127.0.0.1 and
localhost, is issued by a throwaway CA (trustme) whose certificate it writes to
DIR/ca.pem before it is ready.
"""

import email
import email.policy
import json
import os
import sys
import threading
import uuid

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory):
        self.directory = directory

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        parts = {"text": None, "html": None}
        for part in message.walk():
            kind = part.get_content_type()
            if kind == "text/plain" and parts["text"] is None:
                parts["text"] = part.get_content()
            elif kind == "text/html" and parts["html"] is None:
                parts["html"] = part.get_content()
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_to": envelope.rcpt_tos,
            "from": str(message["From"]),
            "to": str(message["To"]),
            "subject": str(message["Subject"]),
            "content_type": message.get_content_type(),
            "text": parts["text"],
            "html": parts["html"],
        }
        name = uuid.uuid4().hex
        tmp = os.path.join(self.directory, f".{name}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.replace(tmp, os.path.join(self.directory, f"{name}.json"))
        return "250 OK"


def main():
    directory = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    os.makedirs(directory, exist_ok=True)
    if port == 0:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    tls = sys.argv[3] if len(sys.argv) > 3 else None
    options = {}
    if tls is not None:
        import ssl

        import trustme

        ca = trustme.CA()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        ca.cert_pem.write_to_path(os.path.join(directory, "ca.pem"))
        if tls == "starttls":
            options = {"tls_context": context, "require_starttls": True}
        elif tls == "implicit":
            options = {"ssl_context": context}
        else:
            raise SystemExit(f"unknown TLS mode {tls!r}")
    controller = Controller(Sink(directory), hostname="127.0.0.1", port=port, **options)
    controller.start()
    print(f"READY {port}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
