/* SPDX-License-Identifier: MIT */
/*
 * dc-plugin-hostctl: control dc-plugin-hostd over the system bus (like
 * hostnamectl), or a plugin host on the Device Connect mesh (--mesh).
 * This file: the command line, the table of commands and the exit status;
 * the commands are in hostctl-verbs.h, and with --mesh (also hosts and
 * rollout, which work on the mesh only) in hostctl-mesh.h.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "build-config.h"
#include "extract.h"
#include "hostctl-bus.h"
#include "hostctl-mesh.h"
#include "hostctl-output.h"
#include "hostctl-verbs.h"
#include "hostctl.h"
#include "log.h"
#include "plugin-id.h"

static void help(void) {
        printf("%s [OPTIONS...] COMMAND ...\n\n"
               "Query or control the Device Connect plugin host.\n\n"
               "Commands:\n"
               "  status                  Show the host's state (default)\n"
               "  list                    List plugins with state and reason\n"
               "  show ID                 Show one plugin, its functions and events\n"
               "  load ID                 Verify and load a plugin\n"
               "  unload ID               Unload a plugin (waits for running calls)\n"
               "  reload ID               Reload a plugin if its file changed\n"
               "  invoke ID FUNCTION [JSON]\n"
               "                          Call a plugin function (params: a JSON object)\n"
               "  rescan                  Re-read the plugin directories\n"
               "  reload-config           Re-read the configuration, pins and trusted keys\n"
               "  install PATH|URL        Install a plugin archive (.tar.gz, .tgz, .tar, .zip), a\n"
               "                          plugin folder (packed here) or an https:// URL (the\n"
               "                          daemon downloads it) into the plugin store\n"
               "  remove ID               Unload and delete a plugin from the plugin store\n"
               "  publish ID [VERSION]    Pack an installed plugin into the artifact store\n"
               "  artifacts               List the artifact store\n"
               "  hosts                   List the plugin hosts of the tenant (--mesh)\n"
               "  rollout PLUGIN[@VERSION]\n"
               "                          Publish a plugin on one host (--from=HOST) and\n"
               "                          install it on others (--to=HOST,... or --all) (--mesh)\n"
               "  hash FILE               Print sha256:<hex> of FILE (for the allowlist)\n"
               "  verify PATH             Run every static check on a plugin folder or .so\n"
               "                          without running plugin code (no daemon needed);\n"
               "                          with --daemon: PATH or ID, the daemon's verdict\n\n"
               "Options:\n"
               "  -h --help               Show this help\n"
               "     --version            Show the version\n"
               "     --json[=MODE]        Print JSON: pretty (without MODE), short or off\n"
               "     --no-legend          Do not print column headers, footers and context\n"
               "     --no-pager           Do not pipe the output into a pager\n"
               "     --no-ask-password    Do not ask for a password (polkit)\n"
               "  -H --host=[USER@]HOST   Operate on the plugin host of HOST, over ssh\n"
               "     --timeout=SEC        Wait SEC seconds for a reply (default: 90; 300 for\n"
               "                          install and publish; 60 over the mesh)\n"
               "     --config=FILE        verify, --mesh: read FILE instead of the system\n"
               "                          configuration\n"
               "     --content-only       verify: check the content (an author's tree, a .so or\n"
               "                          an archive), not its location, owners and modes\n"
               "     --daemon             verify: show the running daemon's verdict\n"
               "     --plugin-id=ID       install: the plugin id (default: the manifest's)\n"
               "     --digest=SHA256      install: required sha256 of the archive (sha256:<hex>)\n"
               "     --format=FORMAT      install, verify: auto, tar.gz, tgz, tar or zip\n"
               "     --no-load            install: do not load the plugin\n"
               "     --replace            install: replace an installed plugin of the same id\n"
               "     --allow-downgrade    install: permit a version older than one installed before\n"
               "     --mesh               Talk to a plugin host on the Device Connect mesh\n"
               "                          instead of the local one over D-Bus\n"
               "     --device=ID          --mesh: the target device (default: plugin-host-1)\n"
               "     --tenant=TENANT      --mesh: the tenant (default: from the credentials, else default)\n"
               "     --creds=FILE         --mesh: .creds.json or .creds (default: $MESSAGING_CREDENTIALS_FILE)\n"
               "     --nats-url=URL       --mesh: server (default: $MESSAGING_URLS, $NATS_URL, the credentials)\n"
               "     --from=HOST          rollout: the host that has the plugin\n"
               "     --to=HOST,...        rollout: the hosts to install it on\n"
               "     --all                rollout: every plugin host of the tenant\n"
               "     --parallel=N         rollout: hosts installing at once (default: 16)\n"
               "     --keep-going         rollout: go on after a host failed\n"
               "     --dry-run            rollout: show what would be done, change nothing\n"
               "\nExit status: 0 success, 1 failure, 2 invalid command line, 3 the daemon is not\n"
               "running, 4 access denied, 5 no such plugin, 6 the plugin is refused; with\n"
               "--mesh, 1 for every failure and 2 for an invalid command line.\n"
               "The system bus is $DBUS_SYSTEM_BUS_ADDRESS if set.  See dc-plugin-hostctl(1).\n",
               program_invocation_short_name);
}

typedef struct Options {
        JsonFormat json;
        bool legend, pager;
} Options;

/* 1: go on; 0: done (--help, --version); < 0: invalid (after a message). */
static int parse_argv(int argc, char *argv[], HostctlArgs *a, Options *o) {
        enum { ARG_VERSION = 0x100, ARG_JSON, ARG_NO_LEGEND, ARG_NO_PAGER, ARG_NO_ASK, ARG_TIMEOUT, ARG_CONFIG,
               ARG_CONTENT_ONLY, ARG_DAEMON, ARG_PLUGIN_ID, ARG_DIGEST, ARG_FORMAT, ARG_NO_LOAD, ARG_REPLACE,
               ARG_ALLOW_DOWNGRADE, ARG_MESH, ARG_DEVICE, ARG_TENANT, ARG_CREDS, ARG_NATS_URL, ARG_FROM, ARG_TO,
               ARG_ALL, ARG_PARALLEL, ARG_KEEP_GOING, ARG_DRY_RUN };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "json", optional_argument, NULL, ARG_JSON },
                { "no-legend", no_argument, NULL, ARG_NO_LEGEND },
                { "no-pager", no_argument, NULL, ARG_NO_PAGER },
                { "no-ask-password", no_argument, NULL, ARG_NO_ASK },
                { "host", required_argument, NULL, 'H' },
                { "timeout", required_argument, NULL, ARG_TIMEOUT },
                { "config", required_argument, NULL, ARG_CONFIG },
                { "content-only", no_argument, NULL, ARG_CONTENT_ONLY },
                { "daemon", no_argument, NULL, ARG_DAEMON },
                { "plugin-id", required_argument, NULL, ARG_PLUGIN_ID },
                { "digest", required_argument, NULL, ARG_DIGEST },
                { "format", required_argument, NULL, ARG_FORMAT },
                { "no-load", no_argument, NULL, ARG_NO_LOAD },
                { "replace", no_argument, NULL, ARG_REPLACE },
                { "allow-downgrade", no_argument, NULL, ARG_ALLOW_DOWNGRADE },
                { "mesh", no_argument, NULL, ARG_MESH },
                { "device", required_argument, NULL, ARG_DEVICE },
                { "tenant", required_argument, NULL, ARG_TENANT },
                { "creds", required_argument, NULL, ARG_CREDS },
                { "nats-url", required_argument, NULL, ARG_NATS_URL },
                { "from", required_argument, NULL, ARG_FROM },
                { "to", required_argument, NULL, ARG_TO },
                { "all", no_argument, NULL, ARG_ALL },
                { "parallel", required_argument, NULL, ARG_PARALLEL },
                { "keep-going", no_argument, NULL, ARG_KEEP_GOING },
                { "dry-run", no_argument, NULL, ARG_DRY_RUN },
                {}
        };
        int c, r;

        while ((c = getopt_long(argc, argv, "hH:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("dc-plugin-hostctl %s\n", PACKAGE_VERSION);
                        return 0;
                case ARG_JSON:
                        r = optarg ? json_format_from_string(optarg) : JSON_FORMAT_PRETTY;
                        if (r < 0)
                                return log_error_errno(EINVAL, "Unknown --json=%s: expected pretty, short or off.", optarg);
                        o->json = r;
                        break;
                case ARG_NO_LEGEND:
                        o->legend = false;
                        break;
                case ARG_NO_PAGER:
                        o->pager = false;
                        break;
                case ARG_NO_ASK:
                        a->ask_password = false;
                        break;
                case 'H':
                        if (isempty(optarg) || optarg[0] == '-')
                                return log_error_errno(EINVAL, "Invalid -H/--host=\"%s\": expected [USER@]HOST.", optarg);
                        a->host = optarg;
                        break;
                case ARG_TIMEOUT: {
                        char *end;
                        errno = 0;
                        unsigned long sec = strtoul(optarg, &end, 10);
                        if (errno || *end || end == optarg || sec == 0 || sec > 3600)
                                return log_error_errno(EINVAL, "Invalid --timeout=%s: seconds, 1-3600.", optarg);
                        a->timeout_usec = (uint64_t) sec * 1000000;
                        break;
                }
                case ARG_CONFIG:
                        a->config = optarg;
                        break;
                case ARG_CONTENT_ONLY:
                        a->content_only = true;
                        break;
                case ARG_DAEMON:
                        a->daemon = true;
                        break;
                case ARG_PLUGIN_ID:
                        a->plugin_id = optarg;
                        break;
                case ARG_DIGEST:
                        a->digest = optarg;
                        break;
                case ARG_FORMAT: {
                        PackageFormat f;
                        if (package_format_from_string(optarg, &f) < 0)
                                return log_error_errno(EINVAL, "Unknown archive format \"%s\": expected auto, tar.gz, "
                                                               "tgz, tar or zip.", optarg);
                        a->format = optarg;
                        break;
                }
                case ARG_NO_LOAD:
                        a->load = false;
                        break;
                case ARG_REPLACE:
                        a->replace = true;
                        break;
                case ARG_ALLOW_DOWNGRADE:
                        a->allow_downgrade = true;
                        break;
                case ARG_MESH:
                        a->mesh = true;
                        break;
                case ARG_DEVICE:
                        a->device = optarg;
                        break;
                case ARG_TENANT:
                        a->tenant = optarg;
                        break;
                case ARG_CREDS:
                        a->creds = optarg;
                        break;
                case ARG_NATS_URL:
                        a->nats_url = optarg;
                        break;
                case ARG_FROM:
                        if (isempty(optarg))
                                return log_error_errno(EINVAL, "Invalid --from=: expected a device id.");
                        a->from = optarg;
                        break;
                case ARG_TO:
                        a->to = optarg;
                        break;
                case ARG_ALL:
                        a->all = true;
                        break;
                case ARG_PARALLEL: {
                        char *end;
                        errno = 0;
                        unsigned long n = strtoul(optarg, &end, 10);
                        if (errno || *end || end == optarg || n == 0 || n > 256)
                                return log_error_errno(EINVAL, "Invalid --parallel=%s: 1-256.", optarg);
                        a->parallel = (unsigned) n;
                        break;
                }
                case ARG_KEEP_GOING:
                        a->keep_going = true;
                        break;
                case ARG_DRY_RUN:
                        a->dry_run = true;
                        break;
                default: /* getopt said what was wrong */
                        return -EINVAL;
                }
        if (a->mesh && a->host)
                return log_error_errno(EINVAL, "--mesh and -H/--host exclude each other.");
        if (a->daemon && a->content_only)
                return log_error_errno(EINVAL, "--daemon and --content-only exclude each other.");
        return 1;
}

typedef enum VerbFlags {
        VERB_BUS = 1 << 0,   /* talks to the daemon */
        VERB_LOCAL = 1 << 1, /* reads local files only: not with -H */
        VERB_MESH = 1 << 2,  /* only with --mesh (no run function) */
} VerbFlags;

typedef struct Verb {
        const char *name;
        int min, max;
        VerbFlags flags;
        int (*run)(Hostctl *c, char **args, int n);
} Verb;

static const Verb verbs[] = {
        { "status", 0, 0, VERB_BUS, verb_status },
        { "list", 0, 0, VERB_BUS, verb_list },
        { "show", 1, 1, VERB_BUS, verb_show },
        { "load", 1, 1, VERB_BUS, verb_load },
        { "unload", 1, 1, VERB_BUS, verb_unload },
        { "reload", 1, 1, VERB_BUS, verb_reload },
        { "invoke", 2, 3, VERB_BUS, verb_invoke },
        { "rescan", 0, 0, VERB_BUS, verb_rescan },
        { "reload-config", 0, 0, VERB_BUS, verb_reload_config },
        { "install", 1, 1, VERB_BUS, verb_install },
        { "remove", 1, 1, VERB_BUS, verb_remove },
        { "publish", 1, 2, VERB_BUS, verb_publish },
        { "artifacts", 0, 0, VERB_BUS, verb_artifacts },
        { "hosts", 0, 0, VERB_MESH, NULL },
        { "rollout", 1, 1, VERB_MESH, NULL },
        { "hash", 1, 1, VERB_LOCAL, verb_hash },
        { "verify", 1, 1, VERB_LOCAL, verb_verify },
};

/* The fleet options belong to rollout, which needs a source and either
 * targets or --all.  0, or an exit status after a message. */
static int check_rollout(const HostctlArgs *a, const char *name, char **args) {
        bool rollout = streq(name, "rollout");
        if (!rollout && (a->from || a->to || a->all || a->parallel || a->keep_going || a->dry_run)) {
                log_error("--from, --to, --all, --parallel, --keep-going and --dry-run apply to rollout only.");
                return HOSTCTL_EXIT_USAGE;
        }
        if (!rollout)
                return 0;
        if (!a->from) {
                log_error("rollout needs --from=HOST, the host that has the plugin.");
                return HOSTCTL_EXIT_USAGE;
        }
        if (!a->to == !a->all) {
                log_error("rollout needs either --to=HOST,… or --all.");
                return HOSTCTL_EXIT_USAGE;
        }
        _cleanup_free_ char *id = strndup(args[0], strcspn(args[0], "@"));
        if (!id)
                return log_oom();
        if (!plugin_id_is_valid(id)) {
                log_error("Invalid plugin id \"%s\" in \"%s\": expected PLUGIN[@VERSION].", id, args[0]);
                return HOSTCTL_EXIT_USAGE;
        }
        return 0;
}

static int run(int argc, char *argv[]) {
        HostctlArgs a = { .ask_password = true, .load = true };
        Options o = { .json = JSON_FORMAT_OFF, .legend = true, .pager = true };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        const Verb *verb = NULL;
        int r = parse_argv(argc, argv, &a, &o);
        if (r <= 0)
                return r == 0 ? HOSTCTL_EXIT_SUCCESS : HOSTCTL_EXIT_USAGE;

        const char *name = optind < argc ? argv[optind] : "status";
        int nargs = optind < argc ? argc - optind - 1 : 0;
        char **args = argv + optind + 1;
        for (size_t i = 0; i < ELEMENTSOF(verbs) && !verb; i++)
                if (streq(verbs[i].name, name))
                        verb = &verbs[i];
        if (!verb) {
                log_error("Unknown command \"%s\"; see --help.", name);
                return HOSTCTL_EXIT_USAGE;
        }
        if (nargs < verb->min || nargs > verb->max) {
                log_error("\"%s\" takes %s%d argument(s); see --help.", name, verb->min == verb->max ? "" : "up to ",
                          verb->max);
                return HOSTCTL_EXIT_USAGE;
        }
        bool daemon_verify = verb->run == verb_verify && a.daemon;
        if (a.host && (verb->flags & VERB_LOCAL) && !daemon_verify) {
                log_error("\"%s\" reads local files; -H/--host does not apply%s.", name,
                          verb->run == verb_verify ? " (verify --daemon asks the daemon on HOST)" : "");
                return HOSTCTL_EXIT_USAGE;
        }
        if ((verb->flags & VERB_MESH) && !a.mesh) {
                log_error("\"%s\" works on the mesh: add --mesh.", name);
                return HOSTCTL_EXIT_USAGE;
        }
        r = check_rollout(&a, name, args);
        if (r != 0)
                return r;
        output_setup(o.json, o.legend, o.pager);

        if (a.mesh) {
                r = hostctl_mesh(&a, name, nargs, args);
                return r < 0 ? HOSTCTL_EXIT_FAILURE : r;
        }
        Hostctl c = { .arg = &a };
        if ((verb->flags & VERB_BUS) || daemon_verify) {
                r = hostctl_bus_open(&a, &bus);
                if (r != 0)
                        return r;
                c.bus = bus;
        }
        r = daemon_verify ? verb_verify_daemon(&c, args, nargs) : verb->run(&c, args, nargs);
        return r < 0 ? HOSTCTL_EXIT_FAILURE : r;
}

int main(int argc, char *argv[]) {
        log_set_target(LOG_TARGET_CONSOLE);
        int r = run(argc, argv);
        output_end();
        return r;
}
