#!/usr/bin/env python3
"""A vendor meta-API stand-in for the key-cache tests (standard library only).

    keyserver.py [--document FILE] [--mode MODE]

Binds 127.0.0.1 on a free port and prints the port as the first line of stdout. Exits when its
stdin closes, so a test that dies takes its server with it.

GET  /keys           the key document (ETag = quoted sha256; If-None-Match match -> 304), per MODE:
                     normal | hang (never answers) | slow (answers after 300 ms) | error500 |
                     malformed (not JSON) | ratelimit (GitHub's 403 "API rate limit exceeded")
GET  /count          how many /keys requests arrived (any mode)
GET  /last-headers   the headers of the last /keys request, as a JSON object (lower-case names)
POST /mode           body = new MODE
POST /document       body = new document
POST /echo           answers the request body
GET  /big?n=N        N bytes of 'x'
"""
import hashlib
import http.server
import json
import os
import signal
import sys
import threading
import time

state = {"document": b'{"public_keys": []}', "mode": "normal", "count": 0, "last_headers": {}}
lock = threading.Lock()

args = sys.argv[1:]
while args:
    flag = args.pop(0)
    if flag == "--document":
        with open(args.pop(0), "rb") as f:
            state["document"] = f.read()
    elif flag == "--mode":
        state["mode"] = args.pop(0)
    else:
        sys.exit("unknown argument " + flag)

RATE_LIMIT = (b'{"message":"API rate limit exceeded for 192.0.2.1. (But here\'s the good news: '
              b'Authenticated requests get a higher rate limit.)",'
              b'"documentation_url":"https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"}')


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, status, body, extra=()):
        self.send_response(status)
        for name, value in extra:
            self.send_header(name, value)
        if status != 304:
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 304:
            self.wfile.write(body)

    def do_GET(self):
        if self.path == "/count":
            with lock:
                return self.answer(200, str(state["count"]).encode())
        if self.path == "/last-headers":
            with lock:
                return self.answer(200, json.dumps(state["last_headers"]).encode())
        if self.path.startswith("/big?n="):
            return self.answer(200, b"x" * int(self.path.split("=", 1)[1]))
        with lock:
            state["count"] += 1
            state["last_headers"] = {k.lower(): v for k, v in self.headers.items()}
            mode, document = state["mode"], state["document"]
        if mode == "hang":
            time.sleep(3600)
            return
        if mode == "slow":
            time.sleep(0.3)
        if mode == "error500":
            return self.answer(500, b'{"message":"internal error"}')
        if mode == "malformed":
            return self.answer(200, b'{"public_keys": [')
        if mode == "ratelimit":
            return self.answer(403, RATE_LIMIT)
        etag = '"' + hashlib.sha256(document).hexdigest() + '"'
        if self.headers.get("If-None-Match") == etag:
            return self.answer(304, b"", [("ETag", etag)])
        return self.answer(200, document, [("ETag", etag)])

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        with lock:
            if self.path == "/mode":
                state["mode"] = body.decode()
            elif self.path == "/document":
                state["document"] = body
            elif self.path == "/echo":
                return self.answer(200, body)
            else:
                return self.answer(404, b"{}")
        return self.answer(200, b"{}")

    def log_message(self, *args):
        pass


def exit_when_stdin_closes():
    while sys.stdin.buffer.read(1024):
        pass
    os._exit(0)


# A parent's worker thread may have spawned us with every signal blocked; make SIGTERM work again.
signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT])
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
server.serve_forever()
