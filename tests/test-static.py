#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Offline checks of shipped files: journal catalog, example plugin ELF flags."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

SRC = os.environ["DC_SOURCE_ROOT"]
EXAMPLES = os.environ["DC_EXAMPLES_DIR"]


def message_ids():
    with open(os.path.join(SRC, "src/shared/names.h")) as f:
        return dict(re.findall(r'#define (DC_MESSAGE_\w+) "([0-9a-f]{32})"', f.read()))


class Catalog(unittest.TestCase):
    def test_every_message_id_has_an_entry(self):
        with open(os.path.join(SRC, "src/daemon/dc-plugin-host.catalog")) as f:
            entries = set(re.findall(r"^-- ([0-9a-f]{32})$", f.read(), re.M))
        ids = message_ids()
        self.assertGreaterEqual(len(ids), 8)
        self.assertEqual(set(ids.values()), entries)
        self.assertEqual(len(set(ids.values())), len(ids), "MESSAGE_IDs must be unique")

    @unittest.skipUnless(shutil.which("journalctl"), "journalctl not installed")
    def test_journalctl_accepts_the_catalog(self):
        root = tempfile.mkdtemp()
        try:
            d = os.path.join(root, "usr/lib/systemd/catalog")
            os.makedirs(d)
            shutil.copy(os.path.join(SRC, "src/daemon/dc-plugin-host.catalog"), d)
            r = subprocess.run(["journalctl", "--root", root, "--update-catalog"], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            r = subprocess.run(["journalctl", "--root", root, "--list-catalog"], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            for mid in message_ids().values():
                self.assertIn(mid, r.stdout)
            self.assertIn("Plugin @PLUGIN_ID@ was rejected", r.stdout)
        finally:
            shutil.rmtree(root)


class ExamplePlugins(unittest.TestCase):
    @unittest.skipUnless(shutil.which("readelf"), "readelf not installed")
    def test_no_executable_stack_and_one_export(self):
        for name in ("hello-world", "counter", "sensor"):
            so = os.path.join(EXAMPLES, name, name + ".so")
            out = subprocess.run(["readelf", "-lW", so], capture_output=True, text=True, check=True).stdout
            stack = [l for l in out.splitlines() if "GNU_STACK" in l]
            self.assertEqual(len(stack), 1)
            self.assertNotIn("RWE", stack[0])
            syms = subprocess.run(["readelf", "--dyn-syms", "-W", so], capture_output=True, text=True, check=True).stdout
            # (ASan adds an __odr_asan.* marker next to every exported object)
            exported = [l.split()[-1] for l in syms.splitlines()
                        if re.search(r"\b(GLOBAL|WEAK)\b", l) and " UND " not in l and "DEFAULT" in l
                        and not l.split()[-1].startswith("__odr_asan.")]
            self.assertEqual(exported, ["dc_plugin_descriptor"], name)


class InstalledSDK(unittest.TestCase):
    """An out-of-tree plugin builds against the installed SDK via pkg-config."""

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("meson") and shutil.which("cc"), "needs root, meson, cc")
    def test_build_with_pkg_config(self):
        build = os.environ["DC_BUILD_ROOT"]
        dest = tempfile.mkdtemp()
        base = os.environ.get("DC_TEST_TMPDIR", "/run/dc-plugin-host-tests")
        os.makedirs(base, mode=0o755, exist_ok=True)
        work = tempfile.mkdtemp(dir=base)
        os.chmod(work, 0o755)
        try:
            subprocess.run(["meson", "install", "-C", build, "--destdir", dest, "--no-rebuild", "--quiet"],
                           check=True, capture_output=True)
            pcs = [os.path.join(d, f) for d, _, fs in os.walk(dest) for f in fs if f == "dc-plugin-host.pc"]
            self.assertEqual(len(pcs), 1)
            env = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(pcs[0]), PKG_CONFIG_SYSROOT_DIR=dest)
            cflags = subprocess.run(["pkg-config", "--cflags", "dc-plugin-host"], env=env, check=True,
                                    capture_output=True, text=True).stdout.split()
            api = subprocess.run(["pkg-config", "--variable=api_level", "dc-plugin-host"], env=env, check=True,
                                 capture_output=True, text=True).stdout.strip()
            self.assertEqual(api, "1")
            plugin = os.path.join(work, "plugins", "hello-world")
            os.makedirs(plugin, mode=0o755)
            os.chmod(os.path.join(work, "plugins"), 0o755)
            os.chmod(plugin, 0o755)
            so = os.path.join(plugin, "hello-world.so")
            subprocess.run(["cc", "-shared", "-fPIC", "-fvisibility=hidden", "-O2", *cflags, "-o", so,
                            os.path.join(SRC, "examples/hello-world/hello-world.c")], check=True, env=env)
            os.chmod(so, 0o644)
            shutil.copy(os.path.join(SRC, "examples/hello-world/manifest.json"), plugin)
            hostd = [os.path.join(d, f) for d, _, fs in os.walk(dest) for f in fs if f == "dc-plugin-hostd"][0]
            r = subprocess.run([hostd, "--check", "--config", "/dev/null", "--plugin-dir", os.path.join(work, "plugins"),
                                "--state-dir", os.path.join(work, "state")], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertRegex(r.stdout, r"hello-world +ok ")
        finally:
            shutil.rmtree(dest, ignore_errors=True)
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
