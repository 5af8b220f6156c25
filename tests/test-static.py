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


if __name__ == "__main__":
    unittest.main(verbosity=2)
