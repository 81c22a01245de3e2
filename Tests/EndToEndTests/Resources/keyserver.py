#!/usr/bin/env python3
"""A vendor meta-API stand-in for the end-to-end tests.

Serves the JSON file given on the command line at any GET path, re-reading it on every request so a
test can rotate keys by rewriting the file. Prints the bound port on its first line of stdout.
GET /count answers how many key documents were served. Standard library only.
"""
import http.server
import sys
import threading

path = sys.argv[1]
count = 0
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        global count
        if self.path == "/count":
            body = str(count).encode()
        else:
            with lock:
                count += 1
            with open(path, "rb") as f:
                body = f.read()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
