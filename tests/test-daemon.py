#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""dc-plugin-hostd as a process: CLI, --check, readiness and logging target."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HOSTD = os.environ["DC_HOSTD"]
EXAMPLES = os.environ["DC_EXAMPLES_DIR"]
TEST_PLUGINS = os.environ["DC_TEST_PLUGINS_DIR"]


def safe_tmpdir():
    """A root-owned 0755 directory whose ancestors pass the loader's checks."""
    base = os.environ.get("DC_TEST_TMPDIR", "/run/dc-plugin-host-tests")
    os.makedirs(base, mode=0o755, exist_ok=True)
    d = tempfile.mkdtemp(dir=base)
    os.chmod(d, 0o755)
    return d


def install(root, plugin_id, so, manifest=None):
    d = os.path.join(root, plugin_id)
    os.makedirs(d, mode=0o755)
    os.chmod(d, 0o755)
    shutil.copyfile(so, os.path.join(d, plugin_id + ".so"))
    os.chmod(os.path.join(d, plugin_id + ".so"), 0o644)
    if manifest is None:
        manifest = json.dumps({"id": plugin_id, "version": "1.0.0", "runtime": "c", "api_level": 1,
                               "entry_point": plugin_id + ".so"})
    with open(os.path.join(d, "manifest.json"), "w") as f:
        f.write(manifest)
    os.chmod(os.path.join(d, "manifest.json"), 0o644)


def install_examples(root):
    for name in ("hello-world", "counter", "sensor"):
        src = os.path.join(EXAMPLES, name)
        with open(os.path.join(src, "manifest.json")) as f:
            install(root, name, os.path.join(src, name + ".so"), f.read())


@unittest.skipUnless(os.geteuid() == 0, "needs root")
class Daemon(unittest.TestCase):
    def setUp(self):
        self.tmp = safe_tmpdir()
        self.root = os.path.join(self.tmp, "plugins")
        self.state = os.path.join(self.tmp, "state")
        os.mkdir(self.root, 0o755)
        os.mkdir(self.state, 0o700)
        self.env = dict(os.environ)
        self.env.pop("DC_PLUGIN_SIGNATURES", None)
        self.env.pop("JOURNAL_STREAM", None)
        self.env.pop("NOTIFY_SOCKET", None)
        self.conf = os.path.join(self.tmp, "empty.conf")
        with open(self.conf, "w") as f:
            f.write("# test\nSignaturesFile=%s/none.json\nTrustedKeysDirectory=%s/none.d\n" % (self.tmp, self.tmp))

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def hostd(self, *args, **kw):
        cmd = [HOSTD, "--no-bus", "--config", self.conf, "--plugin-dir", self.root, "--state-dir", self.state] + list(args)
        return subprocess.run(cmd, env=kw.get("env", self.env), capture_output=True, text=True, timeout=30)

    def test_help_and_version(self):
        r = subprocess.run([HOSTD, "--help"], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0)
        self.assertIn("--check", r.stdout)
        self.assertIn("--plugin-dir=DIR", r.stdout)
        r = subprocess.run([HOSTD, "--version"], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^dc-plugin-hostd \d+\.\d+\.\d+ \(plugin API level 1\)")

    def test_bad_arguments(self):
        for args, needle in ((["--bogus"], "unrecognized option"),
                             (["stray"], "takes no positional arguments"),
                             (["--json"], "--json needs --check"),
                             (["--log-level", "loud"], "Unknown log level"),
                             (["--set", "Nope=1"], "Unknown setting"),
                             (["--set", "Workers=0"], "Invalid value")):
            r = self.hostd(*args)
            self.assertNotEqual(r.returncode, 0, args)
            self.assertIn(needle, r.stderr, args)

    def test_bad_config_file(self):
        with open(self.conf, "w") as f:
            f.write("[Host]\nWorkers=lots\n")
        r = self.hostd("--check")
        self.assertEqual(r.returncode, 1)
        self.assertIn("empty.conf:2: invalid value for Workers", r.stderr)
        r = subprocess.run([HOSTD, "--config", "/nonexistent.conf", "--check"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("does not exist", r.stderr)

    def test_check_ok_and_json(self):
        install_examples(self.root)
        r = self.hostd("--check")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertTrue(lines[0].startswith("ID"))
        ids = [l.split()[0] for l in lines[1:4]]
        self.assertEqual(ids, ["counter", "hello-world", "sensor"])
        for l in lines[1:4]:
            self.assertEqual(l.split()[1], "ok")
            self.assertRegex(l.split()[3], r"^sha256:[0-9a-f]{64}$")
        r = self.hostd("--check", "--json")
        self.assertEqual(r.returncode, 0)
        doc = json.loads(r.stdout)
        self.assertTrue(doc["ok"])
        self.assertEqual([p["state"] for p in doc["plugins"]], ["available"] * 3)
        self.assertEqual(doc["policy"]["mode"], "permissive")

    def test_check_rejects(self):
        install(self.root, "execstack", os.path.join(TEST_PLUGINS, "execstack.so"))
        install_examples(self.root)
        marker = os.path.join(self.tmp, "marker")
        env = dict(self.env, DC_TEST_MARKER=marker)
        r = self.hostd("--check", env=env)
        self.assertEqual(r.returncode, 1)
        row = [l for l in r.stdout.splitlines() if l.startswith("execstack")][0].split()
        self.assertEqual(row[1:3], ["rejected", "elf-execstack"])
        self.assertFalse(os.path.exists(marker), "--check must never run plugin code")
        # strict policy from the environment, --json
        env["DC_PLUGIN_SIGNATURES"] = "{}"
        r = self.hostd("--check", "--json", env=env)
        self.assertEqual(r.returncode, 1)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["policy"]["mode"], "strict")
        self.assertEqual({p["reason"] for p in doc["plugins"]}, {"not-in-allowlist"})
        # a malformed policy fails closed
        env["DC_PLUGIN_SIGNATURES"] = "null"
        r = self.hostd("--check", env=env)
        self.assertEqual(r.returncode, 1)
        self.assertIn("invalid DC_PLUGIN_SIGNATURES: top-level value is null, expected an object", r.stderr)

    def run_daemon(self, env, extra=()):
        return subprocess.Popen([HOSTD, "--no-bus", "--config", self.conf, "--plugin-dir", self.root, "--state-dir", self.state,
                                 *extra], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def test_ready_notification(self):
        install_examples(self.root)
        sock_path = os.path.join(self.tmp, "notify")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(sock_path)
        s.settimeout(10)
        env = dict(self.env, NOTIFY_SOCKET=sock_path)
        p = self.run_daemon(env)
        try:
            msgs = []
            while not any("READY=1" in m for m in msgs):
                msgs.append(s.recv(4096).decode())
            ready = [m for m in msgs if "READY=1" in m][0]
            self.assertIn("STATUS=Processing requests (3 plugin(s) loaded)", ready)
            p.send_signal(signal.SIGTERM)
            while not any("STOPPING=1" in m for m in msgs):
                msgs.append(s.recv(4096).decode())
            out, err = p.communicate(timeout=10)
            self.assertEqual(p.returncode, 0, err)
            self.assertIn("Plugin system initialized", err)
            # permissive policy, DefaultIsolation=auto: the examples run in worker processes
            self.assertIn("Loaded plugin counter 1.0.0 (process)", err)
            self.assertIn("Unloaded plugin: counter (its worker process is gone)", err)
        finally:
            if p.poll() is None:
                p.kill()
            s.close()

    def test_journal_stream_detection(self):
        # When stderr is "the journal stream", nothing is written to it as text.
        r, w = os.pipe()
        st = os.fstat(w)
        env = dict(self.env, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
        p = subprocess.Popen([HOSTD, "--no-bus", "--config", self.conf, "--plugin-dir", self.root, "--state-dir", self.state,
                              "--check"], env=env, stdout=subprocess.DEVNULL, stderr=w)
        os.close(w)
        p.wait(timeout=30)
        data = os.read(r, 65536)
        os.close(r)
        self.assertEqual(data, b"")
        # Without it: readable lines on stderr.
        res = self.hostd("--check")
        self.assertIn("Plugin signature verification: PERMISSIVE mode (DC_PLUGIN_SIGNATURES not set)", res.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
