#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Offline checks of what an install ships: configuration documentation and
example, man pages, bash completion, install paths.  The packages themselves
under real systemd: tests/system/run-system-test.sh."""
import glob
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
import textwrap
import unittest

SRC = os.environ["DC_SOURCE_ROOT"]
BUILD = os.environ["DC_BUILD_ROOT"]
HOSTD = os.environ["DC_HOSTD"]
HOSTCTL = os.environ["DC_HOSTCTL"]
COMPLETION = os.path.join(SRC, "shell-completion/bash/dc-plugin-hostctl")
MAN_PAGES = ["dc-plugin-hostd.8", "dc-plugin-worker.8", "dc-plugin-hostctl.1", "dc-plugin-host.conf.5", "org.deviceconnect.PluginHost.5"]


def run(*cmd, **kw):
    return subprocess.run(list(cmd), capture_output=True, text=True, **kw)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def config_keys():
    """Every key host_config_set() accepts (src/core/config.c)."""
    text = read(os.path.join(SRC, "src/core/config.c"))
    keys = set(re.findall(r'\b(?:STRING|BOOL|UNSIGNED|SECONDS|SIZE)\("(\w+)"', text)) | set(re.findall(r'\{ "(\w+)", parse_', text))
    return keys


def build_option(name):
    out = run("meson", "introspect", "--buildoptions", BUILD, check=True).stdout
    return {o["name"]: o["value"] for o in json.loads(out)}[name]


class Configuration(unittest.TestCase):
    def test_every_key_is_documented(self):
        keys = config_keys()
        self.assertGreaterEqual(len(keys), 40)
        page = set(re.findall(r"`(\w+)=`", read(os.path.join(SRC, "docs/dc-plugin-host.conf.5.md"))))
        self.assertEqual(sorted(keys - page), [], "keys missing from docs/dc-plugin-host.conf.5.md")
        self.assertEqual(sorted(page - keys - {"Key"}), [], "documented keys the daemon does not know")
        example = set(re.findall(r"^#?(\w+)=", read(os.path.join(SRC, "docs/dc-plugin-host.conf.example")), re.M))
        self.assertEqual(sorted(keys ^ example), [], "docs/dc-plugin-host.conf.example differs from the daemon's keys")

    def check_config(self, text):
        base = os.environ.get("DC_TEST_TMPDIR", "/run/dc-plugin-host-tests")
        os.makedirs(base, mode=0o755, exist_ok=True)
        work = tempfile.mkdtemp(dir=base)
        try:
            os.chmod(work, 0o755)
            conf = os.path.join(work, "test.conf")
            with open(conf, "w") as f:
                f.write(text)
            os.mkdir(os.path.join(work, "plugins"), 0o755)
            return run(HOSTD, "--check", "--log-target=console", "--config", conf,
                       "--plugin-dir", os.path.join(work, "plugins"), "--state-dir", os.path.join(work, "state"))
        finally:
            shutil.rmtree(work)

    def test_example_is_accepted_with_every_default_uncommented(self):
        text = read(os.path.join(SRC, "docs/dc-plugin-host.conf.example"))
        uncommented = re.sub(r"^#(\w+=\S.*)$", r"\1", text, flags=re.M)
        self.assertGreater(len(re.findall(r"^\w+=", uncommented, re.M)), 25)
        r = self.check_config(uncommented)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotRegex(r.stderr, "unknown setting|invalid value")
        # the same check fails on a typo, so it can fail at all
        r = self.check_config(uncommented + "Wokers=4\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn('unknown setting "Wokers"', r.stderr)


@unittest.skipUnless(all(os.path.exists(os.path.join(BUILD, "docs", p)) for p in MAN_PAGES),
                     "man pages not built (-Dman=disabled or go-md2man missing)")
class ManPages(unittest.TestCase):
    @unittest.skipUnless(shutil.which("man") and shutil.which("lexgrog"), "man-db not installed")
    def test_pages_render_without_warnings(self):
        for page in MAN_PAGES:
            path = os.path.join(BUILD, "docs", page)
            # what lintian runs (groff-message)
            r = run("man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", path,
                    env=dict(os.environ, LC_ALL="C.UTF-8", MANROFFSEQ="", MANWIDTH="80"))
            self.assertEqual((r.returncode, r.stderr), (0, ""), page)
            name = page.rsplit(".", 1)[0]
            r = run("lexgrog", path)
            self.assertRegex(r.stdout, r'"%s - \S' % re.escape(name), page)
            roff = read(path)
            self.assertRegex(roff, r'(?m)^\.TH "?%s"? "?%s"?' % (re.escape(name.upper()), page[-1]))

    def test_every_option_of_the_daemon_is_documented(self):
        helptext = run(HOSTD, "--help", check=True).stdout
        page = read(os.path.join(BUILD, "docs", "dc-plugin-hostd.8")).replace("\\-", "-")
        opts = set(re.findall(r"--([a-z][a-z-]+)", helptext))
        self.assertGreaterEqual(len(opts), 10)
        for opt in opts:
            self.assertIn("--" + opt, page, opt)

    @unittest.skipUnless(shutil.which("systemd-analyze") and shutil.which("man"), "systemd-analyze or man missing")
    def test_unit_verifies_with_man_pages(self):
        tmp = tempfile.mkdtemp()
        try:
            for page in MAN_PAGES:
                d = os.path.join(tmp, "man", "man" + page[-1])
                os.makedirs(d, exist_ok=True)
                shutil.copy(os.path.join(BUILD, "docs", page), d)
            text = read(os.path.join(BUILD, "systemd", "dc-plugin-hostd.service"))
            text = re.sub(r"^ExecStart=.*$", "ExecStart=" + HOSTD, text, flags=re.M)
            text = re.sub(r"^(ExecReload=\+)\S+", r"\g<1>" + HOSTCTL, text, flags=re.M)
            unit = os.path.join(tmp, "dc-plugin-hostd.service")
            with open(unit, "w") as f:
                f.write(text)
            env = dict(os.environ, MANPATH=os.path.join(tmp, "man"))
            r = run("systemd-analyze", "verify", unit, env=env)
            self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))
            # and it does look: without the pages the same call fails
            r = run("systemd-analyze", "verify", unit, env=dict(env, MANPATH=os.path.join(tmp, "nothing")))
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("man dc-plugin-hostd(8)", r.stdout + r.stderr)
        finally:
            shutil.rmtree(tmp)


def completion_tables():
    text = read(COMPLETION)
    commands = re.search(r"_dc_plugin_hostctl_commands=\((.*?)\n\)", text, re.S).group(1)
    options = re.search(r"_dc_plugin_hostctl_options=\((.*?)\n\)", text, re.S).group(1)
    verbs = {line.split()[0] for line in re.findall(r'"([^"]+)"', commands)}
    opts = {re.split(r"\[?=", o)[0] for o in re.findall(r'"([^"]+)"', options)}
    return verbs, opts


class Completion(unittest.TestCase):
    def test_tables_match_help(self):
        helptext = run(HOSTCTL, "--help", check=True).stdout
        section = helptext[helptext.index("Commands:"):helptext.index("Options:")]
        help_verbs = set(re.findall(r"^  ([a-z][a-z-]*)\b", section, re.M))
        help_opts = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+|-[hH])\b", helptext[helptext.index("Options:"):]))
        verbs, opts = completion_tables()
        self.assertGreaterEqual(len(help_verbs), 14)
        self.assertEqual(sorted(help_verbs ^ verbs), [], "commands of --help vs the completion table")
        self.assertEqual(sorted(help_opts ^ opts), [], "options of --help vs the completion table")

    @unittest.skipUnless(os.path.exists("/usr/share/bash-completion/bash_completion"), "bash-completion not installed")
    def test_completes(self):
        tmp = tempfile.mkdtemp()
        try:
            # a stand-in for a running host: `list` and `show` as the real tool prints them
            stub = os.path.join(tmp, "dc-plugin-hostctl")
            with open(stub, "w") as f:
                f.write(textwrap.dedent("""\
                    #!/bin/sh
                    echo "$@" >> calls.log
                    legend=yes
                    for a; do case $a in
                    --no-legend) legend= ;;
                    list) [ -n "$legend" ] && printf '%-28s %-10s %-26s %-10s %s\\n' ID STATE REASON VERSION DIGEST
                          printf '%-28s %-10s %-26s %-10s %s\\n' hello-world loaded - 1.0.0 sha256:ab… sensor rejected not-in-allowlist 1.0.0 -
                          [ -n "$legend" ] && printf '\\n2 plugin(s).\\n'; exit 0 ;;
                    show) printf '         Id: hello-world\\n  Functions: hello_world — Greets\\n             echo — Echoes\\n     Events: tick\\n'; exit 0 ;;
                    esac; done
                    exit 1
                    """))
            os.chmod(stub, 0o755)
            os.mkdir(os.path.join(tmp, "plugin-dir"))
            open(os.path.join(tmp, "plugin.tgz"), "w").close()

            def complete(line):
                words = line.split(" ")
                script = (
                    "source /usr/share/bash-completion/bash_completion\n"
                    "source %s\n"
                    "COMP_LINE=%s; COMP_POINT=${#COMP_LINE}; COMP_WORDS=(%s); COMP_CWORD=%d\n"
                    "_dc_plugin_hostctl dc-plugin-hostctl\n"
                    'printf "%%s\\n" "${COMPREPLY[@]}"\n'
                ) % (COMPLETION, sh_quote(line), " ".join(sh_quote(w) for w in words), len(words) - 1)
                r = run("bash", "--norc", "-c", script, cwd=tmp, env=dict(os.environ, PATH=tmp + ":" + os.environ["PATH"]))
                self.assertEqual(r.returncode, 0, r.stderr)
                return set(r.stdout.split())

            verbs, _ = completion_tables()
            self.assertEqual(complete("dc-plugin-hostctl "), verbs)
            self.assertEqual(complete("dc-plugin-hostctl in"), {"install", "invoke"})
            self.assertEqual(complete("dc-plugin-hostctl --json re"), {"reload", "reload-config", "rescan", "remove"})
            self.assertEqual(complete("dc-plugin-hostctl --for"), {"--format="})
            self.assertEqual(complete("dc-plugin-hostctl --format="), {"auto", "tar.gz", "tgz", "tar", "zip"})
            self.assertEqual(complete("dc-plugin-hostctl show "), {"hello-world", "sensor"})
            self.assertEqual(complete("dc-plugin-hostctl invoke hello-world "), {"hello_world", "echo"})
            self.assertEqual(complete("dc-plugin-hostctl invoke hello-world echo "), set())
            self.assertEqual(complete("dc-plugin-hostctl install plu"), {"plugin-dir", "plugin.tgz"})
            self.assertEqual(complete("dc-plugin-hostctl --config plu"), {"plugin-dir", "plugin.tgz"})
            self.assertEqual(complete("dc-plugin-hostctl --config plugin.tgz ver"), {"verify"})
            self.assertEqual(complete("dc-plugin-hostctl status "), set())
            # optional and separate option values
            self.assertEqual(complete("dc-plugin-hostctl --json="), {"pretty", "short", "off"})
            self.assertEqual(complete("dc-plugin-hostctl --json=sh"), {"short"})
            self.assertEqual(complete("dc-plugin-hostctl --js"), {"--json"})
            self.assertEqual(complete("dc-plugin-hostctl --allow-d"), {"--allow-downgrade"})
            self.assertEqual(complete("dc-plugin-hostctl -H device1 sh"), {"show"})
            self.assertEqual(complete("dc-plugin-hostctl --timeout 5 --no-legend li"), {"list"})
            self.assertEqual(complete("dc-plugin-hostctl --content-only verify plu"), {"plugin-dir", "plugin.tgz"})
            # the running host's ids come from the one named by -H
            open(os.path.join(tmp, "calls.log"), "w").close()
            self.assertEqual(complete("dc-plugin-hostctl -H admin@device1 show "), {"hello-world", "sensor"})
            with open(os.path.join(tmp, "calls.log")) as f:
                self.assertIn("--host=admin@device1 --no-ask-password --no-legend --no-pager list", f.read())
            # ... or by --mesh and its settings; rollout's plugin comes from the --from host
            open(os.path.join(tmp, "calls.log"), "w").close()
            self.assertEqual(complete("dc-plugin-hostctl --mesh --device t1 --nats-url=nats://n:4222 unload "),
                             {"hello-world", "sensor"})
            self.assertEqual(complete("dc-plugin-hostctl --mesh rollout --from src he"), {"hello-world"})
            self.assertEqual(complete("dc-plugin-hostctl --mesh --to=t1,t2 --dry-r"), {"--dry-run"})
            self.assertEqual(complete("dc-plugin-hostctl --mesh ho"), {"hosts"})
            with open(os.path.join(tmp, "calls.log")) as f:
                calls = f.read().splitlines()
            self.assertEqual(calls, ["--mesh --device=t1 --nats-url=nats://n:4222 --no-ask-password --no-legend --no-pager list",
                                     "--mesh --device=src --no-ask-password --no-legend --no-pager list"])
        finally:
            shutil.rmtree(tmp)


def sh_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


@unittest.skipUnless(os.geteuid() == 0 or os.access(BUILD, os.W_OK), "cannot install from the build directory")
class InstallLayout(unittest.TestCase):
    """`meson install` of this build directory lands where the system reads it."""

    @classmethod
    def setUpClass(cls):
        cls.dest = tempfile.mkdtemp()
        subprocess.run(["meson", "install", "-C", BUILD, "--destdir", cls.dest, "--no-rebuild", "--quiet"],
                       check=True, capture_output=True)
        cls.prefix = build_option("prefix")
        cls.files = {"/" + os.path.relpath(os.path.join(d, f), cls.dest)
                     for d, _, fs in os.walk(cls.dest) for f in fs}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dest)

    def test_policy_goes_where_dbus_and_polkitd_read_it(self):
        # whatever the prefix (polkit-gobject-1.pc is usually absent: Debian's paths)
        for path in ("/usr/share/dbus-1/system.d/org.deviceconnect.PluginHost.conf",
                     "/usr/share/dbus-1/system-services/org.deviceconnect.PluginHost.service",
                     "/usr/share/polkit-1/actions/org.deviceconnect.pluginhost.policy"):
            self.assertIn(path, self.files)

    def test_examples_are_documentation(self):
        p = self.prefix
        live = build_option("examples-live")
        plugins = p + "/lib/dc-plugin-host/plugins"
        self.assertTrue(os.path.isdir(self.dest + plugins), "the packaged plugin root must exist (ReadOnlyPaths=)")
        in_live_root = sorted(f for f in self.files if f.startswith(plugins + "/"))
        if live:
            self.assertIn(plugins + "/hello-world/hello-world.so", in_live_root)
        else:
            self.assertEqual(in_live_root, [])
        examples = build_option("examplesdir") or p + "/share/doc/dc-plugin-host/examples"
        for name in ("hello-world", "counter", "sensor"):
            self.assertIn("%s/%s/%s.c" % (examples, name, name), self.files)
            self.assertIn("%s/%s/manifest.json" % (examples, name), self.files)
        self.assertIn(examples + "/README.md", self.files)

    def test_everything_else_follows_the_prefix(self):
        p = self.prefix
        for rel in ("/bin/dc-plugin-hostctl", "/share/bash-completion/completions/dc-plugin-hostctl",
                    "/share/dc-plugin-host/mesh-network.conf", "/share/dc-plugin-host/dc-plugin-host.conf.example",
                    "/lib/sysusers.d/dc-plugin-host.conf", "/lib/tmpfiles.d/dc-plugin-host.conf",
                    "/share/doc/dc-plugin-host/plugin-security.md"):
            self.assertIn(p + rel, self.files)
        if os.path.exists(os.path.join(BUILD, "docs", MAN_PAGES[0])):
            for page in MAN_PAGES:
                self.assertIn("%s/share/man/man%s/%s" % (p, page[-1], page), self.files)
        units = [f for f in self.files if f.endswith("/system/dc-plugin-hostd.service")]
        self.assertEqual(len(units), 1, units)
        if p != "/usr":
            self.assertEqual(units[0], p + "/lib/systemd/system/dc-plugin-hostd.service")

    def test_unit_daemon_and_tmpfiles_agree(self):
        unit = read(self.dest + [f for f in self.files if f.endswith("/dc-plugin-hostd.service")][0])
        libexec = os.path.join(self.prefix, build_option("libexecdir"))
        self.assertIn("ExecStart=%s/dc-plugin-hostd\n" % libexec, unit)
        self.assertIn("%s/dc-plugin-hostd" % libexec, self.files)
        self.assertIn("StateDirectory=dc-plugin-host\n", unit)
        self.assertIn("ConfigurationDirectory=dc-plugin-host\n", unit)
        self.assertRegex(unit, r"(?m)^ReadOnlyPaths=%s/lib/dc-plugin-host/plugins /etc/dc-plugin-host$" % re.escape(self.prefix))
        config = read(os.path.join(BUILD, "build-config.h"))
        self.assertIn('#define PKG_STATE_DIR "/var/lib/dc-plugin-host"', config)
        self.assertIn('#define PKG_CONF_DIR "/etc/dc-plugin-host"', config)
        self.assertIn('#define PKG_PLUGINS_DIR "%s/lib/dc-plugin-host/plugins"' % self.prefix, config)
        tmpfiles = read(self.dest + self.prefix + "/lib/tmpfiles.d/dc-plugin-host.conf")
        self.assertRegex(tmpfiles, r"(?m)^d /etc/dc-plugin-host 0755 root root")

    def test_other_prefixes_warn(self):
        log = read(os.path.join(BUILD, "meson-logs", "meson-log.txt"))
        warned = "prefix is %s, not /usr" % self.prefix in log
        self.assertEqual(warned, self.prefix != "/usr")


if __name__ == "__main__":
    unittest.main(verbosity=2)
