/* SPDX-License-Identifier: MIT */
/* dc-plugin-hostd: the Device Connect plugin host daemon. */
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "build-config.h"
#include "bus-manager.h"
#include "dc-plugin-host/plugin.h"
#include "check.h"
#include "config.h"
#include "host.h"
#include "log.h"
#include "memory-trim.h"
#include "mesh.h"
#include "names.h"
#include "ops.h"
#include "strv.h"


typedef struct Args {
        const char *config_file;
        char **plugin_dirs; /* --plugin-dir, replaces the configured read-only roots */
        const char *state_dir;
        char **settings;    /* --set KEY=VALUE */
        bool check;
        bool json;
        bool allow_unverified;
        bool no_auto_load;
        bool no_bus;
        const char *bus_introspect;
        uint64_t timed_exit_usec;
} Args;

static void help(void) {
        printf("%s [OPTIONS...]\n\n"
               "Device Connect plugin host: loads verified C plugins and serves them over\n"
               "D-Bus and the Device Connect mesh.\n\n"
               "  -h --help                    Show this help and exit\n"
               "     --version                 Show the version and exit\n"
               "     --config=FILE             Read FILE instead of %s/dc-plugin-host.conf\n"
               "     --plugin-dir=DIR          Scan DIR (repeatable); replaces the configured\n"
               "                               read-only plugin directories\n"
               "     --state-dir=DIR           Keep installed plugins and state in DIR\n"
               "     --set=KEY=VALUE           Override one configuration setting\n"
               "     --check                   Verify every plugin directory, the store and every\n"
               "                               plugin without running plugin code, as the service\n"
               "                               user would; print the verdicts and exit (1 if\n"
               "                               anything is refused)\n"
               "     --json                    With --check: print JSON\n"
               "     --allow-unverified-plugins\n"
               "                               Permit permissive signature mode (development)\n"
               "     --no-auto-load            Do not load plugins at start-up\n"
               "     --no-bus                  Do not connect to the system bus\n"
               "     --bus-introspect=INTERFACE\n"
               "                               Print the D-Bus introspection XML of INTERFACE\n"
               "     --log-target=TARGET       auto, console, journal or null\n"
               "     --log-level=LEVEL         emerg … debug (default: info)\n"
               "\nEnvironment: DC_PLUGIN_SIGNATURES, DC_PLUGIN_CAPABILITIES_DIR,\n"
               "DC_PLUGIN_HOST_CONFIG.  See dc-plugin-hostd(8).\n",
               program_invocation_short_name, PKG_CONF_DIR);
}

enum {
        ARG_VERSION = 0x100,
        ARG_CONFIG,
        ARG_PLUGIN_DIR,
        ARG_STATE_DIR,
        ARG_SET,
        ARG_CHECK,
        ARG_JSON,
        ARG_ALLOW_UNVERIFIED,
        ARG_NO_AUTO_LOAD,
        ARG_LOG_TARGET,
        ARG_LOG_LEVEL,
        ARG_TIMED_EXIT,
        ARG_NO_BUS,
        ARG_BUS_INTROSPECT,
};

static int parse_argv(int argc, char *argv[], Args *a) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "config", required_argument, NULL, ARG_CONFIG },
                { "plugin-dir", required_argument, NULL, ARG_PLUGIN_DIR },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "set", required_argument, NULL, ARG_SET },
                { "check", no_argument, NULL, ARG_CHECK },
                { "json", no_argument, NULL, ARG_JSON },
                { "allow-unverified-plugins", no_argument, NULL, ARG_ALLOW_UNVERIFIED },
                { "no-auto-load", no_argument, NULL, ARG_NO_AUTO_LOAD },
                { "log-target", required_argument, NULL, ARG_LOG_TARGET },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                { "timed-exit", required_argument, NULL, ARG_TIMED_EXIT }, /* tests */
                { "no-bus", no_argument, NULL, ARG_NO_BUS },
                { "bus-introspect", required_argument, NULL, ARG_BUS_INTROSPECT },
                {}
        };
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("dc-plugin-hostd %s (plugin API level %u)\n", PACKAGE_VERSION, DC_PLUGIN_ABI_MAJOR);
                        return 0;
                case ARG_CONFIG:
                        a->config_file = optarg;
                        break;
                case ARG_PLUGIN_DIR:
                        if (strv_extend(&a->plugin_dirs, optarg) < 0)
                                return log_oom();
                        break;
                case ARG_STATE_DIR:
                        a->state_dir = optarg;
                        break;
                case ARG_SET:
                        if (!strchr(optarg, '='))
                                return log_error_errno(EINVAL, "--set expects KEY=VALUE, got \"%s\"", optarg);
                        if (strv_extend(&a->settings, optarg) < 0)
                                return log_oom();
                        break;
                case ARG_CHECK:
                        a->check = true;
                        break;
                case ARG_JSON:
                        a->json = true;
                        break;
                case ARG_ALLOW_UNVERIFIED:
                        a->allow_unverified = true;
                        break;
                case ARG_NO_AUTO_LOAD:
                        a->no_auto_load = true;
                        break;
                case ARG_NO_BUS:
                        a->no_bus = true;
                        break;
                case ARG_BUS_INTROSPECT: {
                        _cleanup_free_ char *xml = NULL;
                        r = bus_introspect_interface(optarg, &xml);
                        if (r == -ENOENT)
                                return log_error_errno(ENOENT, "Unknown interface \"%s\"", optarg);
                        if (r < 0)
                                return log_error_errno(r, "Failed to introspect %s: %m", optarg);
                        fputs(xml, stdout);
                        return 0;
                }
                case ARG_LOG_TARGET:
                        r = log_target_from_string(optarg);
                        if (r < 0)
                                return log_error_errno(EINVAL, "Unknown log target \"%s\"", optarg);
                        log_set_target(r);
                        break;
                case ARG_LOG_LEVEL:
                        r = log_level_from_string(optarg);
                        if (r < 0)
                                return log_error_errno(EINVAL, "Unknown log level \"%s\"", optarg);
                        log_set_max_level(r);
                        break;
                case ARG_TIMED_EXIT: {
                        uint64_t ms;
                        if (parse_size(optarg, &ms) < 0)
                                return log_error_errno(EINVAL, "Invalid --timed-exit value \"%s\"", optarg);
                        a->timed_exit_usec = ms * 1000000;
                        break;
                }
                case '?':
                        return -EINVAL;
                default:
                        return -EINVAL;
                }
        if (optind < argc)
                return log_error_errno(EINVAL, "%s takes no positional arguments (got \"%s\")",
                                       program_invocation_short_name, argv[optind]);
        if (a->json && !a->check)
                return log_error_errno(EINVAL, "--json needs --check");
        return 1;
}

static int build_config(const Args *a, HostConfig *c) {
        const char *file = a->config_file ? a->config_file : getenv(DC_ENV_CONFIG);
        int r;

        r = host_config_init(c);
        if (r < 0)
                return log_oom();
        r = host_config_load_file(c, file ? file : PKG_CONF_DIR "/dc-plugin-host.conf");
        if (r == -ENOENT && file)
                return log_error_errno(ENOENT, "Configuration file %s does not exist", file);
        if (r < 0 && r != -ENOENT)
                return r;
        r = host_config_load_env(c);
        if (r < 0)
                return log_oom();
        if (a->state_dir && host_config_set(c, "StateDirectory", a->state_dir) < 0)
                return log_oom();
        for (char **s = a->settings; s && *s; s++) {
                _cleanup_free_ char *key = strndup(*s, strcspn(*s, "="));
                if (!key)
                        return log_oom();
                r = host_config_set(c, key, *s + strlen(key) + 1);
                if (r == -ENOKEY)
                        return log_error_errno(EINVAL, "Unknown setting \"%s\"", key);
                if (r < 0)
                        return log_error_errno(EINVAL, "Invalid value in --set=%s", *s);
        }
        if (a->plugin_dirs) {
                strv_free(c->plugin_dirs);
                c->plugin_dirs = strv_copy(a->plugin_dirs);
                if (!c->plugin_dirs)
                        return log_oom();
        }
        if (a->allow_unverified)
                c->allow_unverified = true;
        if (a->no_auto_load)
                c->auto_load = false;
        host_config_warn(c);
        return 0;
}

/* Hostile callers send large messages that are freed at once: glibc would
 * raise its mmap threshold after the first one and keep the next ones in
 * heaps that never shrink (RSS that malformed input never gives back).  A
 * fixed threshold maps every large buffer on its own and returns it; two
 * arenas bound what the delivery and worker threads keep. */
static void tune_malloc(void) {
        (void) mallopt(M_MMAP_THRESHOLD, 128 * 1024);
        (void) mallopt(M_TRIM_THRESHOLD, 256 * 1024);
        (void) mallopt(M_ARENA_MAX, 2);
}

/* Bus messages may each carry fds (bus-manager.c budgets them): use the
 * hard limit the service manager grants (LimitNOFILE= in the unit). */
static void raise_nofile_limit(void) {
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
                return;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                log_debug("Cannot raise RLIMIT_NOFILE to %llu: %m", (unsigned long long) rl.rlim_max);
}

/* sd-bus synthesises org.freedesktop.DBus.Local.Disconnected when the bus
 * drops us.  A daemon without its bus is useless and would never be
 * restarted: exit with a failure so that Restart= applies. */
static int on_bus_message(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        if (!sd_bus_message_is_signal(m, "org.freedesktop.DBus.Local", "Disconnected"))
                return 0;
        log_error("Lost the connection to the system bus; exiting so that the service manager restarts the daemon");
        return sd_event_exit(userdata, -ECONNRESET);
}

static int read_config(HostConfig *fresh, void *userdata) {
        return build_config(userdata, fresh);
}

static void on_sighup_reloaded(const OpResult *res, void *userdata) {
        if (res->error < 0)
                log_struct(LOG_ERR, res->error, NULL, LOG_FIELDS(LF("DC_REASON", reason_to_string(res->reason))),
                           "Reloading the configuration failed: %s", res->message);
        (void) sd_notify(false, "READY=1\nSTATUS=Processing requests");
}

/* SIGHUP (ExecReload=): as the ReloadConfiguration method. */
static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        (void) sd_notifyf(false, "RELOADING=1\nSTATUS=Reloading configuration...\nMONOTONIC_USEC=%llu",
                          (unsigned long long) ts.tv_sec * 1000000ull + (unsigned long long) ts.tv_nsec / 1000);
        OpRequest req = {
                .kind = OP_RELOAD_CONFIG,
                .caller = { .front_end = "signal", .id = "SIGHUP", .share = "uid:0" },
        };
        ops_run(userdata, &req, on_sighup_reloaded, NULL);
        return 0;
}

/* ---- shutdown: answer callers, unload every plugin, bounded in time ---- */

typedef struct Shutdown {
        sd_event *event;
        Host *host;
        Ops *ops;
        BusManager *manager;
        sd_event_source *deadline;
        bool begun, stuck;
} Shutdown;

static void on_host_stopped(Host *h, int error, void *userdata) {
        Shutdown *s = userdata;
        s->deadline = sd_event_source_disable_unref(s->deadline);
        (void) sd_event_exit(s->event, 0);
}

/* Plugin code that does not return (a handler, init() or cleanup() of an
 * in-process plugin) cannot hold up the stop: say which, and go. */
static int on_stop_deadline(sd_event_source *src, uint64_t usec, void *userdata) {
        Shutdown *s = userdata;
        _cleanup_free_ char *busy = host_busy_plugins(s->host);
        s->stuck = true;
        s->deadline = sd_event_source_disable_unref(s->deadline);
        log_struct(LOG_ERR, 0, NULL, LOG_FIELDS(LF("DC_PLUGINS", busy)),
                   "Plugins did not stop in time (%s); exiting without waiting for them", isempty(busy) ? "?" : busy);
        return sd_event_exit(s->event, 0);
}

static void begin_shutdown(Shutdown *s) {
        if (s->begun)
                return;
        s->begun = true;
        (void) sd_notify(false, "STOPPING=1\nSTATUS=Shutting down...");
        if (s->manager)
                bus_manager_set_state(s->manager, MANAGER_STATE_STOPPING);
        log_struct(LOG_INFO, 0, DC_MESSAGE_DAEMON_STOPPING, LOG_NO_FIELDS, "dc-plugin-hostd stopping");
        /* Callers first (nothing new is accepted), then the plugins. */
        ops_shutdown(s->ops);
        uint64_t limit = host_config(s->host)->stop_timeout_usec + 2 * 1000 * 1000;
        if (sd_event_add_time_relative(s->event, &s->deadline, CLOCK_MONOTONIC, limit, 0, on_stop_deadline, s) < 0)
                s->stuck = true;
        host_shutdown(s->host, on_host_stopped, s);
}

static int on_terminate(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata) {
        begin_shutdown(userdata);
        return 0;
}

static int on_timed_exit(sd_event_source *src, uint64_t usec, void *userdata) {
        begin_shutdown(userdata);
        return 0;
}

static Shutdown shutdown_state;

static int run(int argc, char *argv[]) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(host_freep) Host *host = NULL;
        _cleanup_(ops_freep) Ops *ops = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        BusManager *manager = NULL;
        Mesh *mesh = NULL;
        Args a = {};
        HostConfig config;
        int r;

        r = parse_argv(argc, argv, &a);
        if (r <= 0)
                goto finish_args;
        /* Config first, so a bad file never half-starts the daemon. */
        r = build_config(&a, &config);
        if (r < 0)
                goto finish_args;

        umask(0022);
        if (!a.check)
                (void) log_writer_start();
        raise_nofile_limit();
        tune_malloc();
        /* Before any thread exists: the event loop takes these via signalfd. */
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGCHLD); /* plugin worker processes (sd-event child sources) */
        sigprocmask(SIG_BLOCK, &mask, NULL);
        r = sd_event_default(&event);
        if (r < 0) {
                log_error_errno(r, "Failed to allocate event loop: %m");
                goto finish;
        }
        r = memory_trim_attach(event);
        if (r < 0) {
                log_error_errno(r, "Failed to set up the memory trim timer: %m");
                goto finish;
        }
        r = host_new(event, &config, &host);
        if (r < 0) {
                log_error_errno(r, "Failed to set up the plugin host: %m");
                goto finish;
        }
        r = ops_new(host, &config, &ops);
        if (r < 0) {
                log_error_errno(r, "Failed to set up the plugin host: %m");
                goto finish;
        }
        ops_set_config_source(ops, &config, read_config, &a);
        if (a.check) {
                /* the file build_config() read */
                const char *file = a.config_file ? a.config_file : getenv(DC_ENV_CONFIG);
                r = check_run(host, &config, file ? file : PKG_CONF_DIR "/dc-plugin-host.conf", a.json);
                goto finish;
        }

        log_struct(LOG_INFO, 0, DC_MESSAGE_DAEMON_STARTED, LOG_FIELDS(LF("DC_VERSION", PACKAGE_VERSION)),
                   "dc-plugin-hostd %s starting", PACKAGE_VERSION);
        (void) sd_event_set_watchdog(event, true);
        shutdown_state = (Shutdown){ .event = event, .host = host, .ops = ops };
        r = sd_event_add_signal(event, NULL, SIGTERM, on_terminate, &shutdown_state);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGINT, on_terminate, &shutdown_state);
        if (r < 0) {
                log_error_errno(r, "Failed to install signal handlers: %m");
                goto finish;
        }
        r = sd_event_add_signal(event, NULL, SIGHUP, on_sighup, ops);
        if (r < 0) {
                log_error_errno(r, "Failed to install the SIGHUP handler: %m");
                goto finish;
        }
        if (a.timed_exit_usec > 0)
                (void) sd_event_add_time_relative(event, NULL, CLOCK_MONOTONIC, a.timed_exit_usec, 0, on_timed_exit,
                                                  &shutdown_state);

        if (!a.no_bus) {
                r = sd_bus_open_system(&bus);
                if (r < 0) {
                        log_error_errno(r, "Failed to connect to the system bus: %m (use --no-bus to run without D-Bus)");
                        goto finish;
                }
                BusSettings bs = {
                        .max_pending_authorizations = config.bus.max_pending_authorizations,
                        .max_pending_authorizations_per_caller = config.bus.max_pending_authorizations_per_caller,
                        .max_pending_authorization_bytes = config.bus.max_pending_authorization_bytes,
                        .polkit_timeout_usec = config.bus.polkit_timeout_usec,
                };
                r = sd_bus_add_filter(bus, NULL, on_bus_message, event);
                if (r >= 0)
                        r = bus_manager_new(bus, host, ops, &bs, &manager);
                if (r >= 0)
                        r = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
                /* Not closed when the loop exits: the shutdown below still
                 * answers what is pending, then flushes (the cleanup). */
                if (r >= 0)
                        r = sd_bus_set_close_on_exit(bus, false);
                if (r < 0) {
                        log_error_errno(r, "Failed to set up the D-Bus API: %m");
                        goto finish;
                }
        }

        /* Connected before the plugins load, so the device shows up on the
         * mesh at once; requests wait for the event loop. */
        if (mesh_configured(&config)) {
                r = mesh_new(event, host, ops, &config, &mesh);
                if (r < 0) {
                        log_error_errno(r, "Failed to start the mesh front end: %m");
                        goto finish;
                }
        } else if (a.no_bus)
                log_warning("Neither D-Bus nor a mesh server: nothing will reach this daemon");

        shutdown_state.manager = manager;
        r = host_start(host);
        if (r < 0) {
                log_error_errno(r, "Failed to start the plugin system: %m");
                goto finish;
        }
        /* READY=1 once the initial plugins are started (in threads and
         * workers, each bounded by InitTimeoutSec=); front ends answer meanwhile. */
        while (host_n_starting(host) > 0 && sd_event_get_state(event) != SD_EVENT_FINISHED) {
                r = sd_event_run(event, UINT64_MAX);
                if (r < 0) {
                        log_error_errno(r, "Event loop failed: %m");
                        goto finish;
                }
        }
        if (sd_event_get_state(event) == SD_EVENT_FINISHED || shutdown_state.begun) {
                /* stopped while starting (SIGTERM, or the bus went away) */
                int code = 0;
                if (sd_event_get_exit_code(event, &code) >= 0 && code < 0)
                        r = code;
                goto finish;
        }
        log_info("%zu plugin(s) loaded", host_n_loaded(host));
        /* The name last: a client that waits for it finds the plugins loaded
         * (as systemd's D-Bus activation and BusName= expect). */
        if (manager) {
                r = bus_manager_request_name(manager);
                if (r < 0)
                        goto finish;
        }
        if (mesh && !ops_policy_verifies_code(host_policy(host))) {
                if (config.mesh.allow_unverified_installs)
                        log_warning("WARNING: the trust policy is permissive and AllowUnverifiedMeshInstalls=yes: "
                                    "anyone with a credential for tenant %s can run code on this host as its service "
                                    "user. Pin digests or require signatures.",
                                    mesh_tenant(mesh));
                else
                        log_notice("The trust policy is permissive: installs and loads from the mesh are refused "
                                   "(pin digests or require signatures; AllowUnverifiedMeshInstalls=yes overrides)");
        }
        /* After the initial load, so the first advertisement lists the plugins. */
        if (mesh) {
                r = mesh_start(mesh);
                if (r < 0) {
                        log_error_errno(r, "Failed to start the mesh front end: %m");
                        goto finish;
                }
        }
        if (manager)
                bus_manager_set_state(manager, MANAGER_STATE_RUNNING);
        (void) sd_notifyf(false, "READY=1\nSTATUS=Processing requests (%zu plugin(s) loaded%s%s)", host_n_loaded(host),
                          mesh ? ", mesh device " : "", mesh ? mesh_device_id(mesh) : "");
        r = sd_event_loop(event);
        if (r < 0)
                log_error_errno(r, "Event loop failed: %m");
finish:
        /* Answer what is still running while the front ends can reply; then
         * the front ends (they listen to the host), then the host. */
        if (ops)
                ops_shutdown(ops);
        mesh = mesh_free(mesh);
        manager = bus_manager_free(manager);
        if (bus)
                (void) sd_bus_flush(bus); /* the answers above, before waiting for the plugins */
        /* An early exit (a start-up error) still stops the plugins in order. */
        if (host && ops && !host_idle(host) && sd_event_get_state(event) != SD_EVENT_FINISHED) {
                begin_shutdown(&shutdown_state);
                while (!host_idle(host) && sd_event_get_state(event) != SD_EVENT_FINISHED)
                        if (sd_event_run(event, UINT64_MAX) < 0)
                                break;
        }
        if (host && (host_stuck(host) || shutdown_state.stuck || !host_idle(host))) {
                /* Threads still in plugin code use the host: no freeing under them. */
                log_flush();
                _exit(r < 0 ? EXIT_FAILURE : EXIT_SUCCESS);
        }
        host = host_free(host);
        ops = ops_free(ops);
        memory_trim_detach();
        host_config_done(&config);
        log_writer_stop();
finish_args:
        strv_free(a.plugin_dirs);
        strv_free(a.settings);
        return r;
}

int main(int argc, char *argv[]) {
        int r = run(argc, argv);
        if (r == -EPERM)
                return 1; /* --check refused a plugin, a directory or the store */
        return r < 0 ? 1 : 0;
}
