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
BUILD = os.environ["DC_BUILD_ROOT"]


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


def run(*cmd, **kw):
    return subprocess.run(list(cmd), capture_output=True, text=True, **kw)


class Daemon(unittest.TestCase):
    @unittest.skipUnless(shutil.which("readelf"), "readelf not installed")
    def test_install_libraries_are_not_linked(self):
        """libarchive and libcurl (and what they pull in) load on first use only."""
        hostd = os.path.join(os.environ["DC_BUILD_ROOT"], "src/daemon/dc-plugin-hostd")
        out = subprocess.run(["readelf", "-dW", hostd], capture_output=True, text=True, check=True).stdout
        needed = [l.split("[")[1].rstrip("]") for l in out.splitlines() if "(NEEDED)" in l]
        self.assertTrue(any(lib.startswith("libnats") for lib in needed), needed)
        for lib in needed:
            self.assertFalse(lib.startswith(("libarchive", "libcurl")), needed)


class Architecture(unittest.TestCase):
    """docs/architecture.md: every file of src/ calls only downwards, and none grows past ~800 lines."""

    def test_no_call_cycles_between_files(self):
        r = subprocess.run(["/usr/bin/python3", os.path.join(SRC, "tools", "file-cycles.py"), BUILD],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_no_source_file_over_800_lines(self):
        long = []
        for d, _, files in os.walk(os.path.join(SRC, "src")):
            for f in files:
                if f.endswith(".c"):
                    with open(os.path.join(d, f)) as fh:
                        n = sum(1 for _ in fh)
                    if n > 800:
                        long.append("%s (%d lines)" % (os.path.relpath(os.path.join(d, f), SRC), n))
        self.assertEqual(long, [])

    def test_core_has_no_front_end_includes(self):
        bad = []
        for f in os.listdir(os.path.join(SRC, "src", "core")):
            with open(os.path.join(SRC, "src", "core", f)) as fh:
                text = fh.read()
            for inc in ("<systemd/sd-bus.h>", "<nats/nats.h>", "mesh", "bus-"):
                if re.search(r'#include [<"][^>"]*%s' % re.escape(inc), text):
                    bad.append("%s includes %s" % (f, inc))
        self.assertEqual(bad, [])


class DeploymentFiles(unittest.TestCase):
    @unittest.skipUnless(shutil.which("xmllint"), "xmllint not installed")
    def test_polkit_policy_is_valid(self):
        dtd = "/usr/share/polkit-1/policyconfig-1.dtd"
        if not os.path.exists(dtd):
            self.skipTest("polkit DTD not installed")
        r = run("xmllint", "--noout", "--dtdvalid", dtd, os.path.join(SRC, "polkit/org.deviceconnect.pluginhost.policy"))
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(SRC, "polkit/org.deviceconnect.pluginhost.policy")) as f:
            text = f.read()
        ids = re.findall(r'<action id="([^"]+)"', text)
        self.assertEqual(ids, ["org.deviceconnect.pluginhost.invoke", "org.deviceconnect.pluginhost.manage-plugins",
                               "org.deviceconnect.pluginhost.install-plugins"])
        # every action carries the owner annotation (the daemon is not root)
        self.assertEqual(text.count('key="org.freedesktop.policykit.owner">unix-user:dc-plugin-host<'), len(ids))
        with open(os.path.join(SRC, "src/shared/names.h")) as f:
            names = f.read()
        for i in ids:
            self.assertIn('"%s"' % i, names)

    @unittest.skipUnless(shutil.which("dbus-daemon"), "dbus-daemon not installed")
    def test_bus_policy_parses(self):
        tmp = tempfile.mkdtemp()
        try:
            conf = os.path.join(tmp, "lint.conf")
            with open(conf, "w") as f:
                f.write('<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN" '
                        '"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">\n'
                        "<busconfig><type>system</type><listen>unix:tmpdir=%s</listen><auth>EXTERNAL</auth>"
                        "<include>%s</include></busconfig>\n" % (tmp, os.path.join(SRC, "dbus/org.deviceconnect.PluginHost.conf")))
            p = subprocess.Popen(["dbus-daemon", "--config-file=" + conf, "--nofork", "--print-address"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            line = p.stdout.readline()
            p.terminate()
            err = p.communicate(timeout=10)[1]
            self.assertTrue(line.startswith("unix:"), err)
        finally:
            shutil.rmtree(tmp)

    @unittest.skipUnless(shutil.which("systemd-analyze"), "systemd-analyze not installed")
    def test_unit_verifies_silently(self):
        unit = os.path.join(os.environ["DC_BUILD_ROOT"], "systemd", "dc-plugin-hostd.service")
        tmp = tempfile.mkdtemp()
        try:
            # verify needs ExecStart= to exist: point it at the built daemon
            with open(unit) as f:
                text = f.read()
            hostd = os.path.join(os.environ["DC_BUILD_ROOT"], "src/daemon/dc-plugin-hostd")
            text = re.sub(r"^ExecStart=.*$", "ExecStart=" + hostd, text, flags=re.M)
            hostctl = os.path.join(os.environ["DC_BUILD_ROOT"], "src/hostctl/dc-plugin-hostctl")
            text = re.sub(r"^(ExecReload=\+)\S+", r"\g<1>" + hostctl, text, flags=re.M)
            path = os.path.join(tmp, "dc-plugin-hostd.service")
            with open(path, "w") as f:
                f.write(text)
            r = run("systemd-analyze", "verify", "--man=no", path)
            self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))
            r = run("systemd-analyze", "security", "--offline=true", "--threshold=15", path)
            self.assertEqual(r.returncode, 0, r.stdout)
            score = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", r.stdout)
            self.assertIsNotNone(score, r.stdout)
            self.assertLessEqual(float(score.group(1)), 1.0)
            # with the mesh drop-in: network allowed, still verified and well under MEDIUM
            d = path + ".d"
            os.mkdir(d)
            shutil.copy(os.path.join(SRC, "systemd/mesh-network.conf"), d)
            r = run("systemd-analyze", "verify", "--man=no", path)
            self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))
            r = run("systemd-analyze", "security", "--offline=true", "--threshold=15", path)
            self.assertEqual(r.returncode, 0, r.stdout)
        finally:
            shutil.rmtree(tmp)

    @unittest.skipUnless(shutil.which("systemd-sysusers") and shutil.which("systemd-tmpfiles"), "systemd tools missing")
    def test_sysusers_and_tmpfiles(self):
        root = tempfile.mkdtemp()
        try:
            os.makedirs(os.path.join(root, "etc"))
            r = run("systemd-sysusers", "--root=" + root, os.path.join(SRC, "sysusers.d/dc-plugin-host.conf"))
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(os.path.join(root, "etc/passwd")) as f:
                self.assertRegex(f.read(), r"^dc-plugin-host:x:\d+:\d+:Device Connect plugin host:")
            r = run("systemd-tmpfiles", "--root=" + root, "--create", os.path.join(SRC, "tmpfiles.d/dc-plugin-host.conf"))
            self.assertEqual(r.returncode, 0, r.stderr)
            st = os.stat(os.path.join(root, "etc/dc-plugin-host/trusted-keys.d"))
            self.assertEqual(st.st_mode & 0o7777, 0o755)
        finally:
            shutil.rmtree(root)

    def test_introspection_matches_dbus_xml(self):
        hostd = os.path.join(os.environ["DC_BUILD_ROOT"], "src/daemon/dc-plugin-hostd")
        for iface in ("org.deviceconnect.PluginHost1.Manager", "org.deviceconnect.PluginHost1.Plugin"):
            out = run(hostd, "--bus-introspect=" + iface, check=True).stdout
            with open(os.path.join(SRC, "dbus", iface + ".xml")) as f:
                committed = f.read()
            body = re.search(r"(<interface .*?</interface>)", committed, re.S).group(1)
            strip = lambda t: [l.strip() for l in re.sub(r"<!--.*?-->", "", t, flags=re.S).splitlines() if l.strip()]
            self.assertEqual(strip(body), strip(out), iface)
            # every member is documented
            members = re.findall(r'<(?:property|method|signal) name="([^"]+)"', body)
            self.assertGreater(len(members), 3)
            self.assertEqual(len(re.findall(r"<!--", body)), len(members), iface)


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
            installed = {os.path.relpath(os.path.join(d, f), dest) for d, _, fs in os.walk(dest) for f in fs}
            prefix = os.environ.get("DC_PREFIX", "/usr/local").lstrip("/")
            for rel in ("libexec/dc-plugin-hostd", "bin/dc-plugin-hostctl", "include/dc-plugin-host/plugin.h",
                        "lib/systemd/system/dc-plugin-hostd.service", "lib/sysusers.d/dc-plugin-host.conf",
                        "lib/tmpfiles.d/dc-plugin-host.conf", "lib/systemd/catalog/dc-plugin-host.catalog",
                        "share/dbus-1/interfaces/org.deviceconnect.PluginHost1.Manager.xml",
                        "share/dbus-1/interfaces/org.deviceconnect.PluginHost1.Plugin.xml",
                        "share/dc-plugin-host/mesh-network.conf",
                        "share/doc/dc-plugin-host/examples/hello-world/manifest.json"):
                self.assertIn(os.path.join(prefix, rel), installed)
            # where dbus-daemon and polkitd read them, whatever the prefix
            for rel in ("usr/share/dbus-1/system.d/org.deviceconnect.PluginHost.conf",
                        "usr/share/dbus-1/system-services/org.deviceconnect.PluginHost.service",
                        "usr/share/polkit-1/actions/org.deviceconnect.pluginhost.policy"):
                self.assertIn(rel, installed)
            with open(os.path.join(dest, prefix, "lib/systemd/system/dc-plugin-hostd.service")) as f:
                unit = f.read()
            self.assertIn("ExecStart=/" + prefix + "/libexec/dc-plugin-hostd\n", unit)
            self.assertIn("ReadOnlyPaths=/" + prefix + "/lib/dc-plugin-host/plugins", unit)
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
