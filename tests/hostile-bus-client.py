#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
A hostile D-Bus caller for tests/test-dbus.py: sends many Invoke calls at
once, each with unix fds its signature does not use and/or large params,
counts how they end, prints one JSON line and keeps the connection (and
with it every call still waiting) open until stdin closes.

  hostile-bus-client.py CALLS FDS PARAMS_BYTES SETTLE_ERRORS TIMEOUT_SEC
"""
import json
import os
import sys
import time

from gi.repository import Gio, GLib

calls, n_fds, params_bytes, settle, timeout = (int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
                                               int(sys.argv[4]), float(sys.argv[5]))
conn = Gio.DBusConnection.new_for_address_sync(
    os.environ["DBUS_SYSTEM_BUS_ADDRESS"],
    Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
errors, ok = {}, [0]
params = json.dumps({"pad": "x" * max(0, params_bytes - 12)}) if params_bytes else "{}"


def done(c, res, _):
    try:
        c.call_with_unix_fd_list_finish(res)
        ok[0] += 1
    except GLib.Error as e:
        name = Gio.DBusError.get_remote_error(e) or e.message
        errors[name] = errors.get(name, 0) + 1


for _ in range(calls):
    fds = Gio.UnixFDList()
    for _ in range(n_fds):
        fd = os.open("/dev/null", os.O_RDONLY)
        fds.append(fd)
        os.close(fd)
    conn.call_with_unix_fd_list("org.deviceconnect.PluginHost", "/org/deviceconnect/PluginHost1",
                                "org.deviceconnect.PluginHost1.Manager", "Invoke",
                                GLib.Variant("(sss)", ("hello-world", "echo", params)), None, Gio.DBusCallFlags.NONE,
                                int(timeout * 1000) + 60000, fds, None, done, None)
ctx = GLib.MainContext.default()
deadline = time.monotonic() + timeout
while sum(errors.values()) + ok[0] < settle and time.monotonic() < deadline:
    ctx.iteration(False) or time.sleep(0.005)
print(json.dumps({"errors": errors, "ok": ok[0], "outstanding": calls - ok[0] - sum(errors.values())}), flush=True)
# Keep the calls waiting until the test is done with its checks.
sys.stdin.read()
