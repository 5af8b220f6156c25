#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
Containment end to end (issue: containment): the real dc-plugin-hostd as its
service user on the private bus, a deliberately hostile plugin (tests/plugins/
hostile.c), and the promise that whatever the plugin does the daemon stays
up, other plugins keep answering, the caller gets a named error and the
sandbox's refusals are logged.  Run by tests/run-bus-tests.sh.
"""
import json
import os
import signal
import subprocess
import sys
import time
import unittest

from gi.repository import GLib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dctest import ERR, MGR, PLUGIN, ROOT, Daemon, call, connect, dbus_error, wait_for  # noqa: E402

HOSTILE = ROOT + "/plugins/hostile"


def invoke(conn, plugin, fn, params="{}", timeout=20000):
    return json.loads(call(conn, ROOT, MGR, "Invoke", GLib.Variant("(sss)", (plugin, fn, params)), "(s)",
                           timeout=timeout).unpack()[0])


def invoke_error(conn, plugin, fn, params="{}"):
    try:
        invoke(conn, plugin, fn, params)
    except GLib.Error as e:
        return dbus_error(e), e.message
    return None, None


def prop(conn, path, name):
    return call(conn, path, "org.freedesktop.DBus.Properties", "Get", GLib.Variant("(ss)", (PLUGIN, name)),
                "(v)").unpack()[0]


def answers(conn, plugin="hostile", fn="ok"):
    try:
        invoke(conn, plugin, fn)
        return True
    except GLib.Error:
        return False


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(next(line for line in f if line.startswith("VmRSS:")).split()[1])


def under_asan(pid):
    """AddressSanitizer's quarantine keeps freed memory on purpose: RSS says nothing there."""
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


def n_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


class HostilePlugin(unittest.TestCase):
    """Each kind of misbehaviour, isolated: named error, the daemon and hello-world unharmed."""

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon("DefaultIsolation=process\nCallTimeoutSec=5\nCrashRestartLimit=64\nPluginEventsPerSecond=100\n",
                       test_plugins=("hostile",), examples=("hello-world", "sensor"))
        cls.conn = connect()

    @classmethod
    def tearDownClass(cls):
        out = cls.d.output()
        rc = cls.d.stop()
        assert rc == 0, "daemon exit status %r\n%s" % (rc, out)

    def setUp(self):
        wait_for(lambda: answers(self.conn), 15, "the hostile plugin's worker to answer")

    def tearDown(self):
        self.assertIsNone(self.d.proc.poll(), "the daemon died:\n" + self.d.output())
        self.assertEqual(invoke(self.conn, "hello-world", "hello_world", '{"name":"x"}'), {"message": "Hello, x!"})

    def test_isolated(self):
        self.assertEqual(prop(self.conn, HOSTILE, "Isolation"), "process")
        desc = json.loads(call(self.conn, ROOT, MGR, "Describe", None, "(s)").unpack()[0])
        hostile = [p for p in desc["plugins"] if p["id"] == "hostile"][0]
        self.assertEqual(hostile["isolation"], "process")
        worker = hostile["worker"]
        self.assertTrue(worker["seccomp"] and worker["no_new_privs"] and worker["rlimits"], worker)
        self.assertGreaterEqual(worker["landlock_abi"], 1, worker)  # kernel 6.x here
        self.assertIn("sandbox", desc)

    def test_crashes(self):
        for fn in ("segv", "abort", "exit", "scribble"):
            with self.subTest(fn=fn):
                wait_for(lambda: answers(self.conn), 15, "a worker again")
                name, msg = invoke_error(self.conn, "hostile", fn)
                self.assertEqual(name, ERR + "PluginCrashed", msg)
                self.assertIn("worker process", msg)
        # (under AddressSanitizer the plugin's own build reports the fault and exits instead)
        self.assertRegex(self.d.output(), r"Plugin hostile: its worker process (killed by SIGSEGV|exited with status 1)")

    def restarts(self):
        desc = json.loads(call(self.conn, ROOT, MGR, "Describe", None, "(s)").unpack()[0])
        return [p for p in desc["plugins"] if p["id"] == "hostile"][0].get("worker", {}).get("restarts", -1)

    def test_hangs(self):
        for fn in ("spin", "sleep"):
            with self.subTest(fn=fn):
                wait_for(lambda: answers(self.conn), 15, "a worker again")
                before = self.restarts()
                t0 = time.monotonic()
                name, msg = invoke_error(self.conn, "hostile", fn)
                self.assertEqual(name, ERR + "Timeout", msg)
                self.assertLess(time.monotonic() - t0, 9)
                # the stuck worker is killed a moment later and started again
                wait_for(lambda: self.restarts() > before, 15, "the hung worker to be replaced")
        wait_for(lambda: "a call did not return after its timeout" in self.d.output(), 10, "the kill to be logged")

    def test_timeout_honoured_by_cancelled_keeps_the_worker(self):
        # sensor.slow checks cancelled(): it returns within the grace, so its
        # worker is not killed and nothing counts towards quarantine
        def sensor():
            desc = json.loads(call(self.conn, ROOT, MGR, "Describe", None, "(s)").unpack()[0])
            return [p for p in desc["plugins"] if p["id"] == "sensor"][0]
        self.assertEqual(sensor()["isolation"], "process")
        pid = sensor()["worker"]["pid"]
        name, msg = invoke_error(self.conn, "sensor", "slow", '{"ms":60000}')
        self.assertEqual(name, ERR + "Timeout", msg)
        # past the one-second grace: a hello-world call runs through the loop meanwhile
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            invoke(self.conn, "hello-world", "hello_world", "{}")
        self.assertEqual(sensor()["worker"]["pid"], pid)
        self.assertEqual(sensor()["worker"]["restarts"], 0)
        self.assertNotIn("Plugin sensor: its worker process", self.d.output())
        self.assertEqual(invoke(self.conn, "sensor", "slow", '{"ms":1}'), {"slept_ms": 1})

    def test_sandbox_refusals(self):
        self.assertEqual(invoke(self.conn, "hostile", "fork"), {"fork": -1})      # -EPERM
        self.assertEqual(invoke(self.conn, "hostile", "exec"), {"execve": -1})
        self.assertEqual(invoke(self.conn, "hostile", "connect"), {"socket": -1})
        self.assertIn(invoke(self.conn, "hostile", "shadow")["open"], (-13, -1))   # EACCES (Landlock / DAC)
        self.assertEqual(invoke(self.conn, "hostile", "write"), {"inside": 0, "outside": -13})
        data = os.path.join(self.d.state, "plugin-data", "hostile", "inside.txt")
        self.assertTrue(os.path.exists(data), "the plugin's own state directory is writable")
        wait_for(lambda: all("the sandbox refused the system call %s()" % s in self.d.output()
                             for s in ("clone", "execve", "socket")), 10, "the refusals to be logged")

    def test_resources(self):
        hog = invoke_error(self.conn, "hostile", "hog")
        # answered below the limit, or the worker died of it; under AddressSanitizer
        # (no RLIMIT_AS there) it may run into the call timeout instead
        self.assertIn(hog[0], (None, ERR + "PluginCrashed", ERR + "Timeout"), hog[1])
        wait_for(lambda: answers(self.conn), 15, "a worker again")
        threads = invoke(self.conn, "hostile", "threads")["threads"]
        self.assertLess(threads, 4096)  # RLIMIT_NPROC: the user's tasks + WorkerMaxThreads=

    def test_output_floods(self):
        before = rss_kib(self.d.proc.pid)
        r = invoke(self.conn, "hostile", "events")
        self.assertEqual(r["refused"], 0)  # dropped ones are not the plugin's error
        invoke(self.conn, "hostile", "logs")
        wait_for(lambda: "Plugin hostile: dropped" in self.d.output(), 15, "the drop summary")
        if not under_asan(self.d.proc.pid):
            self.assertLess(rss_kib(self.d.proc.pid), before + 64 * 1024)


class Quarantine(unittest.TestCase):
    def test_crash_loop_quarantine_and_admin_load(self):
        d = Daemon("DefaultIsolation=process\nCrashRestartLimit=3\nCrashRestartIntervalSec=60\n",
                   test_plugins=("hostile",), examples=("hello-world",))
        try:
            conn = connect()
            for _ in range(3):
                wait_for(lambda: answers(conn) or prop(conn, HOSTILE, "State") == 7, 15, "a worker")
                if prop(conn, HOSTILE, "State") == 7:
                    break
                self.assertEqual(invoke_error(conn, "hostile", "segv")[0], ERR + "PluginCrashed")
            wait_for(lambda: prop(conn, HOSTILE, "State") == 7, 10, "quarantine")
            self.assertEqual(prop(conn, HOSTILE, "LastError"), "quarantined")
            self.assertIn("Plugin hostile quarantined: crashed 3 times", d.output())
            self.assertEqual(invoke_error(conn, "hostile", "ok")[0], ERR + "NotLoaded")
            self.assertTrue(os.path.exists(os.path.join(d.state, "quarantine.d", "hostile")))
            # it survives a restart
            d.restart()
            conn = connect()
            self.assertEqual(prop(conn, HOSTILE, "State"), 7)
            # an administrator's explicit load lifts it
            call(conn, ROOT, MGR, "LoadPlugin", GLib.Variant("(st)", ("hostile", 0)))
            self.assertEqual(prop(conn, HOSTILE, "State"), 3)
            self.assertFalse(os.path.exists(os.path.join(d.state, "quarantine.d", "hostile")))
            self.assertEqual(invoke(conn, "hostile", "ok"), {"ok": True})
        finally:
            out = d.output()
            self.assertEqual(d.stop(), 0, out)


class InitHang(unittest.TestCase):
    def check(self, isolation):
        t0 = time.monotonic()
        d = Daemon("InitTimeoutSec=1\nPluginIsolation=hostile-init-hang:%s\nStopTimeoutSec=1\n" % isolation,
                   test_plugins=("hostile-init-hang",), examples=("hello-world",))
        try:
            self.assertLess(time.monotonic() - t0, 8)
            conn = connect()
            path = ROOT + "/plugins/hostile_2dinit_2dhang"
            self.assertEqual(prop(conn, path, "State"), 4)
            self.assertEqual(prop(conn, path, "LastError"), "init-timeout")
            self.assertEqual(invoke(conn, "hello-world", "echo", '{"a":1}'), {"a": 1})
            t0 = time.monotonic()
            d.proc.terminate()
            self.assertEqual(d.proc.wait(timeout=10), 0)
            self.assertLess(time.monotonic() - t0, 6)
        finally:
            out = d.output()
            d.stop()
        self.assertIn("did not return within 1 s" if isolation == "in-process" else "init() did not return in time", out)

    def test_isolated(self):
        self.check("process")

    def test_in_process(self):
        self.check("in-process")


class InProcess(unittest.TestCase):
    def test_hung_plugin_does_not_starve_others_and_stop_is_bounded(self):
        d = Daemon("PluginIsolation=hostile:in-process hello-world:in-process\nWorkers=4\nCallTimeoutSec=1\n"
                   "MaxCallsPerPlugin=8\nStopTimeoutSec=1\n",
                   test_plugins=("hostile",), examples=("hello-world", "sensor"))
        try:
            conn = connect()
            self.assertEqual(prop(conn, HOSTILE, "Isolation"), "in-process")
            results = []
            for _ in range(12):
                conn.call("org.deviceconnect.PluginHost", ROOT, MGR, "Invoke",
                          GLib.Variant("(sss)", ("hostile", "sleep", "{}")), None, 0, 10000, None,
                          lambda c, res: results.append(res))
            # the others are served meanwhile (sensor's blocking functions use the pool)
            t0 = time.monotonic()
            self.assertEqual(invoke(conn, "sensor", "stats", "{}")["reads"], 0)
            self.assertLess(time.monotonic() - t0, 1.0)
            wait_for(lambda: len(results) == 12, 10, "every hung call answered")
            names = []
            for res in results:
                try:
                    conn.call_finish(res)
                    names.append("ok")
                except GLib.Error as e:
                    names.append(dbus_error(e))
            self.assertIn(ERR + "Busy", names)       # past MaxCallsPerPlugin=
            self.assertIn(ERR + "Timeout", names)
            self.assertNotIn("ok", names)
            # after the timeouts: still served
            for _ in range(5):
                self.assertEqual(invoke(conn, "sensor", "stats", "{}")["reads"], 0)
            self.assertIn("Plugin hostile: call of sleep timed out", d.output())
            # the stop does not wait for them forever
            t0 = time.monotonic()
            d.proc.terminate()
            self.assertEqual(d.proc.wait(timeout=15), 0)
            self.assertLess(time.monotonic() - t0, 8)
            self.assertIn("Plugins did not stop in time (hostile)", d.output())
        finally:
            d.stop()

    def test_crash_marker_isolates_after_restart(self):
        d = Daemon("DefaultIsolation=in-process\n", test_plugins=("hostile",), examples=("hello-world",))
        try:
            conn = connect()
            self.assertEqual(prop(conn, HOSTILE, "Isolation"), "in-process")
            with self.assertRaises(GLib.Error):
                invoke(conn, "hostile", "segv")
            self.assertEqual(d.proc.wait(timeout=10), -signal.SIGSEGV)
            d.start()  # what systemd's Restart= does
            conn = connect()
            self.assertEqual(prop(conn, HOSTILE, "Isolation"), "process")
            self.assertIn("ended inside plugin hostile's code during its previous run", d.output())
            # and it no longer takes the daemon down
            self.assertEqual(invoke_error(conn, "hostile", "segv")[0], ERR + "PluginCrashed")
            self.assertEqual(invoke(conn, "hello-world", "echo", "{}"), {})
            # not for one run only: after a clean restart it still runs in a worker
            d.restart()
            conn = connect()
            self.assertEqual(prop(conn, HOSTILE, "Isolation"), "process")
            # an administrator's explicit load puts it back where the configuration says
            call(conn, ROOT, MGR, "UnloadPlugin", GLib.Variant("(st)", ("hostile", 0)))
            call(conn, ROOT, MGR, "LoadPlugin", GLib.Variant("(st)", ("hostile", 0)))
            self.assertEqual(prop(conn, HOSTILE, "Isolation"), "in-process")
        finally:
            d.stop()

    def test_crash_marker_with_in_process_override_quarantines(self):
        d = Daemon("PluginIsolation=hostile:in-process\n", test_plugins=("hostile",), examples=("hello-world",))
        try:
            conn = connect()
            with self.assertRaises(GLib.Error):
                invoke(conn, "hostile", "abort")
            self.assertEqual(d.proc.wait(timeout=10), -signal.SIGABRT)
            d.start()
            conn = connect()
            self.assertEqual(prop(conn, HOSTILE, "State"), 7)
            self.assertIn("PluginIsolation= keeps it in process", prop(conn, HOSTILE, "LastError") + d.output())
        finally:
            d.stop()


class LongLived(unittest.TestCase):
    def test_load_unload_cycles_isolated(self):
        d = Daemon("DefaultIsolation=process\nOperationsPerMinute=1000000\n", examples=("hello-world",))
        try:
            conn = connect()
            pid = d.proc.pid

            def cycle():
                call(conn, ROOT, MGR, "UnloadPlugin", GLib.Variant("(st)", ("hello-world", 0)))
                call(conn, ROOT, MGR, "LoadPlugin", GLib.Variant("(st)", ("hello-world", 0)))

            for _ in range(100):
                cycle()
            fds, rss = n_fds(pid), rss_kib(pid)
            for _ in range(1900):
                cycle()
            self.assertEqual(invoke(conn, "hello-world", "echo", '{"n":1}'), {"n": 1})
            print("# 2000 cycles: fds %d -> %d, RSS %d -> %d KiB" % (fds, n_fds(pid), rss, rss_kib(pid)))
            self.assertLessEqual(n_fds(pid), fds + 2)
            if not under_asan(pid):
                self.assertLess(rss_kib(pid), rss * 1.25 + 1024)
        finally:
            out = d.output()
            self.assertEqual(d.stop(), 0, out)

    def test_in_process_loads_are_bounded(self):
        d = Daemon("DefaultIsolation=in-process\nMaxInProcessLoads=5\nOperationsPerMinute=1000\n",
                   examples=("hello-world",))
        try:
            conn = connect()
            refused = None
            for _ in range(10):
                call(conn, ROOT, MGR, "UnloadPlugin", GLib.Variant("(st)", ("hello-world", 0)))
                try:
                    call(conn, ROOT, MGR, "LoadPlugin", GLib.Variant("(st)", ("hello-world", 0)))
                except GLib.Error as e:
                    refused = e
                    break
            self.assertIsNotNone(refused)
            self.assertIn("MaxInProcessLoads=5", refused.message)
            self.assertIn("run the plugin in a worker process", refused.message)
        finally:
            d.stop()


class StalledLog(unittest.TestCase):
    def test_log_flood_with_a_stderr_nobody_reads(self):
        d = Daemon("DefaultIsolation=process\nPluginLogLinesPerSecond=1000000\n", test_plugins=("hostile",),
                   examples=("hello-world",), stalled_stderr=True)
        try:
            conn = connect()
            results = []
            conn.call("org.deviceconnect.PluginHost", ROOT, MGR, "Invoke", GLib.Variant("(sss)", ("hostile", "logs", "{}")),
                      None, 0, 60000, None, lambda c, res: results.append(res))
            # the pipe is full long before the flood ends: the loop still answers
            for _ in range(20):
                t0 = time.monotonic()
                call(conn, ROOT, MGR, "Describe", None, "(s)")
                self.assertLess(time.monotonic() - t0, 1.0)
            wait_for(lambda: results, 60, "the flood to end")
            self.assertEqual(invoke(conn, "hello-world", "echo", "{}"), {})
        finally:
            d.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
