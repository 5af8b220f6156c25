# SPDX-License-Identifier: MIT
"""
Shared pieces of the D-Bus integration tests (test-dbus.py, test-install.py):
the daemon under test as the dc-plugin-host user on the private bus, and
thin client helpers.  Imported with tests/ on sys.path.
"""
import json
import os
import shutil
import subprocess
import tempfile
import time

from gi.repository import Gio, GLib

HOSTD = os.environ["DC_HOSTD"]
HOSTCTL = os.environ["DC_HOSTCTL"]
EXAMPLES = os.environ["DC_EXAMPLES_DIR"]
MODE = os.environ.get("DC_POLKIT_MODE", "real")
BUS = os.environ["DBUS_SYSTEM_BUS_ADDRESS"]
NAME = "org.deviceconnect.PluginHost"
ROOT = "/org/deviceconnect/PluginHost1"
MGR = "org.deviceconnect.PluginHost1.Manager"
PLUGIN = "org.deviceconnect.PluginHost1.Plugin"
ERR = "org.deviceconnect.PluginHost1.Error."
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
DENIED = ("org.freedesktop.DBus.Error.AccessDenied", "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired")


def safe_tmpdir():
    """A root-owned 0755 directory whose ancestors pass the loader's checks."""
    base = "/run/dc-plugin-host-tests"
    os.makedirs(base, mode=0o755, exist_ok=True)
    d = tempfile.mkdtemp(dir=base)
    os.chmod(d, 0o755)
    return d


def wait_for(cond, timeout=10.0, what="condition"):
    ctx = GLib.MainContext.default()
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        ctx.iteration(False) or time.sleep(0.005)


class Daemon:
    """dc-plugin-hostd with the example plugins, as user dc-plugin-host.
    The install store is <tmp>/state/plugins (created by the first install)."""

    def __init__(self, extra_conf="", test_plugins=(), examples=("hello-world", "counter", "sensor"), wrapper=(),
                 stalled_stderr=False):
        self.wrapper = list(wrapper)  # e.g. prlimit: a command prefix for the daemon
        self.stalled_stderr = stalled_stderr  # console log into a pipe nobody reads
        base = "/run/dc-plugin-host-tests"
        os.makedirs(base, mode=0o755, exist_ok=True)
        self.tmp = tempfile.mkdtemp(dir=base)
        os.chmod(self.tmp, 0o755)
        self.root = os.path.join(self.tmp, "plugins")
        os.mkdir(self.root, 0o755)
        for name in examples:
            d = os.path.join(self.root, name)
            os.mkdir(d, 0o755)
            for f in (name + ".so", "manifest.json"):
                shutil.copy(os.path.join(EXAMPLES, name, f), d)
                os.chmod(os.path.join(d, f), 0o644)
        for variant in test_plugins:
            d = os.path.join(self.root, variant)
            os.mkdir(d, 0o755)
            shutil.copy(os.path.join(os.environ["DC_TEST_PLUGINS_DIR"], variant + ".so"), d)
            os.chmod(os.path.join(d, variant + ".so"), 0o644)
            with open(os.path.join(d, "manifest.json"), "w") as f:
                f.write(json.dumps({"id": variant, "version": "1.0.0", "runtime": "c", "api_level": 1}))
            os.chmod(os.path.join(d, "manifest.json"), 0o644)
        self.state = os.path.join(self.tmp, "state")
        self.store = os.path.join(self.state, "plugins")
        os.mkdir(self.state, 0o700)
        shutil.chown(self.state, "dc-plugin-host", "dc-plugin-host")
        self.conf = os.path.join(self.tmp, "hostd.conf")
        with open(self.conf, "w") as f:
            f.write("PluginDirectories=%s\nStateDirectory=%s\nSignaturesFile=%s/none.json\n"
                    "TrustedKeysDirectory=%s/none.d\nPluginConfigDirectory=%s/none\nPolkitTimeoutSec=3\n%s"
                    % (self.root, self.state, self.tmp, self.tmp, self.tmp, extra_conf))
        self.log = open(os.path.join(self.tmp, "hostd.log"), "w+")
        self.start()

    def start(self):
        out = subprocess.PIPE if self.stalled_stderr else self.log
        self.proc = subprocess.Popen(self.wrapper + ["setpriv", "--reuid=dc-plugin-host", "--regid=dc-plugin-host", "--clear-groups",
                                      HOSTD, "--config", self.conf, "--log-target=console"],
                                     stdout=out, stderr=subprocess.STDOUT)
        r = subprocess.run(["gdbus", "wait", "--system", "--timeout", "10", NAME])
        if r.returncode != 0:
            out = self.output()
            self.stop()
            raise AssertionError("daemon did not take its name:\n" + out)

    def restart(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.start()

    def kill(self):
        """SIGKILL, then wait until the bus name is gone."""
        self.proc.kill()
        self.proc.wait(timeout=10)
        bus = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
        wait_for(lambda: not bus.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                           "NameHasOwner", GLib.Variant("(s)", (NAME,)), GLib.VariantType("(b)"),
                                           Gio.DBusCallFlags.NONE, 5000, None).unpack()[0], 10, "the name to vanish")

    def output(self):
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                if self.stalled_stderr:
                    self.proc.communicate(timeout=10)  # drain the pipe so that it can finish
                else:
                    self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        return rc


def connect():
    return Gio.DBusConnection.new_for_address_sync(
        BUS, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)


def call(conn, path, iface, method, args=None, reply=None, timeout=10000):
    return conn.call_sync(NAME, path, iface, method, args, GLib.VariantType(reply) if reply else None,
                          Gio.DBusCallFlags.NONE, timeout, None)


def dbus_error(exc):
    return Gio.DBusError.get_remote_error(exc)


def busctl(*args, as_nobody=False):
    cmd = (NOBODY if as_nobody else []) + ["busctl", "--system", "--timeout=10"] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def gdbus(*args, as_nobody=False, user=None):
    prefix = NOBODY if as_nobody else (["runuser", "-u", user, "--"] if user else [])
    cmd = prefix + ["gdbus", "call", "--system", "--timeout", "10", "--dest", NAME] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


