#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
A minimal HTTP CONNECT proxy for the InstallProxy= tests.  Prints its port on
stdout, appends "CONNECT host:port" for every tunnel to LOG, and tunnels to
127.0.0.1:port only (whatever host is asked for).  Exits when stdin closes.

  connect-proxy.py LOG
"""
import os
import select
import socket
import socketserver
import sys
import threading

LOG = sys.argv[1]


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            data += chunk
        head, rest = data.split(b"\r\n\r\n", 1)
        method, target, _ = head.split(b"\r\n")[0].decode().split(" ", 2)
        with open(LOG, "a") as f:
            f.write("%s %s\n" % (method, target))
        if method != "CONNECT":
            self.request.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        upstream = socket.create_connection(("127.0.0.1", int(target.rsplit(":", 1)[1])))
        self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        if rest:
            upstream.sendall(rest)
        socks = [self.request, upstream]
        while True:
            readable, _, _ = select.select(socks, [], [], 30)
            if not readable:
                break
            for s in readable:
                chunk = s.recv(65536)
                if not chunk:
                    upstream.close()
                    return
                (upstream if s is self.request else self.request).sendall(chunk)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


server = Server(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)


def exit_with_parent():
    sys.stdin.buffer.read()
    os._exit(0)


threading.Thread(target=exit_with_parent, daemon=True).start()
server.serve_forever()
