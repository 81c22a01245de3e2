#!/usr/bin/python3
"""A throw-away SMTP server for the SMTPMailSink tests (Debian's python3-aiosmtpd, run with /usr/bin/python3).

Binds 127.0.0.1 (a free port unless --port), prints the port on the first line of stdout, then serves
until killed. Each accepted message is stored in --dir as N.eml (the DATA content exactly as received,
after dot-unstuffing) next to N.json (the envelope: mail_from, rcpt_tos, and whether TLS and AUTH
were used); both appear atomically (written under a temporary name, then renamed).

  --auth USER:PASS        require AUTH (PLAIN or LOGIN) with these credentials
  --tls-cert F --tls-key K  offer STARTTLS with this certificate and require it before MAIL
  --implicit-tls          with --tls-cert: TLS from the first byte (smtps://) instead of STARTTLS
  --refuse rcpt|data      answer 550 to every RCPT TO, or 451 to DATA
  --silent                accept TCP connections but never greet (to test timeouts)
"""
import argparse
import asyncio
import json
import os
import signal
import socket
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Store:
    def __init__(self, folder, refuse):
        self.folder = folder
        self.refuse = refuse
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse == "rcpt":
            return "550 5.1.1 <%s>: recipient refused by test server" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.refuse == "data":
            return "451 4.3.0 test server: try again later"
        self.count += 1
        base = os.path.join(self.folder, str(self.count))
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": session.ssl is not None,
            "authenticated": bool(session.authenticated),
        }
        for suffix, data in ((".eml", envelope.original_content), (".json", json.dumps(meta).encode())):
            with open(base + suffix + ".part", "wb") as f:
                f.write(data)
            os.rename(base + suffix + ".part", base + suffix)
        return "250 2.0.0 stored as %d" % self.count


def authenticator_for(user, password):
    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login == user.encode() and auth_data.password == password.encode())
        # handled=False: aiosmtpd itself answers 535 on failure (handled=True would leave the client waiting).
        return AuthResult(success=ok, handled=False)
    return authenticate


async def silent(reader, writer):
    await asyncio.sleep(3600)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--auth")
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--implicit-tls", action="store_true")
    parser.add_argument("--refuse", choices=["rcpt", "data"])
    parser.add_argument("--silent", action="store_true")
    args = parser.parse_args()

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    loop = asyncio.get_running_loop()

    if args.silent:
        server = await asyncio.start_server(silent, sock=sock)
    else:
        store = Store(args.dir, args.refuse)
        options = {"hostname": "localhost", "auth_require_tls": False}
        if args.auth:
            user, _, password = args.auth.partition(":")
            options.update(auth_required=True, authenticator=authenticator_for(user, password))
        implicit = None
        if args.tls_cert:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(args.tls_cert, args.tls_key)
            if args.implicit_tls:
                implicit = context
            else:
                options.update(tls_context=context, require_starttls=True)
        server = await loop.create_server(lambda: SMTP(store, **options), sock=sock, ssl=implicit)

    print(sock.getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    # A child of a threaded test runner inherits its blocked signal mask: let SIGTERM and SIGINT end us.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
