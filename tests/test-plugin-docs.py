#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
docs/plugin-development.md does what it says: its files are written out,
its `run:` blocks run in document order (the author's build against the SDK
through pkg-config, StrictELF checks, minisign; the administrator's policy,
pin, install and calls on the daemon, which runs as its service user on the
private bus with the document's configuration) and their output is compared,
and what it promises about events, logs and isolation is checked.  Run by
tests/run-bus-tests.sh SOURCE real test-plugin-docs.py.
"""
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from gi.repository import Gio

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dctest import HOSTCTL, NAME, Daemon, connect, safe_tmpdir, wait_for  # noqa: E402

SRC = os.environ["DC_SOURCE_ROOT"]
BUILD = os.environ["DC_BUILD_ROOT"]
DOC = os.path.join(SRC, "docs", "plugin-development.md")
ETC = "/etc/dc-plugin-host/"

_spec = importlib.util.spec_from_file_location("doc_snippets", os.path.join(SRC, "tests", "doc-snippets.py"))
snippets = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(snippets)


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("cc") and shutil.which("pkg-config")
                     and shutil.which("minisign") and shutil.which("meson"), "needs root, cc, pkg-config, minisign, meson")
class PluginDevelopmentDoc(unittest.TestCase):
    def setUp(self):
        self.blocks = snippets.parse(DOC)
        self.files = snippets.files(self.blocks)
        self.tmp = safe_tmpdir()
        self.author = os.path.join(self.tmp, "author")
        self.etc = os.path.join(self.tmp, "etc")
        os.mkdir(self.author, 0o755)
        os.mkdir(self.etc, 0o755)
        # The machine's own configuration must not leak into the author's
        # checks: hide it (the fixture runs in a private mount namespace).
        self.hidden = os.path.isdir(ETC)
        if self.hidden:
            empty = os.path.join(self.tmp, "empty")
            os.mkdir(empty, 0o755)
            subprocess.run(["mount", "--bind", empty, ETC], check=True)
        # The SDK's pkg-config file as installed, its header in the source tree.
        with open(os.path.join(BUILD, "meson-private", "dc-plugin-host.pc")) as f:
            pc = "".join("includedir=%s/include\n" % SRC if l.startswith("includedir=") else l for l in f)
        self.pkgconfig = os.path.join(self.tmp, "pkgconfig")
        os.mkdir(self.pkgconfig)
        with open(os.path.join(self.pkgconfig, "dc-plugin-host.pc"), "w") as f:
            f.write(pc)
        self.env = dict(os.environ, PKG_CONFIG_PATH=self.pkgconfig,
                        PATH=os.path.dirname(HOSTCTL) + ":" + os.environ["PATH"])
        self.daemon = None

    def tearDown(self):
        if self.daemon:
            out = self.daemon.output()
            rc = self.daemon.stop()
            if rc != 0:
                print(out)
            self.assertEqual(rc, 0, "daemon exit status")
        if self.hidden:
            subprocess.run(["umount", ETC], check=True)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def local(self, text):
        """The document's /etc/dc-plugin-host/ is this test's."""
        return text.replace(ETC, self.etc + "/")

    def write_files(self):
        for path, content in self.files.items():
            dest = self.local(path) if path.startswith(ETC) else os.path.join(self.author, path)
            os.makedirs(os.path.dirname(dest), mode=0o755, exist_ok=True)
            with open(dest, "w") as f:
                f.write(content)
            os.chmod(dest, 0o644)

    def run_sh(self, block):
        r = subprocess.run(["bash", "-euo", "pipefail", "-c", self.local(block.text)], cwd=self.author, env=self.env,
                           capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 0, "%r failed:\n%s" % (block, out))
        self.assertNotIn("warning:", out, repr(block))

    def run_console(self, block):
        for cmd, expected in snippets.console(block.text):
            r = subprocess.run(["bash", "-o", "pipefail", "-c", self.local(cmd)], cwd=self.author, env=self.env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120,
                               stdin=subprocess.DEVNULL)
            actual = r.stdout.rstrip("\n").split("\n") if r.stdout else []
            expected = [self.local(line) for line in expected]
            ok = len(actual) == len(expected) and all(map(snippets.line_matches, expected, actual))
            self.assertTrue(ok, "%r: $ %s\nexpected:\n%s\ngot:\n%s" % (block, cmd, "\n".join(expected), r.stdout))

    def verify_strict(self, so):
        """dc-plugin-hostctl verify of `so` as thermostat/, with the document's strict.conf."""
        folder = os.path.join(tempfile.mkdtemp(dir=self.tmp), "thermostat")
        os.mkdir(folder)
        shutil.copy(so, os.path.join(folder, "thermostat.so"))
        shutil.copy(os.path.join(self.author, "thermostat", "manifest.json"), folder)
        return subprocess.run([HOSTCTL, "verify", "--content-only", "--config=" + os.path.join(self.author, "strict.conf"),
                               folder], capture_output=True, text=True, timeout=60)

    def test_document(self):
        kinds = {b.kind for b in self.blocks}
        self.assertEqual(kinds, {"file", "excerpt", "run", "mesh"})
        for b in self.blocks:
            if b.kind == "excerpt":
                self.assertIn(b.text, self.files[b.arg], repr(b))
            if b.kind == "run":
                self.assertIn(b.arg, ("author", "admin"), repr(b))
                self.assertIn(b.lang, ("sh", "console"), repr(b))
        self.write_files()

        # The daemon with the document's configuration and paths.
        conf = "SignaturesFile=%s/signatures.json\nTrustedKeysDirectory=%s/trusted-keys.d\nPluginConfigDirectory=%s/plugin-config\n" % (
            self.etc, self.etc, self.etc)
        self.daemon = Daemon(extra_conf=conf + self.files[ETC + "dc-plugin-host.conf"], examples=())
        events = []
        bus = connect()
        sub = bus.signal_subscribe(NAME, None, "PluginEvent", None, None, Gio.DBusSignalFlags.NONE,
                                   lambda c, s, p, i, name, params: events.append(params.unpack()))
        try:
            for b in self.blocks:
                if b.kind == "run" and b.lang == "sh":
                    self.run_sh(b)
                elif b.kind == "run":
                    self.run_console(b)
            # set_target's event, as the document shows it
            wait_for(lambda: events, 10, "PluginEvent")
        finally:
            bus.signal_unsubscribe(sub)
        self.assertEqual(events[0], ("thermostat", "target_changed", '{"celsius":21.5,"previous":20.0}'))
        # Pinned and signed: verified code runs in the daemon's process; init() logged.
        log = self.daemon.output()
        self.assertIn("Loaded plugin thermostat 1.0.0 (in-process)", log)
        self.assertIn("thermostat ready", log)

        # The meson build passes StrictELF too; without -nostartfiles it does not.
        r = self.verify_strict(os.path.join(self.author, "build", "thermostat.so"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        plain = os.path.join(self.tmp, "plain.so")
        subprocess.run(["cc", "-shared", "-fPIC", "-fvisibility=hidden", "-I" + os.path.join(SRC, "include"), "-o", plain,
                        os.path.join(self.author, "thermostat.c")], check=True)
        r = self.verify_strict(plain)
        self.assertEqual(r.returncode, 6, r.stdout + r.stderr)
        self.assertIn("elf-constructor", r.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
