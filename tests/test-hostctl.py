#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
dc-plugin-hostctl and dc-plugin-hostd --check with real parts: the private
system-like bus with the project's policy, the real polkitd and pkttyagent,
the daemon as its service user, a pty where a terminal matters (pager, polkit
agent), an HTTPS server for URL installs, and a stand-in `ssh` that bridges
-H/--host to the private bus with systemd-stdio-bridge.  Every wait has a
deadline.  Run by tests/run-bus-tests.sh SOURCE real test-hostctl.py.
"""
import errno
import fcntl
import hashlib
import io
import json
import os
import pty
import pwd
import select
import shutil
import signal
import struct
import subprocess
import sys
import tarfile
import tempfile
import termios
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dctest import EXAMPLES, HOSTCTL, HOSTD, MODE, NOBODY, Daemon, safe_tmpdir, wait_for  # noqa: E402

SRC = os.environ["DC_SOURCE_ROOT"]
PLUGINS = os.environ["DC_TEST_PLUGINS_DIR"]
DCTEST = ["setpriv", "--reuid=dctest", "--regid=dctest", "--init-groups"]
EXIT_FAILURE, EXIT_USAGE, EXIT_NOT_RUNNING, EXIT_ACCESS_DENIED, EXIT_NO_SUCH_PLUGIN, EXIT_REJECTED = 1, 2, 3, 4, 5, 6
POLKIT_ACTION_FILE = "/usr/share/polkit-1/actions/org.deviceconnect.pluginhost.policy"


def ctl(*args, prefix=(), env=None, timeout=60, cwd=None):
    return subprocess.run(list(prefix) + [HOSTCTL] + list(args), capture_output=True, text=True, timeout=timeout,
                          env=env, stdin=subprocess.DEVNULL, cwd=cwd)


def sha_file(path):
    with open(path, "rb") as f:
        return "sha256:" + hashlib.sha256(f.read()).hexdigest()


def install_folder(root, plugin_id, so, manifest=None, mode=0o755):
    d = os.path.join(root, plugin_id)
    os.makedirs(d)
    os.chmod(d, mode)
    shutil.copyfile(so, os.path.join(d, plugin_id + ".so"))
    os.chmod(os.path.join(d, plugin_id + ".so"), 0o644)
    if manifest is None:
        manifest = json.dumps({"id": plugin_id, "version": "1.0.0", "runtime": "c", "api_level": 1})
    with open(os.path.join(d, "manifest.json"), "w") as f:
        f.write(manifest)
    os.chmod(os.path.join(d, "manifest.json"), 0o644)
    return d


def install_example(root, name):
    with open(os.path.join(EXAMPLES, name, "manifest.json")) as f:
        return install_folder(root, name, os.path.join(EXAMPLES, name, name + ".so"), f.read())


def tgz_of(folder, version=None):
    """The folder as a .tar.gz (its manifest's version replaced if asked)."""
    buf = io.BytesIO()
    name = os.path.basename(folder)
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for entry in sorted(os.listdir(folder)):
            path = os.path.join(folder, entry)
            with open(path, "rb") as f:
                data = f.read()
            if entry == "manifest.json" and version:
                m = json.loads(data)
                m["version"] = version
                data = json.dumps(m).encode()
            info = tarfile.TarInfo(name + "/" + entry)
            info.size, info.mode = len(data), 0o644
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def chown_tree(path, user):
    pw = pwd.getpwnam(user)
    for dirpath, dirnames, filenames in os.walk(path):
        os.chown(dirpath, pw.pw_uid, pw.pw_gid)
        for n in filenames:
            os.chown(os.path.join(dirpath, n), pw.pw_uid, pw.pw_gid)


class Pty:
    """A command on a new pseudo-terminal (its controlling terminal, 24x80)."""

    def __init__(self, argv, env=None):
        env = dict(env if env is not None else os.environ, TERM="xterm")
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                os.execvpe(argv[0], argv, env)
            finally:
                os._exit(127)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        self.out = b""
        self.status = None

    def _read(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError as e:
            if e.errno != errno.EIO:
                raise
            data = b""
        self.out += data
        return bool(data)

    def expect(self, needle, timeout=20):
        deadline = time.monotonic() + timeout
        while needle.encode() not in self.out:
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(left):
                raise AssertionError("%r did not appear; output so far:\n%s" % (needle, self.text()))

    def send(self, data):
        os.write(self.fd, data.encode())

    def wait_echo_off(self, timeout=20):
        """A password prompt turns echo off (and flushes what was typed before): type after that."""
        deadline = time.monotonic() + timeout
        while termios.tcgetattr(self.fd)[3] & termios.ECHO:
            if time.monotonic() > deadline:
                raise AssertionError("echo stayed on; output:\n" + self.text())
            self._read(0.01)

    def wait(self, timeout=30):
        """Read until the terminal closes (the command and its children are gone), then reap."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
                raise AssertionError("the command did not finish; output:\n" + self.text())
            if not self._read(left):
                break
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        self.status = os.waitstatus_to_exitcode(status)
        return self.status

    def text(self):
        return self.out.decode(errors="replace")


# ---- without a daemon ------------------------------------------------------------------------------


class Offline(unittest.TestCase):
    """The command line, exit statuses, hash and verify (no daemon)."""

    def setUp(self):
        self.tmp = safe_tmpdir()
        self.root = os.path.join(self.tmp, "plugins")
        os.mkdir(self.root, 0o755)
        self.conf = os.path.join(self.tmp, "c.conf")
        with open(self.conf, "w") as f:
            f.write("SignaturesFile=%s/none.json\nTrustedKeysDirectory=%s/none.d\n" % (self.tmp, self.tmp))
        self.env = dict(os.environ)
        self.env.pop("DC_PLUGIN_SIGNATURES", None)
        self.env.pop("DC_PLUGIN_HOST_CONFIG", None)
        self.marker = os.path.join(self.tmp, "marker")
        self.env["DC_TEST_MARKER"] = self.marker

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_ctl(self, *args, prefix=(), env=None, cwd=None):
        return ctl(*args, prefix=prefix, env=env or self.env, cwd=cwd)

    def test_usage_errors_exit_2(self):
        for args, needle in ((["frob"], 'Unknown command "frob"'), (["show"], '"show" takes 1 argument'),
                             (["invoke", "a"], '"invoke" takes up to 3 argument'), (["--bogus"], "unrecognized option"),
                             (["--json=yaml", "list"], "Unknown --json=yaml"),
                             (["--timeout=0", "list"], "Invalid --timeout=0"),
                             (["--format=rar", "install", "x"], 'Unknown archive format "rar"'),
                             (["--mesh", "-H", "h", "status"], "exclude each other"),
                             (["--daemon", "--content-only", "verify", "x"], "exclude each other"),
                             (["-H", "", "status"], "Invalid -H/--host"),
                             (["-H", "h", "hash", "/etc/hostname"], '"hash" reads local files'),
                             (["--host=h", "verify", "x"], "verify --daemon asks the daemon on HOST"),
                             (["hosts"], '"hosts" works on the mesh: add --mesh'),
                             (["rollout", "p", "--from=a", "--all"], '"rollout" works on the mesh'),
                             (["--mesh", "rollout", "p", "--to=b"], "rollout needs --from=HOST"),
                             (["--mesh", "rollout", "p", "--from=a"], "either --to=HOST,… or --all"),
                             (["--mesh", "rollout", "p", "--from=a", "--to=b", "--all"], "either --to=HOST,… or --all"),
                             (["--mesh", "rollout", "../p@1", "--from=a", "--all"], 'Invalid plugin id "../p"'),
                             (["--mesh", "--parallel=0", "rollout", "p", "--from=a", "--all"], "Invalid --parallel=0"),
                             (["--mesh", "--dry-run", "status"], "apply to rollout only"),
                             (["--keep-going", "list"], "apply to rollout only")):
            r = self.run_ctl(*args)
            self.assertEqual(r.returncode, EXIT_USAGE, (args, r.stderr))
            self.assertIn(needle, r.stderr, args)

    def test_help(self):
        r = self.run_ctl("--help")
        self.assertEqual(r.returncode, 0)
        for needle in ("verify PATH", "install PATH|URL", "--json[=MODE]", "--no-legend", "--no-pager", "-H --host=",
                       "--timeout=SEC", "--allow-downgrade", "--content-only", "--daemon", "hosts", "rollout PLUGIN[@VERSION]",
                       "--from=HOST", "--to=HOST,...", "--all", "--parallel=N", "--keep-going", "--dry-run",
                       "Exit status: 0 success, 1 failure, 2 invalid command line, 3 the daemon is not"):
            self.assertIn(needle, r.stdout)

    def test_hash(self):
        so = os.path.join(EXAMPLES, "sensor", "sensor.so")
        r = self.run_ctl("hash", so)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, sha_file(so)))
        r = self.run_ctl("--json=short", "hash", so)
        self.assertEqual(r.stdout.count("\n"), 1)
        self.assertEqual(json.loads(r.stdout), {"path": so, "digest": sha_file(so)})
        r = self.run_ctl("hash", "/nonexistent")
        self.assertEqual(r.returncode, EXIT_FAILURE)
        self.assertIn("Failed to open /nonexistent", r.stderr)

    def test_verify_in_place_says_what_it_used(self):
        sensor = install_example(self.root, "sensor")
        r = self.run_ctl("--config", self.conf, "verify", sensor)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0], "Configuration: " + self.conf)
        self.assertRegex(lines[1], r"^ +Policy: permissive \(no pins: .*/none.json is absent and DC_PLUGIN_SIGNATURES "
                                   r"unset\), 0 trusted key\(s\) from .*/none.d$")
        # run as root, the rules of the service user (it exists in the fixture)
        self.assertIn("Directory: %s (read-only plugin directory, not a configured plugin directory; owner rules "
                      "of uid %d (dc-plugin-host))" % (self.root, pwd.getpwnam("dc-plugin-host").pw_uid), lines[2])
        self.assertEqual(lines[3:], ["sensor: ok", "digest: " + sha_file(os.path.join(sensor, "sensor.so"))])
        r = self.run_ctl("--config", self.conf, "--no-legend", "verify", sensor)
        self.assertEqual(r.stdout.splitlines()[0], "sensor: ok")
        # "." is the folder itself (its directory is the plugin directory)
        for args in (("verify", "."), ("verify", "../sensor/"), ("--content-only", "verify", ".")):
            r = self.run_ctl("--config", self.conf, "--no-legend", *args, cwd=sensor)
            self.assertEqual((r.returncode, r.stdout.splitlines()[0]), (0, "sensor: ok"), args)
        # the same file through $DC_PLUGIN_HOST_CONFIG, as the daemon reads it
        r = self.run_ctl("verify", sensor, env=dict(self.env, DC_PLUGIN_HOST_CONFIG=self.conf))
        self.assertIn("Configuration: " + self.conf + "\n", r.stdout)
        r = self.run_ctl("--config", "/nonexistent.conf", "verify", sensor)
        self.assertEqual(r.returncode, EXIT_FAILURE)
        self.assertIn("Configuration file /nonexistent.conf does not exist", r.stderr)
        if not os.path.exists("/etc/dc-plugin-host/dc-plugin-host.conf"):
            r = self.run_ctl("verify", sensor)
            self.assertIn("Configuration: /etc/dc-plugin-host/dc-plugin-host.conf (not found: built-in defaults)",
                          r.stdout)

    def test_verify_reports_pins_and_their_file(self):
        sensor = install_example(self.root, "sensor")
        install_example(self.root, "hello-world")
        sigs = os.path.join(self.tmp, "none.json")
        with open(sigs, "w") as f:
            json.dump({"sensor": sha_file(os.path.join(sensor, "sensor.so"))}, f)
        r = self.run_ctl("--config", self.conf, "verify", sensor)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("Policy: allowlist, 1 pin(s) from %s, 0 trusted key(s)" % sigs, r.stdout)
        r = self.run_ctl("--config", self.conf, "--json", "verify", os.path.join(self.root, "hello-world"))
        self.assertEqual(r.returncode, EXIT_REJECTED)
        doc = json.loads(r.stdout)
        self.assertEqual((doc["ok"], doc["reason"]), (False, "not-in-allowlist"))
        self.assertEqual(doc["configuration"], {"file": self.conf, "found": True})
        self.assertEqual((doc["policy"]["mode"], doc["policy"]["pins"], doc["policy"]["pins_from"]), ("allowlist", 1, sigs))
        self.assertEqual(doc["checked"]["mode"], "in-place")

    def test_verify_rejects_without_running_code(self):
        install_folder(self.root, "execstack", os.path.join(PLUGINS, "execstack.so"))
        r = self.run_ctl("--config", self.conf, "--json=pretty", "verify", os.path.join(self.root, "execstack"))
        self.assertEqual(r.returncode, EXIT_REJECTED)
        doc = json.loads(r.stdout)
        self.assertEqual((doc["ok"], doc["reason"]), (False, "elf-execstack"))
        self.assertFalse(os.path.exists(self.marker), "verify must never run plugin code")

    def test_verify_names_the_directory_that_is_the_problem(self):
        bad = os.path.join(self.tmp, "open")
        os.mkdir(bad)
        os.chmod(bad, 0o777)
        inner = os.path.join(bad, "plugins")
        os.mkdir(inner, 0o755)
        sensor = install_example(inner, "sensor")
        r = self.run_ctl("--config", self.conf, "verify", sensor)
        self.assertEqual(r.returncode, EXIT_REJECTED, r.stderr)
        self.assertIn("sensor: insecure-directory — the plugin directory %s is refused: parent directory %s is "
                      "insecure (world-writable, mode 0777)" % (inner, bad), r.stdout)
        self.assertNotIn("not a plugin folder", r.stdout + r.stderr)
        self.assertIn("use --content-only", r.stderr)
        # the folder itself: its own reason
        os.chmod(bad, 0o755)
        os.chmod(sensor, 0o777)
        r = self.run_ctl("--config", self.conf, "--json", "verify", sensor)
        self.assertEqual((r.returncode, json.loads(r.stdout)["reason"]), (EXIT_REJECTED, "insecure-mode"))

    def test_verify_what_is_not_a_plugin(self):
        notes = os.path.join(self.root, "notes.txt")
        with open(notes, "w") as f:
            f.write("x")
        r = self.run_ctl("--config", self.conf, "verify", notes)
        self.assertEqual(r.returncode, EXIT_FAILURE)
        self.assertIn("neither a plugin folder nor an <id>.so file", r.stderr)
        r = self.run_ctl("--config", self.conf, "verify", os.path.join(self.root, "nope"))
        self.assertEqual(r.returncode, EXIT_FAILURE)
        self.assertIn("Cannot verify %s/nope: No such file or directory" % self.root, r.stderr)

    def test_content_only_checks_an_author_tree(self):
        """Under /tmp, group-writable and owned by a user: refused in place, checked by content."""
        author = tempfile.mkdtemp(prefix="author-", dir="/tmp")
        try:
            os.chmod(author, 0o775)
            sensor = install_example(author, "sensor")
            os.chmod(sensor, 0o775)
            chown_tree(author, "nobody")
            so = os.path.join(sensor, "sensor.so")
            r = self.run_ctl("--config", self.conf, "verify", sensor)
            self.assertEqual(r.returncode, EXIT_REJECTED)
            self.assertIn("insecure-directory", r.stdout)
            for prefix in ((), NOBODY):
                r = self.run_ctl("--config", self.conf, "--content-only", "verify", sensor, prefix=prefix)
                self.assertEqual(r.returncode, 0, (prefix, r.stdout, r.stderr))
                self.assertIn("Directory: none: --content-only checks the content, not its location, owners or modes",
                              r.stdout)
                self.assertIn("sensor: ok\ndigest: %s\n" % sha_file(so), r.stdout)
            # the .so alone, and an archive of the folder
            r = self.run_ctl("--config", self.conf, "--content-only", "--json", "verify", so)
            doc = json.loads(r.stdout)
            self.assertEqual((r.returncode, doc["ok"], doc["layout"], doc["digest"]), (0, True, "flat", sha_file(so)))
            arc = os.path.join(author, "sensor-1.0.tgz")
            with open(arc, "wb") as f:
                f.write(tgz_of(sensor))
            r = self.run_ctl("--config", self.conf, "--content-only", "--json", "verify", arc)
            doc = json.loads(r.stdout)
            self.assertEqual((r.returncode, doc["id"], doc["layout"]), (0, "sensor", "folder"))
            # the trust policy still applies: a pin of another build
            with open(os.path.join(self.tmp, "none.json"), "w") as f:
                json.dump({"sensor": "sha256:" + "0" * 64}, f)
            r = self.run_ctl("--config", self.conf, "--content-only", "--json", "verify", sensor)
            self.assertEqual((r.returncode, json.loads(r.stdout)["reason"]), (EXIT_REJECTED, "digest-mismatch"))
            os.unlink(os.path.join(self.tmp, "none.json"))
            # and the content checks: ELF pre-flight, a missing manifest, without running code
            bad = install_folder(author, "execstack", os.path.join(PLUGINS, "execstack.so"))
            r = self.run_ctl("--config", self.conf, "--content-only", "--json", "verify", bad)
            self.assertEqual((r.returncode, json.loads(r.stdout)["reason"]), (EXIT_REJECTED, "elf-execstack"))
            os.unlink(os.path.join(bad, "manifest.json"))
            r = self.run_ctl("--config", self.conf, "--content-only", "verify", bad)
            self.assertEqual(r.returncode, EXIT_REJECTED)
            self.assertIn("manifest-missing", r.stdout)
            self.assertFalse(os.path.exists(self.marker), "verify must never run plugin code")
            self.assertEqual([n for n in os.listdir("/tmp") if n.startswith("dc-plugin-verify.")], [],
                             "the private copies are removed")
        finally:
            shutil.rmtree(author, ignore_errors=True)


# ---- dc-plugin-hostd --check ------------------------------------------------------------------------


class DaemonCheck(unittest.TestCase):
    """--check as root applies the service user's rules and refuses loudly."""

    def setUp(self):
        self.tmp = safe_tmpdir()
        self.root = os.path.join(self.tmp, "plugins")
        os.mkdir(self.root, 0o755)
        self.state = os.path.join(self.tmp, "state")
        os.mkdir(self.state, 0o700)
        self.conf = os.path.join(self.tmp, "c.conf")
        with open(self.conf, "w") as f:
            f.write("PluginDirectories=%s\nStateDirectory=%s\nSignaturesFile=%s/none.json\n"
                    "TrustedKeysDirectory=%s/none.d\n" % (self.root, self.state, self.tmp, self.tmp))
        self.env = dict(os.environ)
        self.env.pop("DC_PLUGIN_SIGNATURES", None)
        self.service_uid = pwd.getpwnam("dc-plugin-host").pw_uid

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def check(self, *args):
        return subprocess.run([HOSTD, "--no-bus", "--config", self.conf, "--check"] + list(args), capture_output=True,
                              text=True, timeout=30, env=self.env)

    def test_refused_root_fails_the_check(self):
        install_example(self.root, "sensor")
        self.assertEqual(self.check().returncode, 0)
        os.chmod(self.root, 0o777)
        r = self.check()
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertRegex(r.stdout, r"(?m)^%s +read-only +refused +-\n +directory is world-writable \(mode: 777\)"
                         % self.root)
        r = self.check("--json")
        self.assertEqual(r.returncode, 1)
        doc = json.loads(r.stdout)
        self.assertFalse(doc["ok"])
        self.assertEqual([(x["path"], x["kind"], x["verdict"]) for x in doc["roots"]],
                         [(self.root, "read-only", "refused"), (os.path.join(self.state, "plugins"), "store", "missing")])
        self.assertIn("world-writable", doc["roots"][0]["message"])
        self.assertEqual(doc["configuration"], {"file": self.conf, "found": True})

    def test_store_checked_as_the_service_user(self):
        store = os.path.join(self.state, "plugins")
        os.mkdir(store, 0o755)
        install_example(store, "hello-world")
        chown_tree(self.state, "dc-plugin-host")
        r = self.check("--json")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        doc = json.loads(r.stdout)
        self.assertTrue(doc["ok"])
        self.assertEqual(doc["checked_as"], {"uid": self.service_uid, "user": "dc-plugin-host"})
        self.assertEqual([(x["kind"], x["verdict"], x["plugins"]) for x in doc["roots"]],
                         [("read-only", "ok", 0), ("store", "ok", 1)])
        self.assertEqual([(p["id"], p["state"], p["root"]) for p in doc["plugins"]],
                         [("hello-world", "available", store)])
        r = self.check()
        self.assertIn("Checked as: uid %d (dc-plugin-host)" % self.service_uid, r.stdout)
        # a read-only root the service could rewrite is refused, as the service refuses it
        chown_tree(self.root, "dc-plugin-host")
        r = self.check("--json")
        self.assertEqual(r.returncode, 1)
        root = json.loads(r.stdout)["roots"][0]
        self.assertEqual(root["verdict"], "refused")
        self.assertIn("owned by uid %d" % self.service_uid, root["message"])


# ---- against the daemon ------------------------------------------------------------------------------


class Bus(unittest.TestCase):
    """The commands against a running daemon: text, JSON, legends, exit statuses."""

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(test_plugins=("fast",))

    @classmethod
    def tearDownClass(cls):
        assert cls.d.stop() == 0

    def test_status_list_show(self):
        r = ctl("status")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Signature mode: permissive", r.stdout)
        self.assertIn("Plugins: 4 loaded, 4 known", r.stdout)
        r = ctl("list")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["ID", "STATE", "REASON", "VERSION", "DIGEST"])
        self.assertEqual([tuple(x.split()[:2]) for x in lines[1:5]],
                         [("counter", "loaded"), ("fast", "loaded"), ("hello-world", "loaded"), ("sensor", "loaded")])
        self.assertEqual(lines[5:], ["", "4 plugin(s)."])
        r = ctl("--no-legend", "list")
        self.assertEqual([x.split()[0] for x in r.stdout.splitlines()], ["counter", "fast", "hello-world", "sensor"])
        r = ctl("--json", "list")
        self.assertEqual([p["id"] for p in json.loads(r.stdout)], ["counter", "fast", "hello-world", "sensor"])
        self.assertGreater(r.stdout.count("\n"), 10)
        r = ctl("--json=short", "list")
        self.assertEqual(r.stdout.count("\n"), 1)
        self.assertEqual(len(json.loads(r.stdout)), 4)
        r = ctl("--json=off", "list")
        self.assertTrue(r.stdout.startswith("ID"))
        r = ctl("show", "sensor")
        self.assertIn("Functions: read", r.stdout)
        # a permissive policy runs every plugin in a worker (DefaultIsolation=auto)
        self.assertRegex(r.stdout, r"Isolation: process \(pid \d+, \d+ restarts; seccomp, Landlock ABI \d+, no_new_privs")
        self.assertIn("Events: alert", r.stdout)
        r = ctl("--json=short", "show", "sensor")
        self.assertEqual(json.loads(r.stdout)["state"], "loaded")

    def test_exit_statuses(self):
        r = ctl("show", "nope")
        self.assertEqual((r.returncode, r.stderr.strip()), (EXIT_NO_SUCH_PLUGIN, "No plugin 'nope'."))
        r = ctl("load", "nope")
        self.assertEqual(r.returncode, EXIT_NO_SUCH_PLUGIN, r.stderr)
        r = ctl("invoke", "sensor", "read", '{"channel":"x"}')
        self.assertEqual(r.returncode, EXIT_FAILURE)
        self.assertIn("params.channel: expected integer", r.stderr)
        r = ctl("load", "../etc")
        self.assertEqual(r.returncode, EXIT_FAILURE)
        self.assertIn("Invalid plugin id", r.stderr)
        r = ctl("--no-ask-password", "unload", "counter", prefix=NOBODY)
        self.assertEqual(r.returncode, EXIT_ACCESS_DENIED, r.stderr)
        self.assertIn("Failed to unload counter: Interactive authentication required.", r.stderr)
        self.assertIn("without --no-ask-password", r.stderr)
        r = ctl("status", env=dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS="unix:path=/nonexistent"))
        self.assertEqual(r.returncode, EXIT_NOT_RUNNING)
        self.assertIn("Failed to connect to the system bus", r.stderr)

    def test_json_of_every_operation(self):
        r = ctl("--json=short", "unload", "counter")
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual((doc["id"], doc["state"]), ("counter", "available"))
        r = ctl("unload", "counter")
        self.assertEqual(r.returncode, EXIT_FAILURE)
        self.assertIn("Plugin 'counter' is not loaded", r.stderr)
        r = ctl("--json", "load", "counter")
        self.assertEqual(json.loads(r.stdout)["state"], "loaded")
        r = ctl("reload", "counter")
        self.assertEqual((r.returncode, r.stdout), (0, ""))
        r = ctl("--json=short", "reload", "counter")
        self.assertEqual(json.loads(r.stdout)["id"], "counter")
        r = ctl("--json=short", "rescan")
        self.assertEqual([p["id"] for p in json.loads(r.stdout)], ["counter", "fast", "hello-world", "sensor"])
        r = ctl("--json=short", "reload-config")
        self.assertEqual(json.loads(r.stdout), {"unloaded_plugins": [], "restart_needed": []})
        r = ctl("--json=short", "invoke", "hello-world", "hello_world", '{"name":"ctl"}')
        self.assertEqual(r.stdout, '{"message":"Hello, ctl!"}\n')
        r = ctl("invoke", "hello-world", "hello_world", '{"name":"ctl"}')
        self.assertEqual(json.loads(r.stdout), {"message": "Hello, ctl!"})
        self.assertGreater(r.stdout.count("\n"), 1, "pretty without --json")

    def test_timeout_option_applies_to_dbus(self):
        t = time.monotonic()
        r = ctl("--timeout=1", "invoke", "fast", "stall", '{"ms":4000}')
        self.assertEqual(r.returncode, EXIT_FAILURE)
        self.assertIn("Failed to invoke fast.stall: no reply within 1 s (--timeout=SEC waits longer).", r.stderr)
        self.assertLess(time.monotonic() - t, 3.5)
        # the daemon is still well (its loop was busy with the stall)
        self.assertEqual(ctl("--timeout=30", "status").returncode, 0)

    def test_default_timeout_outlasts_the_25s_of_sd_bus(self):
        """sd-bus and busctl give up after 25 s; the daemon's calls may take 30 s (CallTimeoutSec=)."""
        r = ctl("invoke", "fast", "stall", '{"ms":26000}', timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout), {"stalled": True})

    def test_pager(self):
        tmp = tempfile.mkdtemp()
        try:
            pager = os.path.join(tmp, "pager.sh")
            with open(pager, "w") as f:
                f.write('#!/bin/sh\nenv > "$0.env"\ncat > "$0.out"\n')
            os.chmod(pager, 0o755)
            env = dict(os.environ, PAGER=pager)
            env.pop("SYSTEMD_PAGER", None)
            # a terminal: the listing goes through $PAGER, with LESS=FRSXMK
            p = Pty([HOSTCTL, "list"], env=env)
            self.assertEqual(p.wait(), 0, p.text())
            with open(pager + ".out") as f:
                self.assertIn("hello-world", f.read())
            with open(pager + ".env") as f:
                self.assertIn("LESS=FRSXMK\n", f.read())
            os.unlink(pager + ".out")
            # --no-pager, or not a terminal: no pager
            p = Pty([HOSTCTL, "--no-pager", "list"], env=env)
            self.assertEqual(p.wait(), 0)
            self.assertIn("hello-world", p.text())
            r = ctl("list", env=env)
            self.assertIn("hello-world", r.stdout)
            self.assertFalse(os.path.exists(pager + ".out"))
            # $SYSTEMD_PAGER wins; "cat" means none
            other = os.path.join(tmp, "other.sh")
            shutil.copy(pager, other)
            p = Pty([HOSTCTL, "list"], env=dict(env, SYSTEMD_PAGER=other))
            self.assertEqual(p.wait(), 0)
            self.assertTrue(os.path.exists(other + ".out"))
            self.assertFalse(os.path.exists(pager + ".out"))
            p = Pty([HOSTCTL, "list"], env=dict(env, PAGER="cat"))
            self.assertEqual(p.wait(), 0)
            self.assertIn("4 plugin(s).", p.text())
            self.assertFalse(os.path.exists(pager + ".out"))
            # root's rights, a user's $PAGER (sudo): never run; less, in secure mode
            p = Pty([HOSTCTL, "list"], env=dict(env, SUDO_UID="65534"))
            self.assertEqual(p.wait(), 0)
            self.assertIn("4 plugin(s).", p.text())
            self.assertFalse(os.path.exists(pager + ".out"))
        finally:
            shutil.rmtree(tmp)

    def test_verify_daemon(self):
        root = os.path.join(self.d.tmp, "plugins")
        r = ctl("verify", "--daemon", "sensor")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("sensor: ok (loaded)", r.stdout)
        self.assertIn("Directory: %s (folder)" % root, r.stdout)
        r = ctl("--json", "verify", "--daemon", os.path.join(root, "sensor"))
        doc = json.loads(r.stdout)
        self.assertEqual((r.returncode, doc["ok"], doc["daemon"]["policy"]["mode"]), (0, True, "permissive"))
        self.assertEqual(doc["local"]["digest"], doc["digest"])
        self.assertEqual(r.stderr, "")
        r = ctl("verify", "--daemon", "nope")
        self.assertEqual(r.returncode, EXIT_NO_SUCH_PLUGIN)
        self.assertIn("knows no plugin 'nope'", r.stderr)
        # a copy elsewhere: the verdict is about the daemon's
        other = safe_tmpdir()
        try:
            copy = install_example(other, "sensor")
            r = ctl("verify", "--daemon", copy)
            self.assertEqual(r.returncode, 0)
            self.assertIn("is not where the daemon reads sensor from (%s)" % root, r.stderr)
        finally:
            shutil.rmtree(other)


class DaemonPolicy(unittest.TestCase):
    """The README's example: offline verify with another configuration says ok; the daemon does not."""

    def test_daemon_verdict_differs_from_offline(self):
        tmp = safe_tmpdir()
        d = None
        try:
            sigs = os.path.join(tmp, "signatures.json")
            with open(sigs, "w") as f:
                json.dump({"hello-world": sha_file(os.path.join(EXAMPLES, "hello-world", "hello-world.so"))}, f)
            d = Daemon("SignaturesFile=%s\n" % sigs)
            sensor = os.path.join(d.root, "sensor")
            conf = os.path.join(tmp, "permissive.conf")
            with open(conf, "w") as f:
                f.write("SignaturesFile=%s/none.json\n" % tmp)
            r = ctl("--config", conf, "verify", sensor)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("Policy: permissive", r.stdout)
            r = ctl("verify", "--daemon", sensor)
            self.assertEqual(r.returncode, EXIT_REJECTED)
            self.assertIn("policy allowlist, 1 pin(s)", r.stdout)
            self.assertIn("sensor: not-in-allowlist — plugin not in allowlist: sensor", r.stdout)
            r = ctl("--json", "verify", "--daemon", "hello-world")
            self.assertEqual((r.returncode, json.loads(r.stdout)["state"]), (0, "loaded"))
            # the daemon checked another build than the one on disk now
            so = os.path.join(d.root, "hello-world", "hello-world.so")
            shutil.copyfile(os.path.join(EXAMPLES, "counter", "counter.so"), so)
            r = ctl("verify", "--daemon", os.path.join(d.root, "hello-world"))
            self.assertEqual(r.returncode, 0)
            self.assertIn("has digest %s, the daemon checked" % sha_file(so), r.stderr)
            self.assertIn("dc-plugin-hostctl reload hello-world re-reads it", r.stderr)
        finally:
            if d:
                d.stop()
            shutil.rmtree(tmp, ignore_errors=True)

    def test_not_running(self):
        d = Daemon(examples=())
        d.kill()
        try:
            r = ctl("status")
            self.assertEqual(r.returncode, EXIT_NOT_RUNNING)
            self.assertIn("Failed to query the plugin host: dc-plugin-hostd is not running "
                          "(org.deviceconnect.PluginHost is not on the bus).", r.stderr)
        finally:
            d.stop()


class Install(unittest.TestCase):
    """install from a folder, a file and an https:// URL; --json; --allow-downgrade."""

    @classmethod
    def setUpClass(cls):
        cls.pki = tempfile.mkdtemp(dir=safe_tmpdir())
        cls.www = os.path.join(cls.pki, "www")
        os.mkdir(cls.www)
        os.chmod(cls.pki, 0o755)
        run = lambda cmd: subprocess.run(cmd, shell=True, check=True, capture_output=True)  # noqa: E731
        with open(os.path.join(cls.pki, "san.ext"), "w") as f:
            f.write("subjectAltName=DNS:localhost\n")
        run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=dc-test-ca "
            "-keyout %(d)s/ca.key -out %(d)s/ca.pem" % {"d": cls.pki})
        run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost "
            "-keyout %(d)s/srv.key -out %(d)s/srv.csr" % {"d": cls.pki})
        run("openssl x509 -req -in %(d)s/srv.csr -CA %(d)s/ca.pem -CAkey %(d)s/ca.key -CAcreateserial -days 2 "
            "-extfile %(d)s/san.ext -out %(d)s/srv.pem" % {"d": cls.pki})
        os.chmod(os.path.join(cls.pki, "ca.pem"), 0o644)
        src = os.path.join(cls.pki, "src")
        os.mkdir(src)
        cls.probe = install_folder(src, "probe", os.path.join(PLUGINS, "probe-a.so"))
        with open(os.path.join(cls.www, "probe.tgz"), "wb") as f:
            f.write(tgz_of(cls.probe))
        cls.server = subprocess.Popen(["/usr/bin/python3", os.path.join(SRC, "tests", "https-server.py"),
                                       os.path.join(cls.pki, "srv.pem"), os.path.join(cls.pki, "srv.key"), cls.www,
                                       os.path.join(cls.pki, "requests.log")], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True)  # it exits at the EOF of its stdin
        cls.port = int(cls.server.stdout.readline())
        cls.d = Daemon("InstallCAFile=%s/ca.pem\nInstallURLAllowlist=localhost\n" % cls.pki, examples=("hello-world",))

    @classmethod
    def tearDownClass(cls):
        cls.server.stdin.close()
        cls.server.wait(timeout=10)
        assert cls.d.stop() == 0
        shutil.rmtree(os.path.dirname(cls.pki), ignore_errors=True)

    def test_install_url(self):
        url = "https://localhost:%d/probe.tgz" % self.port
        r = ctl("install", url)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "Installed plugin probe (/org/deviceconnect/PluginHost1/plugins/probe)\n")
        self.assertEqual(json.loads(ctl("invoke", "probe", "probe").stdout), {"build": "A"})
        r = ctl("--json=short", "remove", "probe")
        self.assertEqual((r.returncode, json.loads(r.stdout)), (0, {"plugin_id": "probe", "removed": True}))
        r = ctl("install", "https://localhost:%d/missing" % self.port)
        self.assertEqual(r.returncode, EXIT_FAILURE)
        self.assertIn("Failed to install https://localhost:%d/missing: download-failed" % self.port, r.stderr)
        r = ctl("install", "https://elsewhere.invalid/probe.tgz")
        self.assertEqual(r.returncode, EXIT_FAILURE)
        self.assertIn("url-not-allowed", r.stderr)
        r = ctl("install", "dc-mesh://peer/probe")
        self.assertEqual(r.returncode, EXIT_FAILURE)
        self.assertIn("use dc-plugin-hostctl --mesh install", r.stderr)

    def test_install_json_and_allow_downgrade(self):
        newer = os.path.join(self.pki, "probe-2.0.0.tgz")
        with open(newer, "wb") as f:
            f.write(tgz_of(self.probe, version="2.0.0"))
        older = os.path.join(self.pki, "probe-1.0.0.tgz")
        with open(older, "wb") as f:
            f.write(tgz_of(self.probe))
        try:
            r = ctl("--json=short", "--no-load", "install", newer)
            self.assertEqual(r.returncode, 0, r.stderr)
            doc = json.loads(r.stdout)
            self.assertEqual((doc["plugin_id"], doc["loaded"], doc["version"], doc["state"]),
                             ("probe", False, "2.0.0", "available"))
            self.assertEqual(ctl("remove", "probe").stdout, "Removed plugin probe\n")
            r = ctl("install", older)
            self.assertEqual(r.returncode, EXIT_REJECTED, r.stderr)
            self.assertIn("rollback: version 1.0.0 is older than 2.0.0", r.stderr)
            r = ctl("--json", "--allow-downgrade", "install", older)
            self.assertEqual(r.returncode, 0, r.stderr)
            doc = json.loads(r.stdout)
            self.assertEqual((doc["loaded"], doc["version"], doc["state"]), (True, "1.0.0", "loaded"))
        finally:
            ctl("remove", "probe")
            floor = os.path.join(self.d.state, "version-floor.d", "probe")
            if os.path.exists(floor):
                os.unlink(floor)

    def test_install_folder_and_errors(self):
        r = ctl("install", ".", cwd=self.probe)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Installed plugin probe", r.stdout)
        self.assertEqual(ctl("remove", "probe").returncode, 0)
        r = ctl("install", self.probe)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = ctl("install", self.probe)
        self.assertEqual(r.returncode, EXIT_FAILURE)
        self.assertIn("already exists", r.stderr)
        self.assertEqual(ctl("remove", "probe").returncode, 0)
        r = ctl("remove", "hello-world")
        self.assertEqual(r.returncode, EXIT_FAILURE)
        self.assertIn("read-only", r.stderr)
        r = ctl("remove", "nope")
        self.assertEqual(r.returncode, EXIT_NO_SUCH_PLUGIN)
        bad = os.path.join(self.pki, "evil.tgz")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as t:
            info = tarfile.TarInfo("../evil")
            info.size = 1
            t.addfile(info, io.BytesIO(b"x"))
        with open(bad, "wb") as f:
            f.write(buf.getvalue())
        r = ctl("install", bad)
        self.assertEqual(r.returncode, EXIT_REJECTED)
        self.assertIn("archive-unsafe-path", r.stderr)


# ---- -H/--host ------------------------------------------------------------------------------------------


class RemoteHost(unittest.TestCase):
    """-H runs `ssh -xT -- [USER@]HOST systemd-stdio-bridge`: a stand-in ssh bridges to the private bus."""

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(examples=("hello-world",))
        cls.bin = tempfile.mkdtemp()
        cls.args = os.path.join(cls.bin, "ssh-args")
        with open(os.path.join(cls.bin, "ssh"), "w") as f:
            f.write('#!/bin/sh\nprintf "%%s\\n" "$@" >> %s\nexec systemd-stdio-bridge -p "$DBUS_SYSTEM_BUS_ADDRESS"\n'
                    % cls.args)
        os.chmod(os.path.join(cls.bin, "ssh"), 0o755)
        cls.down = tempfile.mkdtemp()
        with open(os.path.join(cls.down, "ssh"), "w") as f:
            f.write('#!/bin/sh\necho "ssh: connect to host $3 port 22: Connection refused" >&2\nexit 255\n')
        os.chmod(os.path.join(cls.down, "ssh"), 0o755)

    @classmethod
    def tearDownClass(cls):
        assert cls.d.stop() == 0
        shutil.rmtree(cls.bin)
        shutil.rmtree(cls.down)

    def env(self, bindir):
        return dict(os.environ, PATH=bindir + ":" + os.environ["PATH"])

    def test_remote_commands(self):
        if os.path.exists(self.args):
            os.unlink(self.args)
        r = ctl("-H", "admin@device1", "list", env=self.env(self.bin))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("hello-world", r.stdout)
        with open(self.args) as f:
            self.assertEqual(f.read().split("\n")[:4], ["-xT", "--", "admin@device1", "systemd-stdio-bridge"])
        r = ctl("--host=device1", "--json=short", "status", env=self.env(self.bin))
        self.assertEqual(json.loads(r.stdout)["plugins"][0]["id"], "hello-world")
        r = ctl("-H", "device1", "verify", "--daemon", "hello-world", env=self.env(self.bin))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("on device1", r.stdout)
        r = ctl("-H", "device1", "invoke", "hello-world", "hello_world", '{"name":"far"}', env=self.env(self.bin))
        self.assertEqual(json.loads(r.stdout), {"message": "Hello, far!"})

    def test_local_files_do_not_cross_ssh(self):
        r = ctl("-H", "device1", "install", os.path.join(EXAMPLES, "sensor"), env=self.env(self.bin))
        self.assertEqual(r.returncode, EXIT_USAGE)
        self.assertIn("cannot cross -H/--host (ssh); install it from an https:// URL", r.stderr)

    def test_unreachable_host(self):
        r = ctl("-H", "root@device9", "status", env=self.env(self.down), timeout=30)
        self.assertEqual(r.returncode, EXIT_NOT_RUNNING, r.stderr)
        self.assertIn("Connection refused", r.stderr)
        self.assertIn("ssh: connect to host root@device9 port 22: Connection refused", r.stderr)
        # ssh may be gone before or after the first call: the same message either way
        self.assertIn("reach the system bus of root@device9 over ssh", r.stderr)


# ---- polkit: the terminal agent, missing policy --------------------------------------------------------


@unittest.skipUnless(MODE == "real", "real polkitd only")
class Polkit(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon("PolkitTimeoutSec=120\n")  # typing a password (and PAM's delay) takes a while

    @classmethod
    def tearDownClass(cls):
        assert cls.d.stop() == 0

    def agents_of_nobody(self):
        r = subprocess.run(["pgrep", "-u", "65534", "-x", "pkttyagent"], capture_output=True, text=True)
        return r.stdout.split()

    def test_tty_agent_asks_for_the_password(self):
        p = Pty(NOBODY + [HOSTCTL, "unload", "counter"])
        p.expect("==== AUTHENTICATING FOR org.deviceconnect.pluginhost.manage-plugins ====")
        p.expect("Authentication is required to manage plugins.")
        p.expect("Password: ")
        p.wait_echo_off()
        p.send("not-the-password\n")
        self.assertEqual(p.wait(timeout=60), EXIT_ACCESS_DENIED, p.text())
        self.assertIn("==== AUTHENTICATION FAILED ====", p.text())
        self.assertIn("Failed to unload counter: Access denied", p.text())
        wait_for(lambda: not self.agents_of_nobody(), 10, "the agent to be gone")
        self.assertEqual(ctl("--json=short", "show", "counter").stdout.count('"state":"loaded"'), 1)

    def test_no_agent_without_asking_or_terminal(self):
        p = Pty(NOBODY + [HOSTCTL, "--no-ask-password", "unload", "counter"])
        self.assertEqual(p.wait(), EXIT_ACCESS_DENIED)
        self.assertNotIn("AUTHENTICATING", p.text())
        self.assertIn("Interactive authentication required", p.text())
        r = ctl("unload", "counter", prefix=NOBODY)  # stdin is not a terminal
        self.assertEqual(r.returncode, EXIT_ACCESS_DENIED)
        self.assertNotIn("AUTHENTICATING", r.stdout + r.stderr)

    def test_allowed_user_needs_no_password(self):
        p = Pty(DCTEST + [HOSTCTL, "reload", "counter"])
        self.assertEqual(p.wait(), 0, p.text())
        self.assertNotIn("AUTHENTICATING", p.text())

    def test_missing_polkit_action_is_named(self):
        off = POLKIT_ACTION_FILE + ".off"
        os.rename(POLKIT_ACTION_FILE, off)
        try:
            def refused():
                r = ctl("--no-ask-password", "reload", "counter", prefix=DCTEST)
                refused.last = r
                return r.returncode == EXIT_ACCESS_DENIED and "polkit does not know" in r.stderr
            try:
                wait_for(refused, 20, "polkitd to drop the action")
            except AssertionError:
                raise AssertionError("last: %r" % (refused.last,))
            # polkitd says "Only trusted callers (e.g. uid 0 or an action owner) can use CheckAuthorization() and
            # pass details": without the file the daemon is no longer the action's owner
            self.assertIn("Failed to reload counter: polkit does not know the action: %s is missing or polkitd has "
                          "not read it" % POLKIT_ACTION_FILE, refused.last.stderr)
            self.assertNotIn("trusted callers", refused.last.stderr)
        finally:
            os.rename(off, POLKIT_ACTION_FILE)
        wait_for(lambda: ctl("--no-ask-password", "reload", "counter", prefix=DCTEST).returncode == 0, 20,
                 "polkitd to read the action again")

    def test_missing_bus_policy_is_named(self):
        policy_dir = os.path.join(SRC, "dbus")
        empty = tempfile.mkdtemp()

        def reload_bus():
            subprocess.run(["busctl", "--system", "call", "org.freedesktop.DBus", "/org/freedesktop/DBus",
                            "org.freedesktop.DBus", "ReloadConfig"], check=True, timeout=10)
        # this test runs in the fixture's private mount namespace: only its bus sees the change
        subprocess.run(["mount", "--bind", empty, policy_dir], check=True)
        try:
            reload_bus()
            r = ctl("status")
            self.assertEqual(r.returncode, EXIT_ACCESS_DENIED, r.stderr)
            self.assertIn("Failed to query the plugin host: the system bus refused the call: its policy does not let "
                          "this caller reach org.deviceconnect.PluginHost.", r.stderr)
            self.assertIn("/dbus-1/system.d/org.deviceconnect.PluginHost.conf", r.stderr)
            self.assertIn("systemctl reload dbus", r.stderr)
        finally:
            subprocess.run(["umount", policy_dir], check=True)
            os.rmdir(empty)
            reload_bus()
        self.assertEqual(ctl("status").returncode, 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
