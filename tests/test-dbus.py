#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
The D-Bus API end to end: the real dc-plugin-hostd as the dc-plugin-host user
on a private system-like bus with the project's bus policy, the real polkitd
(or none, or the dbusmock template for faults), and independent clients:
Gio, busctl and gdbus, as root and as nobody.  Run by tests/run-bus-tests.sh.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import unittest

from gi.repository import Gio, GLib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dctest import (DENIED, ERR, HOSTCTL, MGR, MODE, NAME, NOBODY, PLUGIN, ROOT,  # noqa: E402
                    Daemon, busctl, call, connect, dbus_error, gdbus, wait_for)


# Every mutating member, as a busctl argument list.
MUTATIONS = [
    ("Invoke", [ROOT, MGR, "Invoke", "sss", "hello-world", "echo", "{}"]),
    ("LoadPlugin", [ROOT, MGR, "LoadPlugin", "st", "hello-world", "0"]),
    ("UnloadPlugin", [ROOT, MGR, "UnloadPlugin", "st", "hello-world", "0"]),
    ("ReloadPlugin", [ROOT, MGR, "ReloadPlugin", "st", "hello-world", "0"]),
    ("Rescan", [ROOT, MGR, "Rescan", "t", "0"]),
    ("Plugin.Load", [ROOT + "/plugins/hello_2dworld", PLUGIN, "Load", "t", "0"]),
    ("Plugin.Unload", [ROOT + "/plugins/hello_2dworld", PLUGIN, "Unload", "t", "0"]),
    ("Plugin.Reload", [ROOT + "/plugins/hello_2dworld", PLUGIN, "Reload", "t", "0"]),
    ("Plugin.Invoke", [ROOT + "/plugins/hello_2dworld", PLUGIN, "Invoke", "ss", "echo", "{}"]),
]


@unittest.skipUnless(MODE == "real", "real polkitd only")
class RealPolkit(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()
        cls.conn = connect()

    @classmethod
    def tearDownClass(cls):
        out = cls.d.output()
        rc = cls.d.stop()
        if rc != 0:
            print(out)
        assert rc == 0, "daemon exit status %r" % rc

    def test_properties_and_introspection(self):
        v = call(self.conn, ROOT, "org.freedesktop.DBus.Properties", "GetAll", GLib.Variant("(s)", (MGR,)), "(a{sv})")
        props = v.unpack()[0]
        self.assertEqual(props["ApiLevel"], 1)
        self.assertEqual(props["State"], 2)
        self.assertEqual(props["SignatureMode"], "permissive")
        self.assertEqual(props["PluginDirectories"][0], self.d.root)
        r = busctl("introspect", NAME, ROOT, MGR)
        self.assertEqual(r.returncode, 0, r.stderr)
        for member in ("Invoke", "Describe", "PluginLoaded", "PluginEvent", "SignatureMode"):
            self.assertIn(member, r.stdout)

    def test_list_and_get(self):
        plugins = call(self.conn, ROOT, MGR, "ListPlugins", None, "(a(so))").unpack()[0]
        self.assertEqual(plugins, [("counter", ROOT + "/plugins/counter"),
                                   ("hello-world", ROOT + "/plugins/hello_2dworld"),
                                   ("sensor", ROOT + "/plugins/sensor")])
        path = call(self.conn, ROOT, MGR, "GetPlugin", GLib.Variant("(s)", ("hello-world",)), "(o)").unpack()[0]
        state = call(self.conn, path, "org.freedesktop.DBus.Properties", "Get", GLib.Variant("(ss)", (PLUGIN, "State")), "(v)")
        self.assertEqual(state.unpack()[0], 3)
        with self.assertRaises(GLib.Error) as e:
            call(self.conn, ROOT, MGR, "GetPlugin", GLib.Variant("(s)", ("nope",)))
        self.assertEqual(dbus_error(e.exception), ERR + "NoSuchPlugin")
        # busctl as an independent client, properties of a plugin object
        r = busctl("get-property", NAME, ROOT + "/plugins/sensor", PLUGIN, "Functions")
        self.assertEqual(r.stdout.strip(), 'as 4 "read" "slow" "stats" "fail"')
        r = busctl("get-property", NAME, ROOT + "/plugins/sensor", PLUGIN, "Digest")
        self.assertRegex(r.stdout.strip(), r'^s "sha256:[0-9a-f]{64}"$')

    def test_object_manager(self):
        objs = call(self.conn, ROOT, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", None,
                    "(a{oa{sa{sv}}})").unpack()[0]
        self.assertIn(ROOT + "/plugins/counter", objs)
        self.assertEqual(objs[ROOT + "/plugins/counter"][PLUGIN]["Id"], "counter")
        self.assertEqual(objs[ROOT + "/plugins/counter"][PLUGIN]["Events"], ["tick"])

    def test_describe_and_invoke(self):
        desc = json.loads(call(self.conn, ROOT, MGR, "Describe", None, "(s)").unpack()[0])
        self.assertEqual([p["id"] for p in desc["plugins"]], ["counter", "hello-world", "sensor"])
        r = call(self.conn, ROOT, MGR, "Invoke", GLib.Variant("(sss)", ("hello-world", "hello_world", '{"name":"bus"}')), "(s)")
        self.assertEqual(json.loads(r.unpack()[0]), {"message": "Hello, bus!"})
        # gdbus, an independent client, on the plugin object
        r = gdbus("--object-path", ROOT + "/plugins/hello_2dworld", "--method", PLUGIN + ".Invoke", "echo", '{"x":[1,true]}')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('{"x":[1,true]}', r.stdout)
        for args, name in ((("sensor", "read", '{"channel":99}'), "InvalidParams"),
                           (("sensor", "nope", "{}"), "NoSuchFunction"),
                           (("nope", "x", "{}"), "NoSuchPlugin"),
                           (("../x", "x", "{}"), "InvalidId"),
                           (("sensor", "read", "not json"), "InvalidParams"),
                           (("sensor", "fail", "{}"), "InvokeFailed")):
            with self.assertRaises(GLib.Error) as e:
                call(self.conn, ROOT, MGR, "Invoke", GLib.Variant("(sss)", args))
            self.assertEqual(dbus_error(e.exception), ERR + name, args)

    def test_unknown_flags(self):
        for args in ((ROOT, MGR, "LoadPlugin", "st", "hello-world", "1"), (ROOT, MGR, "Rescan", "t", "4")):
            r = busctl("call", NAME, *args)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("Invalid 'flags' parameter", r.stderr)

    def test_slow_call_does_not_block_others(self):
        done = []
        self.conn.call(NAME, ROOT, MGR, "Invoke", GLib.Variant("(sss)", ("sensor", "slow", '{"ms":1500}')),
                       None, Gio.DBusCallFlags.NONE, 10000, None, lambda c, res: done.append(c.call_finish(res)))
        t0 = time.monotonic()
        call(self.conn, ROOT, MGR, "Describe", None, "(s)")
        self.assertLess(time.monotonic() - t0, 1.0)
        self.assertEqual(done, [])
        wait_for(lambda: done, 10, "the slow call")
        self.assertEqual(json.loads(done[0].unpack()[0]), {"slept_ms": 1500})

    def test_unload_load_signals(self):
        signals = []
        sub = self.conn.signal_subscribe(NAME, None, None, None, None, Gio.DBusSignalFlags.NONE,
                                         lambda c, s, p, i, name, params: signals.append((p, i, name, params.unpack())))
        try:
            call(self.conn, ROOT, MGR, "UnloadPlugin", GLib.Variant("(st)", ("hello-world", 0)))
            wait_for(lambda: any(s[2] == "PluginUnloaded" for s in signals), 5, "PluginUnloaded")
            changed = [s for s in signals if s[2] == "PropertiesChanged" and s[0].endswith("hello_2dworld")]
            self.assertTrue(any(c[3][1].get("State") == 1 for c in changed), changed)
            with self.assertRaises(GLib.Error) as e:
                call(self.conn, ROOT, MGR, "UnloadPlugin", GLib.Variant("(st)", ("hello-world", 0)))
            self.assertEqual(dbus_error(e.exception), ERR + "NotLoaded")
            call(self.conn, ROOT + "/plugins/hello_2dworld", PLUGIN, "Load", GLib.Variant("(t)", (0,)))
            wait_for(lambda: any(s[2] == "PluginLoaded" for s in signals), 5, "PluginLoaded")
            loaded = [s for s in signals if s[2] == "PluginLoaded"][0]
            self.assertEqual(loaded[3], ("hello-world", ["hello_world", "echo"]))
            with self.assertRaises(GLib.Error) as e:
                call(self.conn, ROOT, MGR, "LoadPlugin", GLib.Variant("(st)", ("hello-world", 0)))
            self.assertEqual(dbus_error(e.exception), ERR + "AlreadyLoaded")
            # reload with unchanged bytes: nothing changes
            call(self.conn, ROOT, MGR, "ReloadPlugin", GLib.Variant("(st)", ("hello-world", 0)))
            # the counter's routine emits PluginEvent
            wait_for(lambda: any(s[2] == "PluginEvent" for s in signals), 5, "PluginEvent")
            ev = [s for s in signals if s[2] == "PluginEvent"][0][3]
            self.assertEqual(ev[0:2], ("counter", "tick"))
            self.assertIn("ticks", json.loads(ev[2]))
        finally:
            self.conn.signal_unsubscribe(sub)

    def test_rejected_plugin_is_visible(self):
        d = os.path.join(self.d.root, "broken")
        os.mkdir(d, 0o755)
        with open(os.path.join(d, "manifest.json"), "w") as f:
            f.write('{"id":"broken","class_name":"X","entry_point":"capability.py"}')
        os.chmod(os.path.join(d, "manifest.json"), 0o644)
        try:
            call(self.conn, ROOT, MGR, "Rescan", GLib.Variant("(t)", (0,)))
            path = call(self.conn, ROOT, MGR, "GetPlugin", GLib.Variant("(s)", ("broken",)), "(o)").unpack()[0]
            props = call(self.conn, path, "org.freedesktop.DBus.Properties", "GetAll", GLib.Variant("(s)", (PLUGIN,)),
                         "(a{sv})").unpack()[0]
            self.assertEqual((props["State"], props["LastError"]), (6, "runtime-unsupported"))
            with self.assertRaises(GLib.Error) as e:
                call(self.conn, ROOT, MGR, "LoadPlugin", GLib.Variant("(st)", ("broken", 0)))
            self.assertEqual(dbus_error(e.exception), ERR + "Rejected")
            self.assertIn("runtime-unsupported", e.exception.message)
        finally:
            shutil.rmtree(d)
            call(self.conn, ROOT, MGR, "Rescan", GLib.Variant("(t)", (0,)))

    def test_nobody_reads_but_cannot_mutate(self):
        for args in ((ROOT, MGR, "ListPlugins"), (ROOT, MGR, "Describe")):
            r = busctl("call", NAME, *args, as_nobody=True)
            self.assertEqual(r.returncode, 0, r.stderr)
        r = busctl("get-property", NAME, ROOT, MGR, "Version", as_nobody=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        for label, args in MUTATIONS:
            r = busctl("call", NAME, *args, as_nobody=True)
            self.assertNotEqual(r.returncode, 0, label)
            self.assertTrue("Access denied" in r.stderr or "Interactive authentication required" in r.stderr,
                            "%s: %s" % (label, r.stderr))
        # gdbus without -i: not allowed to interact → AccessDenied or challenge, never success
        r = gdbus("--object-path", ROOT, "--method", MGR + ".Rescan", "0", as_nobody=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertTrue(any(n in r.stderr for n in DENIED), r.stderr)
        # the plugin is still loaded: nothing happened
        state = busctl("get-property", NAME, ROOT + "/plugins/hello_2dworld", PLUGIN, "State")
        self.assertEqual(state.stdout.strip(), "u 3")

    def test_polkit_rule_grants_group(self):
        r = gdbus("--object-path", ROOT, "--method", MGR + ".Invoke", "hello-world", "hello_world", "{}", user="dctest")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Hello, world!", r.stdout)

    def test_log_control(self):
        r = busctl("set-property", NAME, "/org/freedesktop/LogControl1", "org.freedesktop.LogControl1", "LogLevel", "s", "debug")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = busctl("get-property", NAME, "/org/freedesktop/LogControl1", "org.freedesktop.LogControl1", "LogLevel")
        self.assertEqual(r.stdout.strip(), 's "debug"')
        r = busctl("set-property", NAME, "/org/freedesktop/LogControl1", "org.freedesktop.LogControl1", "LogLevel", "s",
                   "info", as_nobody=True)
        self.assertNotEqual(r.returncode, 0)
        r = busctl("set-property", NAME, "/org/freedesktop/LogControl1", "org.freedesktop.LogControl1", "LogLevel", "s", "loud")
        self.assertNotEqual(r.returncode, 0)
        busctl("set-property", NAME, "/org/freedesktop/LogControl1", "org.freedesktop.LogControl1", "LogLevel", "s", "info")


@unittest.skipUnless(MODE == "real", "real polkitd only")
class ErrorNames(unittest.TestCase):
    """Every remaining error name, round-tripped to a client, and every emits-change property."""

    @classmethod
    def setUpClass(cls):
        # the worker pool of in-process plugins (isolated ones: test-isolation.py)
        cls.d = Daemon("CallTimeoutSec=1\nWorkers=1\nMaxQueuedCalls=1\nDefaultIsolation=in-process\n",
                       test_plugins=("init-fail", "bad-abi"))
        cls.conn = connect()

    @classmethod
    def tearDownClass(cls):
        assert cls.d.stop() == 0

    def expect(self, name, method, args):
        with self.assertRaises(GLib.Error) as e:
            call(self.conn, ROOT, MGR, method, args)
        self.assertEqual(dbus_error(e.exception), ERR + name)
        return e.exception.message

    def test_load_failures(self):
        msg = self.expect("LoadFailed", "LoadPlugin", GLib.Variant("(st)", ("init-fail", 0)))
        self.assertIn("plugin initialization failed: the test asked me to fail", msg)
        msg = self.expect("IncompatiblePlugin", "LoadPlugin", GLib.Variant("(st)", ("bad-abi", 0)))
        self.assertIn("plugin interface version mismatch: plugin interface 99, host requires 1", msg)

    def test_timeout_and_busy(self):
        # One worker, one queue slot: three calls in flight at once means at
        # least one is refused with Busy, whichever the worker took first.
        results = {}

        def send(key, params):
            self.conn.call(NAME, ROOT, MGR, "Invoke", GLib.Variant("(sss)", ("sensor", "slow", params)), None,
                           Gio.DBusCallFlags.NONE, 10000, None, lambda c, res: results.__setitem__(key, res))

        send("hold", '{"ms":3000}')
        send("a", '{"ms":10}')
        send("b", '{"ms":10}')
        wait_for(lambda: len(results) == 3, 10, "the calls")

        def outcome(key):
            try:
                self.conn.call_finish(results[key])
                return "ok"
            except GLib.Error as e:
                return dbus_error(e)

        others = [outcome("a"), outcome("b")]
        hold = outcome("hold")
        self.assertIn(ERR + "Busy", [hold] + others)
        self.assertTrue(set([hold] + others) <= {"ok", ERR + "Busy", ERR + "Timeout"}, (hold, others))
        # Cancelled handlers return within ~10 ms: wait until the worker is free again.
        def idle():
            try:
                call(self.conn, ROOT, MGR, "Invoke", GLib.Variant("(sss)", ("sensor", "stats", "{}")))
                return True
            except GLib.Error:
                return False
        wait_for(idle, 5, "an idle worker")
        # A call that outlives CallTimeoutSec=1 gets Timeout with its own message.
        with self.assertRaises(GLib.Error) as e:
            call(self.conn, ROOT, MGR, "Invoke", GLib.Variant("(sss)", ("sensor", "slow", '{"ms":3000}')))
        self.assertEqual(dbus_error(e.exception), ERR + "Timeout")
        self.assertIn("timed out after 1 s", e.exception.message)

    def test_every_emits_change_property(self):
        changes = []
        sub = self.conn.signal_subscribe(NAME, "org.freedesktop.DBus.Properties", "PropertiesChanged", None, None,
                                         Gio.DBusSignalFlags.NONE,
                                         lambda c, s, p, i, name, params: changes.append((p, params.unpack())))
        try:
            call(self.conn, ROOT, MGR, "UnloadPlugin", GLib.Variant("(st)", ("hello-world", 0)))
            wait_for(lambda: any(p.endswith("hello_2dworld") for p, _ in changes), 5, "PropertiesChanged")
            props = set()
            for p, (iface, changed, invalidated) in changes:
                if p.endswith("hello_2dworld") and iface == PLUGIN:
                    props |= set(changed) | set(invalidated)
            self.assertEqual(props, {"Name", "Version", "Description", "ApiLevel", "State", "LastError", "Digest",
                                     "Functions", "Events", "Isolation"})
            call(self.conn, ROOT, MGR, "LoadPlugin", GLib.Variant("(st)", ("hello-world", 0)))
        finally:
            self.conn.signal_unsubscribe(sub)


def hostctl(*args, as_nobody=False):
    cmd = (NOBODY if as_nobody else []) + [HOSTCTL, "--no-ask-password"] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


@unittest.skipUnless(MODE == "real", "real polkitd only")
class SharedLimits(unittest.TestCase):
    """The operation layer's limits hold on D-Bus as on the mesh (test-mesh-scale.mjs):
    MaxLoadedPlugins= and the per-caller rate limit."""

    def test_loaded_cap_and_rate_limit(self):
        d = Daemon("MaxLoadedPlugins=3\nOperationsPerMinute=4\n", test_plugins=("good",))
        try:
            conn = connect()
            call(conn, ROOT, MGR, "UnloadPlugin", GLib.Variant("(st)", ("good", 0)))  # unloads are not limited
            with self.assertRaises(GLib.Error) as e:  # three loaded: a fourth is refused (token 1)
                call(conn, ROOT, MGR, "LoadPlugin", GLib.Variant("(st)", ("good", 0)))
            self.assertEqual(dbus_error(e.exception), "org.freedesktop.DBus.Error.LimitsExceeded")
            self.assertIn("too many plugins loaded (at most 3)", e.exception.message)
            for pid in ("hello-world", "sensor", "counter"):  # tokens 2-4
                call(conn, ROOT, MGR, "ReloadPlugin", GLib.Variant("(st)", (pid, 0)))
            with self.assertRaises(GLib.Error) as e:
                call(conn, ROOT, MGR, "ReloadPlugin", GLib.Variant("(st)", ("sensor", 0)))
            self.assertEqual(dbus_error(e.exception), ERR + "RateLimited")
            self.assertIn("at most 4", e.exception.message)
            # another caller has its own share
            r = gdbus("--object-path", ROOT, "--method", MGR + ".ReloadPlugin", "sensor", "0", user="dctest")
            self.assertEqual(r.returncode, 0, r.stderr)
            # reads and calls are never rate-limited
            for _ in range(10):
                call(conn, ROOT, MGR, "Invoke", GLib.Variant("(sss)", ("hello-world", "echo", "{}")), "(s)")
        finally:
            out = d.output()
            self.assertEqual(d.stop(), 0, out)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(next(line for line in f if line.startswith("VmRSS:")).split()[1])


def malformed_round(conn, n, window=16):
    """n malformed calls of every shape and size, `window` in flight; returns the error names."""
    sizes = (10, 1000, 100000, 400000, 900000, 1100000)
    shapes = (
        lambda k: ("Invoke", GLib.Variant("(sss)", ("hello-world", "echo", "{" * k))),
        lambda k: ("Invoke", GLib.Variant("(sss)", ("hello-world", "echo", '{"a":[' + "1," * (k // 2) + "]"))),
        lambda k: ("Invoke", GLib.Variant("(sss)", ("x" * k, "echo", "{}"))),
        lambda k: ("Invoke", GLib.Variant("(sss)", ("hello-world", "e" * k, '{"s":"' + "\\u00" * (k // 6) + '"}'))),
        lambda k: ("Invoke", GLib.Variant("(is)", (k, "x" * k))),  # wrong signature
        lambda k: ("NoSuchMethod" + str(k), GLib.Variant("(s)", ("y" * k,))),
    )
    loop = GLib.MainLoop()
    state = {"sent": 0, "done": 0, "names": set()}

    def finish(c, res):
        try:
            c.call_finish(res)
            state["names"].add("success")
        except GLib.Error as e:
            state["names"].add(dbus_error(e))
        state["done"] += 1
        send()
        if state["done"] == n:
            loop.quit()

    def send():
        if state["sent"] >= n:
            return
        k = state["sent"]
        state["sent"] += 1
        method, args = shapes[(k // len(sizes)) % len(shapes)](sizes[k % len(sizes)])
        conn.call(NAME, ROOT, MGR, method, args, None, Gio.DBusCallFlags.NONE, 30000, None, finish)

    for _ in range(window):
        send()
    loop.run()
    return state["names"]


@unittest.skipUnless(MODE == "real", "real polkitd only")
class MalformedInputMemory(unittest.TestCase):
    """Rounds of 10,000 malformed calls leave RSS within 10% of what the daemon used
    after well-formed traffic (issue: memory that malformed input never gives back)."""

    def test_rss_returns_after_malformed_rounds(self):
        d = Daemon()
        try:
            with open("/proc/%d/maps" % d.proc.pid) as f:
                if "libasan" in f.read():
                    self.skipTest("RSS is not meaningful under ASan (its quarantine keeps freed memory)")
            conn = connect()
            for _ in range(200):
                call(conn, ROOT, MGR, "Invoke", GLib.Variant("(sss)", ("hello-world", "echo", '{"x":1}')), "(s)")
            before = rss_kib(d.proc.pid)
            for rnd in (1, 2):
                names = malformed_round(conn, 10000)
                self.assertEqual(names, {ERR + "InvalidParams", ERR + "InvalidId", ERR + "NoSuchFunction", ERR + "NoSuchPlugin",
                                         "org.freedesktop.DBus.Error.InvalidArgs",
                                         "org.freedesktop.DBus.Error.UnknownMethod"})
                # the last trim of a burst is deferred by up to a second
                try:
                    wait_for(lambda: rss_kib(d.proc.pid) <= before * 1.1, 5, "RSS to return")
                except AssertionError:
                    pass
                after = rss_kib(d.proc.pid)
                print("# round %d: RSS %d KiB before, %d KiB after 10000 malformed calls" % (rnd, before, after))
                self.assertLessEqual(after, before * 1.1)
            r = call(conn, ROOT, MGR, "Invoke", GLib.Variant("(sss)", ("hello-world", "echo", '{"ok":1}')), "(s)")
            self.assertEqual(json.loads(r.unpack()[0]), {"ok": 1})
        finally:
            out = d.output()
            self.assertEqual(d.stop(), 0, out)


def so_digest(name):
    import hashlib
    with open(os.path.join(os.environ["DC_EXAMPLES_DIR"], name, name + ".so"), "rb") as f:
        return "sha256:" + hashlib.sha256(f.read()).hexdigest()


@unittest.skipUnless(MODE == "real", "real polkitd only")
class ReloadConfiguration(unittest.TestCase):
    """ReloadConfiguration / SIGHUP / hostctl reload-config: pins and settings read again; loaded
    plugins the new policy refuses are unloaded and say why; newly allowed ones load."""

    def test_reload(self):
        d = Daemon()
        sigfile = os.path.join(d.tmp, "none.json")
        try:
            conn = connect()
            changed = []
            sub = conn.signal_subscribe(NAME, "org.freedesktop.DBus.Properties", "PropertiesChanged", ROOT, None,
                                        Gio.DBusSignalFlags.NONE,
                                        lambda c, s, p, i, n, params: changed.append(params.unpack()))

            def prop(path, iface, name):
                return call(conn, path, "org.freedesktop.DBus.Properties", "Get", GLib.Variant("(ss)", (iface, name)),
                            "(v)").unpack()[0]

            def reload():
                return call(conn, ROOT, MGR, "ReloadConfiguration", GLib.Variant("(t)", (0,)), "(asas)").unpack()

            self.assertEqual(prop(ROOT, MGR, "SignatureMode"), "permissive")
            # pin hello-world only: counter and sensor are refused and unloaded
            with open(sigfile, "w") as f:
                json.dump({"hello-world": so_digest("hello-world")}, f)
            unloaded, restart = reload()
            self.assertEqual(sorted(unloaded), ["counter", "sensor"], d.output())
            self.assertEqual(restart, [])
            self.assertEqual(prop(ROOT, MGR, "SignatureMode"), "allowlist")
            wait_for(lambda: any(c[0] == MGR and c[1].get("SignatureMode") == "allowlist" for c in changed), 5,
                     "PropertiesChanged(SignatureMode)")
            wait_for(lambda: prop(ROOT + "/plugins/counter", PLUGIN, "State") == 6, 5, "counter rejected")
            self.assertEqual(prop(ROOT + "/plugins/counter", PLUGIN, "LastError"), "not-in-allowlist")
            self.assertEqual(prop(ROOT + "/plugins/hello_2dworld", PLUGIN, "State"), 3)
            with self.assertRaises(GLib.Error) as e:
                call(conn, ROOT, MGR, "Invoke", GLib.Variant("(sss)", ("counter", "get", "{}")))
            self.assertIn(dbus_error(e.exception), (ERR + "NotLoaded", ERR + "NoSuchFunction"))
            # pin counter too: it loads again (AutoLoad=); a restart-only setting is reported
            with open(sigfile, "w") as f:
                json.dump({"hello-world": so_digest("hello-world"), "counter": so_digest("counter")}, f)
            with open(d.conf, "a") as f:
                f.write("CallTimeoutSec=20\nWorkers=2\n")
            unloaded, restart = reload()
            self.assertEqual((unloaded, restart), ([], ["Workers"]))
            # started by the reload; it runs once its start (init) finished
            wait_for(lambda: prop(ROOT + "/plugins/counter", PLUGIN, "State") == 3, 10, "counter loaded again")
            # an invalid configuration changes nothing
            with open(d.conf, "a") as f:
                f.write("NoSuchSetting=1\n")
            with self.assertRaises(GLib.Error) as e:
                reload()
            self.assertEqual(dbus_error(e.exception), ERR + "InvalidConfiguration")
            self.assertEqual(prop(ROOT, MGR, "SignatureMode"), "allowlist")
            with open(d.conf) as f:
                text = f.read().replace("NoSuchSetting=1\n", "")
            with open(d.conf, "w") as f:
                f.write(text)
            # nobody may not reload
            r = gdbus("--object-path", ROOT, "--method", MGR + ".ReloadConfiguration", "0", as_nobody=True)
            self.assertNotEqual(r.returncode, 0)
            self.assertTrue(any(n in r.stderr for n in DENIED), r.stderr)
            # SIGHUP: back to permissive, sensor loads again
            os.unlink(sigfile)
            changed.clear()
            d.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: prop(ROOT, MGR, "SignatureMode") == "permissive", 10, "SIGHUP reload")
            wait_for(lambda: prop(ROOT + "/plugins/sensor", PLUGIN, "State") == 3, 10, "sensor loaded again")
            # and hostctl, as root
            with open(sigfile, "w") as f:
                f.write("{}")
            r = hostctl("reload-config")
            self.assertEqual(r.returncode, 0, r.stderr)
            for pid in ("counter", "hello-world", "sensor"):
                self.assertIn("Unloaded %s:" % pid, r.stdout)
            conn.signal_unsubscribe(sub)
            out = d.output()
            self.assertIn("Configuration reloaded", out)
            self.assertIn("the reloaded trust policy refuses it", out)
        finally:
            out = d.output()
            self.assertEqual(d.stop(), 0, out)


@unittest.skipUnless(MODE == "none", "no polkitd")
class NoPolkit(unittest.TestCase):
    def test_denied_without_polkit_root_still_works(self):
        d = Daemon()
        try:
            for label, args in MUTATIONS:
                r = busctl("call", NAME, *args, as_nobody=True)
                self.assertNotEqual(r.returncode, 0, label)
                self.assertIn("Access denied", r.stderr, label)
            r = busctl("call", NAME, ROOT, MGR, "Invoke", "sss", "hello-world", "echo", '{"a":1}')
            self.assertEqual(r.returncode, 0, r.stderr)
        finally:
            self.assertEqual(d.stop(), 0)


@unittest.skipUnless(MODE == "mock", "dbusmock polkitd")
class HangingPolkit(unittest.TestCase):
    def mock(self, method, *args):
        r = subprocess.run(["busctl", "--system", "call", "org.freedesktop.PolicyKit1", "/org/freedesktop/PolicyKit1/Authority",
                            "org.freedesktop.DBus.Mock", method] + list(args), capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_hang_does_not_stall_and_cap_applies(self):
        d = Daemon("MaxPendingAuthorizations=4\n")
        try:
            self.mock("SimulateHang", "b", "true")
            procs = [subprocess.Popen(NOBODY + ["busctl", "--system", "--timeout=20", "call", NAME, ROOT, MGR, "Rescan", "t", "0"],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
            self.wait_hanging(2)
            # others are served meanwhile
            t0 = time.monotonic()
            r = busctl("call", NAME, ROOT, MGR, "Describe")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertLess(time.monotonic() - t0, 2.0)
            # past the caller's share (half the slots): LimitsExceeded at once
            r = busctl("call", NAME, ROOT, MGR, "Rescan", "t", "0", as_nobody=True)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("Too many authorization requests pending", r.stderr)
            # polkit never answers: after PolkitTimeoutSec the callers are denied, not left hanging
            for p in procs:
                out, err = p.communicate(timeout=30)
                self.assertNotEqual(p.returncode, 0)
                self.assertIn("Access denied", err)
            self.mock("SimulateHang", "b", "false")
        finally:
            self.assertEqual(d.stop(), 0)

    def test_shutdown_answers_calls_waiting_for_polkit(self):
        d = Daemon()
        try:
            self.mock("ReleaseHangingCalls")  # earlier tests' calls
            self.mock("SimulateHang", "b", "true")
            p = subprocess.Popen(NOBODY + ["busctl", "--system", "--timeout=20", "call", NAME, ROOT, MGR, "Rescan", "t", "0"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            self.wait_hanging(1)
            d.proc.terminate()
            self.assertEqual(d.proc.wait(timeout=10), 0)
            out, err = p.communicate(timeout=10)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("shutting down", err)
        finally:
            self.mock("SimulateHang", "b", "false")
            d.stop()

    def hanging(self):
        return "true" in subprocess.run(["busctl", "--system", "call", "org.freedesktop.PolicyKit1",
                                         "/org/freedesktop/PolicyKit1/Authority", "org.freedesktop.DBus.Mock",
                                         "HaveHangingCalls"], capture_output=True, text=True).stdout

    def wait_hanging(self, _n):
        wait_for(self.hanging, 10, "hanging polkit calls")

    def hostile(self, user, calls, fds, params_bytes, settle):
        """Start tests/hostile-bus-client.py as user; returns (process, its summary)."""
        ids = "65534" if user == "nobody" else user  # Debian has no group "nobody"
        p = subprocess.Popen(["setpriv", "--reuid=" + ids, "--regid=" + ids, "--clear-groups", "/usr/bin/python3",
                              os.path.join(os.path.dirname(os.path.abspath(__file__)), "hostile-bus-client.py"),
                              str(calls), str(fds), str(params_bytes), str(settle), "20"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        return p, json.loads(p.stdout.readline())

    def test_fd_flood_and_polkit_starvation(self):
        """Issue 10 High 2 and Medium 3: a local user holds calls (with 16 unused fds each) at a polkit
        that never answers.  At RLIMIT_NOFILE 1024 the daemon stays on the bus, the attacker gets
        LimitsExceeded past its share, other users and root keep being served."""
        d = Daemon("MaxPendingAuthorizations=64\nMaxPendingAuthorizationBytes=2M\nPolkitTimeoutSec=30\n",
                   wrapper=["prlimit", "--nofile=1024:1024", "--"])
        attackers = []
        try:
            self.mock("SimulateHang", "b", "true")
            p, res = self.hostile("nobody", 100, 16, 0, 84)
            attackers.append(p)
            self.assertEqual(res["errors"], {"org.freedesktop.DBus.Error.LimitsExceeded": 84}, res)
            self.assertEqual(res["outstanding"], 16)
            # a second connection of the same uid gets nothing more
            p, res = self.hostile("nobody", 5, 16, 0, 5)
            attackers.append(p)
            self.assertEqual(res["errors"], {"org.freedesktop.DBus.Error.LimitsExceeded": 5}, res)
            # the daemon is alive and on the bus; root is served
            self.assertIsNone(d.proc.poll(), d.output())
            r = busctl("call", NAME, ROOT, MGR, "Invoke", "sss", "hello-world", "echo", '{"x":1}')
            self.assertEqual(r.returncode, 0, r.stderr + d.output())
            self.assertLess(len(os.listdir("/proc/%d/fd" % d.proc.pid)), 1024 - 256)
            # another user still gets a polkit slot: its call waits (client timeout), it is not refused
            r = subprocess.run(["setpriv", "--reuid=dctest", "--regid=dctest", "--clear-groups", "busctl", "--system",
                                "--timeout=1", "call", NAME, ROOT, MGR, "Invoke", "sss", "hello-world", "echo", "{}"],
                               capture_output=True, text=True, timeout=30)
            self.assertNotEqual(r.returncode, 0)
            self.assertNotIn("Too many", r.stderr)
            self.assertIn("timed out", r.stderr)
            # bytes held for one uid are capped: 900 KiB each, 2 MiB per uid
            p, res = self.hostile("dc-plugin-host", 4, 0, 900 * 1024, 2)
            attackers.append(p)
            self.assertEqual(res["outstanding"], 2, res)
            self.assertEqual(res["errors"], {"org.freedesktop.DBus.Error.LimitsExceeded": 2}, res)
            # oversize params are refused before anything waits for polkit
            p, res = self.hostile("dctest", 1, 0, 1024 * 1024 + 100, 1)
            attackers.append(p)
            self.assertEqual(res["errors"], {ERR + "InvalidParams": 1}, res)
            self.assertIsNone(d.proc.poll(), d.output())
        finally:
            for p in attackers:
                p.stdin.close()
                p.wait(timeout=30)
            self.mock("SimulateHang", "b", "false")
            self.mock("ReleaseHangingCalls")
            out = d.output()
            self.assertEqual(d.stop(), 0, out)


@unittest.skipUnless(MODE == "none", "one polkit mode is enough")
class BusLoss(unittest.TestCase):
    """Issue 10 High 2: without its bus the daemon exits with a failure (so that Restart= applies)."""

    def test_exit_when_the_bus_goes_away(self):
        fixture = os.environ["FIXTURE_DIR"]
        conf = os.path.join(fixture, "second-bus.conf")
        sock = os.path.join(fixture, "second_bus_socket")
        with open(os.path.join(fixture, "system.conf")) as f:
            text = f.read()
        with open(conf, "w") as f:
            f.write(text.replace(os.path.join(fixture, "system_bus_socket"), sock))
        bus = subprocess.Popen(["dbus-daemon", "--config-file=" + conf, "--nofork"])
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS="unix:path=" + sock)
        wait_for(lambda: os.path.exists(sock), 10, "the second bus")
        d = Daemon()  # on the fixture's bus: the service user and policy exist there
        d.proc.terminate()
        d.proc.wait(timeout=10)
        d.proc = subprocess.Popen(d.wrapper + ["setpriv", "--reuid=dc-plugin-host", "--regid=dc-plugin-host",
                                               "--clear-groups", os.environ["DC_HOSTD"], "--config", d.conf,
                                               "--log-target=console"], stdout=d.log, stderr=subprocess.STDOUT, env=env)
        try:
            r = subprocess.run(["gdbus", "wait", "--system", "--timeout", "10", NAME], env=env)
            self.assertEqual(r.returncode, 0, d.output())
            bus.kill()
            bus.wait()
            rc = d.proc.wait(timeout=10)
            self.assertNotEqual(rc, 0, d.output())
            self.assertIn("Lost the connection to the system bus", d.output())
        finally:
            if bus.poll() is None:
                bus.kill()
            d.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
