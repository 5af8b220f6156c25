#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
Installs end to end: InstallPlugin/RemovePlugin on the real daemon over the
private system bus (archives passed as file descriptors by Gio and busctl),
a corpus of hostile archives generated here, the real polkitd deciding for
root and nobody, dc-plugin-hostctl install/remove/publish, and crash safety
(kill -9 during installs).  Run by tests/run-bus-tests.sh.
"""
import hashlib
import io
import json
import os
import random
import socket
import stat
import subprocess
import sys
import tarfile
import time
import unittest
import zipfile

from gi.repository import Gio, GLib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dctest import (DENIED, ERR, HOSTCTL, MGR, NAME, NOBODY, PLUGIN, ROOT, Daemon, call, connect,  # noqa: E402
                    dbus_error, wait_for)

PLUGINS = os.environ["DC_TEST_PLUGINS_DIR"]
DIR, FILE = "dir", "file"


def so(variant):
    with open(os.path.join(PLUGINS, variant + ".so"), "rb") as f:
        return f.read()


def manifest(pid="probe", version="1.0.0", **extra):
    # version must match the compiled-in descriptor (1.0.0): builds differ
    # in code and in the description
    m = {"id": pid, "version": version, "runtime": "c", "api_level": 1}
    m.update(extra)
    return json.dumps(m).encode()


def plugin_members(pid="probe", variant="probe-a", top="probe", version=None, extra=()):
    """(name, data, options) triples of a well-formed plugin folder."""
    p = (top + "/") if top else ""
    members = ([(top, None, {})] if top else []) + [
        (p + "manifest.json", manifest(pid, version or "1.0.0", description="build " + variant), {}),
        (p + pid + ".so", so(variant), {"mode": 0o755}),
    ]
    return members + [(p + n, d, o) for n, d, o in extra]


def tgz(members, compress=True, fmt=tarfile.GNU_FORMAT):
    buf = io.BytesIO()
    mode = "w:gz" if compress else "w"
    with tarfile.open(fileobj=buf, mode=mode, format=fmt, encoding="utf-8", errors="surrogateescape") as t:
        for name, data, opt in members:
            ti = tarfile.TarInfo(name)
            ti.mode = opt.get("mode", 0o644)
            ti.mtime = 1700000000
            if "type" in opt:
                ti.type = opt["type"]
                ti.linkname = opt.get("linkname", "")
                t.addfile(ti)
            elif data is None:
                ti.type = tarfile.DIRTYPE
                ti.mode = 0o755
                t.addfile(ti)
            else:
                ti.size = len(data)
                if "pax" in opt:
                    ti.pax_headers = opt["pax"]
                t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def zipb(members, compression=zipfile.ZIP_DEFLATED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data, opt in members:
            zi = zipfile.ZipInfo(name + ("/" if data is None and not name.endswith("/") else ""))
            zi.compress_type = compression
            mode = opt.get("mode", 0o755 if data is None else 0o644)
            if opt.get("symlink"):
                zi.external_attr = (stat.S_IFLNK | 0o777) << 16
                data = opt["symlink"].encode()
            else:
                zi.external_attr = ((stat.S_IFDIR if data is None else stat.S_IFREG) | mode) << 16
            z.writestr(zi, data or b"")
    return buf.getvalue()


def sha(data):
    return hashlib.sha256(data).hexdigest()


def snapshot(*dirs):
    """Every entry below dirs: type, mode, owner, size and content hash."""
    out = {}
    for top in dirs:
        if not os.path.lexists(top):
            continue
        for dirpath, dirnames, filenames in os.walk(top):
            for n in dirnames + filenames:
                p = os.path.join(dirpath, n)
                st = os.lstat(p)
                h = None
                if stat.S_ISREG(st.st_mode):
                    with open(p, "rb") as f:
                        h = sha(f.read())
                out[p] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_size, h)
    return out


def staging_entries(d):
    s = os.path.join(d.store, ".staging")
    return os.listdir(s) if os.path.isdir(s) else []


def install(conn, data, timeout=30000, fd=None, **opts):
    """InstallPlugin with the archive in a memfd, as Gio passes it (or the fd given)."""
    types = {"plugin_id": "s", "digest": "s", "format": "s", "load": "b", "replace": "b", "allow_downgrade": "b"}
    options = {k.replace("_", "-"): v if isinstance(v, GLib.Variant) else GLib.Variant(types.get(k, "s"), v)
               for k, v in opts.items()}
    if fd is None:
        fd = os.memfd_create("archive")
        os.write(fd, data)
        os.lseek(fd, 0, os.SEEK_SET)
    else:
        fd = os.dup(fd)
    try:
        fds = Gio.UnixFDList.new_from_array([fd])
        fd = -1  # the list owns it now
        r, _ = conn.call_with_unix_fd_list_sync(NAME, ROOT, MGR, "InstallPlugin",
                                                GLib.Variant("(ha{sv})", (0, options)), GLib.VariantType("(o)"),
                                                Gio.DBusCallFlags.NONE, timeout, fds, None)
        return r.unpack()[0]
    finally:
        if fd >= 0:
            os.close(fd)


DBUS_PYTHON_INSTALL = """
import dbus, sys
bus = dbus.SystemBus()
mgr = dbus.Interface(bus.get_object("org.deviceconnect.PluginHost", "/org/deviceconnect/PluginHost1"),
                     "org.deviceconnect.PluginHost1.Manager")
try:
    if sys.argv[1] == "install":
        with open(sys.argv[2], "rb") as f:
            print(mgr.InstallPlugin(dbus.types.UnixFd(f), {"replace": dbus.Boolean(False)}))
    else:
        mgr.RemovePlugin(sys.argv[2], dbus.UInt64(0))
except dbus.exceptions.DBusException as e:
    print(e.get_dbus_name(), e.get_dbus_message(), file=sys.stderr)
    sys.exit(1)
"""


def dbus_python(*args, as_nobody=False):
    """dbus-python (libdbus) as an independent client; it can pass fds."""
    return subprocess.run((NOBODY if as_nobody else []) + ["/usr/bin/python3", "-c", DBUS_PYTHON_INSTALL] + list(args),
                          capture_output=True, text=True, timeout=60)


def prop(conn, path, name):
    return call(conn, path, "org.freedesktop.DBus.Properties", "Get", GLib.Variant("(ss)", (PLUGIN, name)),
                "(v)").unpack()[0]


def invoke(conn, pid, fn, params="{}"):
    return json.loads(call(conn, ROOT, MGR, "Invoke", GLib.Variant("(sss)", (pid, fn, params)), "(s)").unpack()[0])


def remove(conn, pid):
    call(conn, ROOT, MGR, "RemovePlugin", GLib.Variant("(st)", (pid, 0)))


# Limits lowered so the corpus stays small and fast; every class still trips.
LIMITS = "MaxArchiveSize=2M\nMaxExtractedSize=8M\nMaxArchiveMembers=500\n"
AB = bytes(b"ab"[i & 1] for i in range(256))


def two_letter_text(n, seed=1):
    """Compresses about 7:1: over the size cap long before any ratio cap."""
    return random.Random(seed).randbytes(n).translate(AB)


def hostile_corpus():
    """(label, archive bytes, options, error name, text the message must contain)."""
    good = plugin_members()
    good_tgz = tgz(good)
    good_zip = zipb(good)
    P = "probe/"
    bad = ERR + "InvalidPackage"
    cases = [
        # paths
        ("absolute path", tgz(good + [("/tmp/dc-evil", b"x", {})]), {}, bad, "unsafe path in archive: /tmp/dc-evil"),
        ("dot-dot", tgz(good + [("../dc-evil", b"x", {})]), {}, bad, "unsafe path in archive: ../dc-evil"),
        ("inner dot-dot", tgz(good + [(P + "../../dc-evil", b"x", {})]), {}, bad, "unsafe path in archive"),
        ("dot component", tgz(good + [(P + "./x", b"x", {})]), {}, bad, "unsafe path in archive"),
        ("backslash", tgz(good + [("..\\dc-evil", b"x", {})]), {}, bad, "unsafe path in archive"),
        ("pax path override", tgz(good + [(P + "harmless", b"x", {"pax": {"path": "../dc-evil"}})], fmt=tarfile.PAX_FORMAT),
         {}, bad, "unsafe path in archive: ../dc-evil"),
        ("GNU long name", tgz(good + [("../" + "d" * 150, b"x", {})]), {}, bad, "unsafe path in archive"),
        # links and special files
        ("symlink inside", tgz(good + [(P + "link", None, {"type": tarfile.SYMTYPE, "linkname": "probe.so"})]), {}, bad,
         "archive-link: symbolic link in archive: probe/link"),
        ("symlink outside", tgz(good + [(P + "passwd", None, {"type": tarfile.SYMTYPE, "linkname": "/etc/passwd"})]),
         {}, bad, "archive-link"),
        ("hard link", tgz(good + [(P + "hl", None, {"type": tarfile.LNKTYPE, "linkname": P + "probe.so"})]), {}, bad,
         "archive-link: hard link in archive: probe/hl"),
        ("char device", tgz(good + [(P + "null", None, {"type": tarfile.CHRTYPE})]), {}, bad, "archive-special-file"),
        ("block device", tgz(good + [(P + "sda", None, {"type": tarfile.BLKTYPE})]), {}, bad, "archive-special-file"),
        ("fifo", tgz(good + [(P + "fifo", None, {"type": tarfile.FIFOTYPE})]), {}, bad, "archive-special-file"),
        # names
        ("duplicate entry", tgz(good + [(P + "manifest.json", manifest(), {})]), {}, bad,
         "archive-duplicate-entry: duplicate entry in archive: probe/manifest.json"),
        ("file then dir", tgz(good + [(P + "x", b"1", {}), (P + "x/y", b"2", {})]), {}, bad, "archive-duplicate-entry"),
        ("dir then file", tgz(good + [(P + "d", None, {}), (P + "d", b"2", {})]), {}, bad, "archive-duplicate-entry"),
        ("not UTF-8", tgz(good + [(P + "\udcff\udcfe", b"x", {})]), {}, bad, "archive-bad-name"),
        ("control character", tgz(good + [(P + "a\nb", b"x", {})]), {}, bad, "archive-bad-name"),
        ("long component", tgz(good + [(P + "n" * 300, b"x", {})]), {}, bad, "archive-bad-name"),
        ("long path", tgz(good + [(P + "/".join(["p" * 200] * 6), b"x", {})]), {}, bad, "archive-bad-name"),
        # caps
        ("too deep", tgz(good + [(P + "/".join("d" * 17) + "/f", b"x", {})]), {}, bad, "nested deeper than 16"),
        ("too many members", tgz(good + [(P + "f%04d" % i, b"", {}) for i in range(600)]), {}, bad,
         "archive has more than 500 members"),
        ("gzip bomb", tgz([("probe", None, {}), (P + "zeros", bytes(20 << 20), {})]), {}, bad,
         "compression ratio exceeds 200:1"),
        ("zip bomb", zipb([("probe", None, {}), (P + "zeros", bytes(20 << 20), {})]), {}, bad,
         "compression ratio exceeds 200:1"),
        ("extracted total", tgz(good + [(P + "t%d" % i, two_letter_text(3 << 20, i), {}) for i in range(3)]), {}, bad,
         "archive expands beyond the limit (8388608 bytes)"),
        ("oversize by one byte", good_tgz + bytes((2 << 20) + 1 - len(good_tgz)), {}, bad,
         "bundle exceeds max size (2097152 bytes)"),
        # layout and ids
        ("no manifest", tgz([("probe", None, {}), (P + "probe.so", so("probe-a"), {})]), {}, bad, "archive-layout"),
        ("two top-level folders", tgz(good + plugin_members(top="other")), {}, bad,
         "archive must contain manifest.json at root or in a single top-level folder"),
        ("manifest two levels down", tgz(plugin_members(top="a/probe")), {}, bad, "archive-layout"),
        ("archive inside archive", tgz([("inner.tar.gz", good_tgz, {})]), {}, bad, "archive-layout"),
        ("lookalike manifest name", tgz([("probe", None, {}), (P + "manifest.j\u0455on", manifest(), {}),
                                        (P + "probe.so", so("probe-a"), {})]), {}, bad, "archive-layout"),
        ("fullwidth dot-dot", tgz(good + [("\uff0e\uff0e/dc-evil", b"x", {})]), {}, bad, "archive-layout"),
        ("lookalike id", tgz(plugin_members(pid="pr\u043ebe", top="pr\u043ebe")), {}, ERR + "InvalidId",
         "invalid plugin id"),
        ("id dot", tgz(plugin_members(pid=".", top=None)), {}, ERR + "InvalidId", "invalid plugin id"),
        ("id dot-dot", tgz(plugin_members(pid="..", top=None)), {}, ERR + "InvalidId", "invalid plugin id"),
        ("id with slash", tgz(plugin_members(pid="a/b", top=None)), {}, ERR + "InvalidId", "invalid plugin id"),
        ("id leading dash", tgz(plugin_members(pid="-x", top=None)), {}, ERR + "InvalidId", "invalid plugin id"),
        ("id empty", tgz(plugin_members(pid="", top=None)), {}, ERR + "InvalidId", "invalid plugin id"),
        ("id 65 characters", tgz(plugin_members(pid="x" * 65, top=None)), {}, ERR + "InvalidId", "invalid plugin id"),
        ("plugin id option vs manifest", good_tgz, {"plugin_id": "other"}, bad, "id-mismatch"),
        ("python manifest", tgz([("probe", None, {}), (P + "manifest.json",
                                 b'{"id":"probe","class_name":"P","entry_point":"capability.py"}', {}),
                                 (P + "capability.py", b"import os", {})]), {}, bad, "runtime-unsupported"),
        ("malformed manifest", tgz([("probe", None, {}), (P + "manifest.json", b'{"id": "probe",', {}),
                                    (P + "probe.so", so("probe-a"), {})]), {}, bad, "manifest-invalid"),
        ("wrong api level", tgz([("probe", None, {}), (P + "manifest.json", manifest(api_level=7), {}),
                                 (P + "probe.so", so("probe-a"), {})]), {}, ERR + "IncompatiblePlugin",
         "abi-mismatch"),
        ("not an ELF file", tgz([("probe", None, {}), (P + "manifest.json", manifest(), {}),
                                 (P + "probe.so", b"\x7fELF" + bytes(60), {})]), {}, ERR + "Rejected", "elf-invalid"),
        # corrupt input
        ("truncated tar.gz", good_tgz[: len(good_tgz) // 2], {}, bad, "archive-invalid"),
        ("corrupt gzip", good_tgz[:200] + bytes(b ^ 0x55 for b in good_tgz[200:400]) + good_tgz[400:], {}, bad,
         "archive-invalid"),
        ("random bytes", random.Random(7).randbytes(4096), {}, bad, "archive-invalid"),
        ("empty file", b"", {}, bad, "archive-invalid"),
        ("truncated zip", good_zip[: len(good_zip) - 30], {}, bad, "archive-invalid"),
        ("zip declared, tar.gz given", good_tgz, {"format": "zip"}, bad, "archive-invalid"),
        # zip-specific tricks
        ("zip symlink", zipb(good + [(P + "link", b"", {"symlink": "/etc/passwd"})]), {}, bad, "archive-link"),
        ("zip absolute path", zipb(good + [("/tmp/dc-evil", b"x", {})]), {}, bad, "unsafe path in archive"),
        ("zip dot-dot", zipb(good + [("../dc-evil", b"x", {})]), {}, bad, "unsafe path in archive"),
        ("zip duplicate", zipb(good + [(P + "probe.so", b"x", {})]), {}, bad, "archive-duplicate-entry"),
        # digests
        ("wrong digest", good_tgz, {"digest": "sha256:" + "0" * 64}, bad, "digest-mismatch: digest mismatch"),
    ]
    return cases


class Install(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(LIMITS)
        cls.conn = connect()

    @classmethod
    def tearDownClass(cls):
        out = cls.d.output()
        rc = cls.d.stop()
        if rc != 0:
            print(out)
        assert rc == 0, "daemon exit status %r" % rc

    def tearDown(self):
        for pid in ("probe", "zipped"):
            try:
                remove(self.conn, pid)
            except GLib.Error:
                pass
        self.assertEqual(staging_entries(self.d), [])

    def test_install_load_invoke_remove(self):
        data = tgz(plugin_members())
        path = install(self.conn, data, digest="SHA256:" + sha(data).upper())
        self.assertEqual(path, ROOT + "/plugins/probe")
        self.assertEqual(prop(self.conn, path, "State"), 3)
        self.assertEqual(invoke(self.conn, "probe", "probe"), {"build": "A"})
        self.assertEqual(prop(self.conn, path, "Digest"), "sha256:" + sha(so("probe-a")))
        d = os.path.join(self.d.store, "probe")
        st = os.stat(d)
        self.assertEqual((st.st_uid, stat.S_IMODE(os.stat(os.path.join(d, "probe.so")).st_mode)),
                         (os.stat(self.d.state).st_uid, 0o755))
        remove(self.conn, "probe")
        self.assertFalse(os.path.exists(d))
        with self.assertRaises(GLib.Error) as e:
            call(self.conn, ROOT, MGR, "GetPlugin", GLib.Variant("(s)", ("probe",)))
        self.assertEqual(dbus_error(e.exception), ERR + "NoSuchPlugin")
        with self.assertRaises(GLib.Error) as e:
            remove(self.conn, "probe")
        self.assertEqual(dbus_error(e.exception), ERR + "NoSuchPlugin")

    def test_zip_without_load_and_root_manifest(self):
        path = install(self.conn, zipb(plugin_members(top=None)), load=False)
        self.assertEqual(prop(self.conn, path, "State"), 1)
        call(self.conn, path, PLUGIN, "Load", GLib.Variant("(t)", (0,)))
        self.assertEqual(invoke(self.conn, "probe", "probe"), {"build": "A"})

    def test_replace_without_load_keeps_the_running_code(self):
        path = install(self.conn, tgz(plugin_members()))
        digest_a = prop(self.conn, path, "Digest")
        install(self.conn, tgz(plugin_members(variant="probe-b")), replace=True, load=False)
        # installing is not loading: A runs until the plugin is reloaded
        self.assertEqual(invoke(self.conn, "probe", "probe"), {"build": "A"})
        self.assertEqual((prop(self.conn, path, "State"), prop(self.conn, path, "Digest")), (3, digest_a))
        call(self.conn, path, PLUGIN, "Reload", GLib.Variant("(t)", (0,)))
        self.assertEqual(invoke(self.conn, "probe", "probe"), {"build": "B"})
        self.assertEqual(prop(self.conn, path, "Digest"), "sha256:" + sha(so("probe-b")))

    def test_exists_replace_and_rollback(self):
        install(self.conn, tgz(plugin_members()))
        before = snapshot(self.d.store)
        with self.assertRaises(GLib.Error) as e:
            install(self.conn, tgz(plugin_members(variant="probe-b")))
        self.assertEqual(dbus_error(e.exception), ERR + "AlreadyExists")
        self.assertIn("Plugin 'probe' already exists", e.exception.message)
        self.assertEqual(snapshot(self.d.store), before)
        self.assertEqual(invoke(self.conn, "probe", "probe"), {"build": "A"})

        install(self.conn, tgz(plugin_members(variant="probe-b")), replace=True)
        self.assertEqual(invoke(self.conn, "probe", "probe"), {"build": "B"})
        before = snapshot(self.d.store)
        # a bad replacement never touches the installed version
        with self.assertRaises(GLib.Error) as e:
            install(self.conn, tgz(plugin_members() + [("../x", b"x", {})]), replace=True)
        self.assertEqual(dbus_error(e.exception), ERR + "InvalidPackage")
        # one that passes every check but fails init(): the old one is restored
        with self.assertRaises(GLib.Error) as e:
            install(self.conn, tgz(plugin_members(variant="probe-fail")), replace=True)
        self.assertEqual(dbus_error(e.exception), ERR + "LoadFailed")
        self.assertIn("previous version was kept", e.exception.message)
        self.assertEqual(snapshot(self.d.store), before)
        self.assertEqual(invoke(self.conn, "probe", "probe"), {"build": "B"})

    def test_anti_rollback(self):
        """An older version never replaces a newer one unless an admin allows the downgrade;
        the floor survives a restart (it is kept in the state directory)."""
        install(self.conn, tgz(plugin_members(version="2.0.0")), load=False)
        self.assertTrue(os.path.isfile(os.path.join(self.d.state, "version-floor.d", "probe")))
        before = snapshot(self.d.store)
        with self.assertRaises(GLib.Error) as e:
            install(self.conn, tgz(plugin_members(version="1.9.9")), replace=True, load=False)
        self.assertEqual(dbus_error(e.exception), ERR + "Rejected")
        self.assertIn("rollback: version 1.9.9 is older than 2.0.0", e.exception.message)
        self.assertEqual(snapshot(self.d.store), before)
        self.assertEqual(staging_entries(self.d), [])
        # removing the plugin does not reset the floor
        call(self.conn, ROOT, MGR, "RemovePlugin", GLib.Variant("(st)", ("probe", 0)))
        self.d.restart()
        self.conn = connect()
        with self.assertRaises(GLib.Error) as e:
            install(self.conn, tgz(plugin_members(version="1.0.0")))
        self.assertIn("rollback", e.exception.message)
        # the admin's explicit consent; the floor stays at the highest version
        install(self.conn, tgz(plugin_members(version="1.0.0")), allow_downgrade=True)
        self.assertEqual(invoke(self.conn, "probe", "probe"), {"build": "A"})
        with open(os.path.join(self.d.state, "version-floor.d", "probe")) as f:
            self.assertEqual(f.read().strip(), "2.0.0")
        # leave the shared daemon as the other cases expect it
        call(self.conn, ROOT, MGR, "RemovePlugin", GLib.Variant("(st)", ("probe", 0)))
        os.unlink(os.path.join(self.d.state, "version-floor.d", "probe"))

    def test_fresh_install_whose_load_fails_is_partial(self):
        path = install(self.conn, tgz(plugin_members(variant="probe-fail")))
        self.assertEqual(prop(self.conn, path, "State"), 4)
        self.assertEqual(prop(self.conn, path, "LastError"), "init-failed")
        self.assertTrue(os.path.isdir(os.path.join(self.d.store, "probe")))

    def test_setuid_bits_are_stripped(self):
        data = tgz(plugin_members(extra=[("tool", b"#!/bin/sh\n", {"mode": 0o6755}), ("notes", b"x", {"mode": 0o4666})]))
        install(self.conn, data, load=False)
        d = os.path.join(self.d.store, "probe")
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(d, "tool")).st_mode), 0o755)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(d, "notes")).st_mode), 0o644)

    def test_read_only_ids(self):
        with self.assertRaises(GLib.Error) as e:
            install(self.conn, tgz(plugin_members(pid="hello-world", top="hello-world", variant="probe-a")))
        self.assertEqual(dbus_error(e.exception), ERR + "AlreadyExists")
        self.assertIn("read-only plugin directory", e.exception.message)
        with self.assertRaises(GLib.Error) as e:
            remove(self.conn, "hello-world")
        self.assertEqual(dbus_error(e.exception), ERR + "ReadOnly")
        self.assertEqual(invoke(self.conn, "hello-world", "echo", '{"a":1}'), {"a": 1})

    def test_bad_arguments(self):
        data = tgz(plugin_members())
        for opts, text in (({"bogus": "x"}, "Unknown option 'bogus'"),
                           ({"format": "rar"}, "Invalid 'format' option 'rar'"),
                           ({"digest": "sha256:abc"}, "Invalid 'digest' option"),
                           ({"load": GLib.Variant("s", "yes")}, "Option 'load' must be of type 'b'")):
            with self.assertRaises(GLib.Error) as e:
                install(self.conn, data, **opts)
            self.assertEqual(dbus_error(e.exception), "org.freedesktop.DBus.Error.InvalidArgs", opts)
            self.assertIn(text, e.exception.message)
        with self.assertRaises(GLib.Error) as e:
            install(self.conn, data, plugin_id="../x")
        self.assertEqual(dbus_error(e.exception), ERR + "InvalidId")
        # A pipe or socket whose writer never closes would hold every install:
        # refused at once (issue: InstallPlugin with a never-ending fd).
        r, w = os.pipe()
        a, b = socket.socketpair()
        try:
            for fd in (r, a.fileno()):
                with self.assertRaises(GLib.Error) as e:
                    install(self.conn, None, fd=fd)
                self.assertEqual(dbus_error(e.exception), "org.freedesktop.DBus.Error.InvalidArgs")
                self.assertIn("regular file or memfd", e.exception.message)
        finally:
            for fd in (r, w):
                os.close(fd)
            a.close()
            b.close()
        with self.assertRaises(GLib.Error) as e:
            call(self.conn, ROOT, MGR, "RemovePlugin", GLib.Variant("(st)", ("probe", 2)))
        self.assertEqual(dbus_error(e.exception), "org.freedesktop.DBus.Error.InvalidArgs")
        self.assertEqual(staging_entries(self.d), [])

    def test_hostile_corpus(self):
        cases = hostile_corpus()
        self.assertGreaterEqual(len(cases), 40)
        outside = "/tmp/dc-evil"
        for label, data, opts, name, text in cases:
            with self.subTest(label):
                before = snapshot(self.d.store, self.d.root)
                with self.assertRaises(GLib.Error) as e:
                    install(self.conn, data, **opts)
                if name:
                    self.assertEqual(dbus_error(e.exception), name, e.exception.message)
                else:
                    self.assertTrue(dbus_error(e.exception).startswith(ERR), e.exception.message)
                self.assertIn(text, e.exception.message)
                self.assertEqual(snapshot(self.d.store, self.d.root), before)
                self.assertEqual(staging_entries(self.d), [])
                self.assertFalse(os.path.lexists(outside))
        # the daemon is still healthy
        self.assertEqual(invoke(self.conn, "hello-world", "echo", "{}"), {})

    def test_digest_boundary_and_required(self):
        data = tgz(plugin_members())
        # exactly the cap is read (and found to be garbage); one byte more is refused (corpus)
        with self.assertRaises(GLib.Error) as e:
            install(self.conn, random.Random(5).randbytes(2 << 20))
        self.assertIn("archive-invalid", e.exception.message)
        install(self.conn, data, digest=sha(data))
        self.assertEqual(invoke(self.conn, "probe", "probe"), {"build": "A"})

    def test_libdbus_client(self):
        data = tgz(plugin_members(variant="probe-b"))
        path = os.path.join(self.d.tmp, "probe-b.tgz")
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, 0o644)
        p = dbus_python("install", path)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), ROOT + "/plugins/probe")
        self.assertEqual(invoke(self.conn, "probe", "probe"), {"build": "B"})
        p = dbus_python("install", path)
        self.assertEqual(p.returncode, 1)
        self.assertIn(ERR + "AlreadyExists", p.stderr)

    def test_nobody_cannot_install_or_remove(self):
        install(self.conn, tgz(plugin_members()))
        before = snapshot(self.d.store)
        path = os.path.join(self.d.tmp, "zipped.tgz")
        with open(path, "wb") as f:
            f.write(tgz(plugin_members(pid="zipped", top="zipped", variant="probe-b")))
        os.chmod(path, 0o644)
        for args in (("install", path), ("remove", "probe")):
            p = dbus_python(*args, as_nobody=True)
            self.assertEqual(p.returncode, 1, args)
            self.assertTrue(any(n in p.stderr for n in DENIED), p.stderr)
        self.assertEqual(snapshot(self.d.store), before)
        self.assertEqual(invoke(self.conn, "probe", "probe"), {"build": "A"})


class Allowlist(unittest.TestCase):
    """An install goes through the same trust policy as every load."""

    def test_unlisted_plugin_is_rejected(self):
        good = plugin_members(variant="probe-a")
        listed = sha(so("probe-b"))
        d = Daemon(examples=())
        try:
            sig = os.path.join(d.tmp, "signatures.json")
            with open(sig, "w") as f:
                json.dump({"probe": "sha256:" + listed}, f)
            os.chmod(sig, 0o644)
            with open(d.conf, "a") as f:
                f.write("SignaturesFile=%s\n" % sig)
            d.restart()
            conn = connect()
            for data, reason in ((tgz(good), "digest-mismatch"),
                                 (tgz(plugin_members(pid="good", top="good", variant="good")), "not-in-allowlist")):
                with self.assertRaises(GLib.Error) as e:
                    install(conn, data)
                self.assertEqual(dbus_error(e.exception), ERR + "Rejected")
                self.assertIn(reason, e.exception.message)
            self.assertFalse(os.path.exists(os.path.join(d.store, "probe")))
            self.assertFalse(os.path.exists(os.path.join(d.store, "good")))
            self.assertEqual(staging_entries(d), [])
            install(conn, tgz(plugin_members(variant="probe-b")))
            self.assertEqual(invoke(conn, "probe", "probe"), {"build": "B"})
        finally:
            d.stop()


class Hostctl(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(examples=("hello-world",))

    @classmethod
    def tearDownClass(cls):
        assert cls.d.stop() == 0

    def hostctl(self, *args):
        return subprocess.run([HOSTCTL] + list(args), capture_output=True, text=True, timeout=60)

    def test_install_archive_and_directory_remove_publish(self):
        src = os.path.join(self.d.tmp, "src")
        os.makedirs(os.path.join(src, "probe"))
        for name, data, _ in plugin_members(variant="probe-b")[1:]:
            with open(os.path.join(src, name), "wb") as f:
                f.write(data)
        # a directory is packed by the client and passed as an fd
        r = self.hostctl("install", os.path.join(src, "probe"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Installed plugin probe", r.stdout)
        r = self.hostctl("invoke", "probe", "probe")
        self.assertEqual(json.loads(r.stdout), {"build": "B"})
        # an archive file, with its digest; installing again needs --replace
        arc = os.path.join(self.d.tmp, "probe-a.tar.gz")
        data = tgz(plugin_members())
        with open(arc, "wb") as f:
            f.write(data)
        r = self.hostctl("install", arc)
        self.assertEqual(r.returncode, 1)
        self.assertIn("already exists", r.stderr)
        r = self.hostctl("install", "--replace", "--digest", "sha256:" + sha(data), arc)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(self.hostctl("invoke", "probe", "probe").stdout), {"build": "A"})
        # publish into the artifact store
        r = self.hostctl("publish", "probe", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        art = json.loads(r.stdout)
        self.assertEqual(art["plugin_id"], "probe")
        self.assertEqual(art["filename"], "1.0.0.tgz")
        path = os.path.join(self.d.state, "artifacts", "probe", art["filename"])
        with open(path, "rb") as f:
            packed = f.read()
        self.assertEqual(art["digest"], "sha256:" + sha(packed))
        self.assertEqual(art["size"], len(packed))
        with tarfile.open(fileobj=io.BytesIO(packed)) as t:
            self.assertEqual(sorted(t.getnames()), ["probe", "probe/manifest.json", "probe/probe.so"])
        with open(os.path.join(self.d.state, "artifacts", "probe", "artifact.json")) as f:
            self.assertEqual(json.load(f)["digest"], art["digest"])
        r = self.hostctl("artifacts", "--json")
        self.assertEqual([a["filename"] for a in json.loads(r.stdout)], ["1.0.0.tgz"])
        r = self.hostctl("publish", "probe", "../../x")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Invalid version", r.stderr)
        # the published artifact installs elsewhere byte for byte
        self.assertEqual(self.hostctl("remove", "probe").returncode, 0)
        self.assertFalse(os.path.exists(os.path.join(self.d.store, "probe")))
        r = self.hostctl("install", "--digest", art["digest"], path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.hostctl("remove", "probe").returncode, 0)

    def test_errors(self):
        r = self.hostctl("install", "/nonexistent.tgz")
        self.assertEqual(r.returncode, 1)
        self.assertIn("/nonexistent.tgz", r.stderr)
        r = self.hostctl("install", "--format", "rar", "/dev/null")
        self.assertNotEqual(r.returncode, 0)
        r = self.hostctl("remove", "hello-world")
        self.assertEqual(r.returncode, 1)
        self.assertIn("read-only", r.stderr)
        r = self.hostctl("remove")
        self.assertNotEqual(r.returncode, 0)


class CrashSafety(unittest.TestCase):
    """kill -9 at random points of 50 installs and replacements: after a
    restart the plugin is entirely the old or entirely the new version and
    staging is empty."""

    def test_kill_during_installs(self):
        pad = random.Random(3).randbytes(3 << 20)  # makes an install take long enough to be hit
        versions = {}
        archives = {}
        for variant in ("probe-a", "probe-b"):
            archives[variant] = tgz(plugin_members(variant=variant, extra=[("pad.bin", pad, {})]))
            versions[sha(so(variant))] = "build " + variant
        d = Daemon(examples=())
        rnd = random.Random(11)
        outcomes = {"old": 0, "new": 0}
        try:
            for i in range(50):
                conn = connect()
                old = self.state_of(d, versions)
                variant = ("probe-a", "probe-b")[i % 2]
                fd = os.memfd_create("a")
                os.write(fd, archives[variant])
                os.lseek(fd, 0, os.SEEK_SET)
                fds = Gio.UnixFDList.new_from_array([fd])
                opts = {"replace": GLib.Variant("b", True), "load": GLib.Variant("b", i % 3 != 0)}
                conn.call_with_unix_fd_list(NAME, ROOT, MGR, "InstallPlugin", GLib.Variant("(ha{sv})", (0, opts)),
                                            None, Gio.DBusCallFlags.NONE, 30000, fds, None, None, None)
                conn.flush_sync(None)
                time.sleep(rnd.uniform(0, 0.06))  # fault injection: where the kill lands
                d.kill()
                conn.close_sync(None)
                d.start()
                c2 = connect()
                wait_for(lambda: call(c2, ROOT, "org.freedesktop.DBus.Properties", "Get",
                                      GLib.Variant("(ss)", (MGR, "State")), "(v)").unpack()[0] == 2, 10, "Running")
                now = self.state_of(d, versions)
                self.assertIn(now, (old, "build " + variant), "iteration %d" % i)
                outcomes["new" if now == "build " + variant and now != old else "old"] += 1
                self.assertEqual(staging_entries(d), [], "iteration %d" % i)
                if now:
                    # what runs is what is on disk
                    self.assertEqual(invoke(c2, "probe", "probe"), {"build": now[-1].upper()})
                c2.close_sync(None)
            print("crash outcomes: %r" % outcomes, file=sys.stderr)
        except Exception:
            print(d.output()[-4000:], file=sys.stderr)
            raise
        finally:
            d.stop()

    @staticmethod
    def state_of(d, versions):
        """None, or the version of a complete, consistent plugin folder."""
        p = os.path.join(d.store, "probe")
        if not os.path.exists(p):
            return None
        with open(os.path.join(p, "manifest.json")) as f:
            m = json.load(f)
        with open(os.path.join(p, "probe.so"), "rb") as f:
            v = versions[sha(f.read())]
        assert m["description"] == v, "mix of versions: manifest %s, code %s" % (m["description"], v)
        with open(os.path.join(p, "pad.bin"), "rb") as f:
            assert len(f.read()) == 3 << 20, "incomplete plugin folder"
        return v


if __name__ == "__main__":
    unittest.main(verbosity=2)
