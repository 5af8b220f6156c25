#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
A local HTTPS server for the URL install tests.  Prints its port on stdout,
then serves until killed.  Every request path is appended to LOG.

  https-server.py CERT KEY DIR LOG

  /<file>             a file from DIR
  /redirect?to=URL    302 to URL
  /loop               302 to itself
  /big                3 MiB, chunked (no Content-Length)
  /big-length         3 MiB with Content-Length
  /slow               headers, then a byte a second
  /missing            404
"""
import http.server
import os
import ssl
import sys
import threading
import time
import urllib.parse

CERT, KEY, DIR, LOG = sys.argv[1:5]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        with open(LOG, "a") as f:
            f.write(self.path + "\n")
        url = urllib.parse.urlparse(self.path)
        if url.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", urllib.parse.parse_qs(url.query)["to"][0])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif url.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif url.path in ("/big", "/big-length"):
            chunk = b"x" * 65536
            self.send_response(200)
            if url.path == "/big":
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(48 * len(chunk)))
            self.end_headers()
            for _ in range(48):
                if url.path == "/big":
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                else:
                    self.wfile.write(chunk)
            if url.path == "/big":
                self.wfile.write(b"0\r\n\r\n")
        elif url.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(1)
            except OSError:
                pass
        else:
            path = os.path.join(DIR, os.path.basename(url.path))
            if not os.path.isfile(path):
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            with open(path, "rb") as f:
                data = f.read()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(CERT, KEY)
class Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # clients that give up (size cap, timeout) are expected


server = Server(("127.0.0.1", 0), Handler)
server.daemon_threads = True
server.socket = ctx.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)


def exit_with_parent():
    """stdin is a pipe from the test: its EOF means the test is gone."""
    sys.stdin.buffer.read()
    os._exit(0)


threading.Thread(target=exit_with_parent, daemon=True).start()
server.serve_forever()
