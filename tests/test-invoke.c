/* SPDX-License-Identifier: MIT */
/*
 * Invocation: params validated against the declared schema, handlers on the
 * bounded worker pool, timeouts, serialisation, busy limits, events, and
 * the example plugins end to end.
 */
#include <glib.h>
#include <time.h>

#include "json-util.h"
#include "strv.h"
#include "test-util.h"

static void install_examples(TuHost *t) {
        const char *names[] = {"hello-world", "counter", "sensor"};
        for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
                g_autofree char *so = tu_example_plugin(names[i]);
                g_autofree char *dirname = g_path_get_dirname(so);
                g_autofree char *mf = g_build_filename(dirname, "manifest.json", NULL);
                g_autofree char *manifest = NULL;
                g_assert_true(g_file_get_contents(mf, &manifest, NULL, NULL));
                tu_install(t->root, names[i], so, manifest);
        }
}

static void start_examples(TuHost *t) {
        tu_host_init(t);
        install_examples(t);
        g_assert_cmpint(tu_host_start(t), ==, 0);
        g_assert_cmpuint(host_n_loaded(t->host), ==, 3);
}

/* The fixture of most cases: the three examples loaded. */
static void fixture_examples(TuHost *t, gconstpointer data) {
        start_examples(t);
}

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static void test_examples(TuHost *t, gconstpointer data) {
        g_autofree char *r1 = NULL, *r2 = NULL, *r3 = NULL, *r4 = NULL, *r5 = NULL, *r6 = NULL, *r7 = NULL;
        g_assert_cmpint(tu_invoke(t, "hello-world", "hello_world", "{\"name\":\"Ada\"}", &r1, NULL), ==, 0);
        g_assert_cmpstr(r1, ==, "{\"message\":\"Hello, Ada!\"}");
        g_assert_cmpint(tu_invoke(t, "hello-world", "hello_world", NULL, &r2, NULL), ==, 0);
        g_assert_cmpstr(r2, ==, "{\"message\":\"Hello, world!\"}");
        g_assert_cmpint(tu_invoke(t, "hello-world", "echo", "{\"a\":[1,2,{\"b\":null}],\"s\":\"\\u00e9\"}", &r3, NULL),
                        ==, 0);
        g_assert_cmpstr(r3, ==, "{\"a\":[1,2,{\"b\":null}],\"s\":\"\\u00e9\"}");
        g_assert_cmpint(tu_invoke(t, "counter", "increment", "{\"by\":5}", &r4, NULL), ==, 0);
        g_assert_cmpstr(r4, ==, "{\"count\":5}");
        g_assert_cmpint(tu_invoke(t, "counter", "get", "{}", &r5, NULL), ==, 0);
        g_assert_cmpstr(r5, ==, "{\"count\":5}");
        g_assert_cmpint(tu_invoke(t, "sensor", "read",
                                  "{\"channel\":2,\"scale\":2.0,\"calibrated\":false,\"tags\":[\"a\",\"b\"]}", &r6,
                                  NULL),
                        ==, 0);
        g_assert_cmpstr(r6, ==, "{\"channel\":2,\"value\":42.250,\"calibrated\":false,\"unit\":\"C\"}");
        g_assert_cmpint(tu_invoke(t, "sensor", "stats", "{}", &r7, NULL), ==, 0);
        g_assert_cmpstr(r7, ==, "{\"reads\":1}");
}

/* Every class of bad params gets InvalidParams with a specific message. */
static void test_params_validation(TuHost *t, gconstpointer data) {
        static const struct {
                const char *plugin, *fn, *params, *message;
        } cases[] = {
                {"sensor", "read", "{}", "params: missing required key \"channel\""},
                {"sensor", "read", "{\"channel\":\"2\"}", "params.channel: expected integer"},
                {"sensor", "read", "{\"channel\":2.5}", "params.channel: expected integer"},
                {"sensor", "read", "{\"channel\":9}", "params.channel: must be <= 7"},
                {"sensor", "read", "{\"channel\":-1}", "params.channel: must be >= 0"},
                {"sensor", "read", "{\"channel\":1,\"calibrated\":\"yes\"}", "params.calibrated: expected boolean"},
                {"sensor", "read", "{\"channel\":1,\"scale\":true}", "params.scale: expected number"},
                {"sensor", "read", "{\"channel\":1,\"tags\":\"a\"}", "params.tags: expected array"},
                {"sensor", "read", "{\"channel\":1,\"tags\":[\"a\",2]}", "params.tags[1]: expected string"},
                {"sensor", "read", "{\"channel\":1,\"tags\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\"]}",
                 "params.tags: more than 8 items"},
                {"sensor", "read", "{\"channel\":1,\"unknown\":1}", "params: unknown key \"unknown\""},
                {"sensor", "read", "[]", "params must be a JSON object"},
                {"sensor", "read", "null", "params must be a JSON object"},
                {"sensor", "read", "{\"channel\":1", "params are not valid JSON"},
                {"sensor", "read", "{\"channel\":1,\"channel\":2}", "params: duplicate key \"channel\""},
                {"hello-world", "hello_world", "{\"name\":7}", "params.name: expected string"},
                {"counter", "get", "{\"x\":1}", "params: unknown key \"x\""},
        };
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *msg = NULL;
                g_assert_cmpint(tu_invoke(t, cases[i].plugin, cases[i].fn, cases[i].params, NULL, &msg), ==,
                                HOST_ERR_INVALID_PARAMS);
                g_assert_cmpstr(msg, ==, cases[i].message);
        }
        /* Oversize params. */
        GString *big = g_string_new("{\"name\":\"");
        while (big->len < 1100 * 1024)
                g_string_append(big, "xxxxxxxxxxxxxxxx");
        g_string_append(big, "\"}");
        g_autofree char *msg = NULL;
        g_assert_cmpint(tu_invoke(t, "hello-world", "echo", big->str, NULL, &msg), ==, HOST_ERR_INVALID_PARAMS);
        g_assert_cmpstr(msg, ==, "params exceed 1048576 bytes");
        g_string_free(big, TRUE);
        /* The examples' counters were never touched by the refused calls. */
        g_autofree char *stats = NULL;
        g_assert_cmpint(tu_invoke(t, "sensor", "stats", "{}", &stats, NULL), ==, 0);
        g_assert_cmpstr(stats, ==, "{\"reads\":0}");
}

static void test_lookup_errors(TuHost *t, gconstpointer data) {
        g_autofree char *m1 = NULL, *m2 = NULL, *m3 = NULL;
        g_assert_cmpint(tu_invoke(t, "nope", "x", "{}", NULL, &m1), ==, HOST_ERR_NO_SUCH_PLUGIN);
        g_assert_cmpstr(m1, ==, "Plugin 'nope' not found");
        g_assert_cmpint(tu_invoke(t, "sensor", "nope", "{}", NULL, &m2), ==, HOST_ERR_NO_SUCH_FUNCTION);
        g_assert_cmpstr(m2, ==, "Plugin 'sensor' has no function 'nope'");
        /* A failing handler: its own message, the daemon unharmed. */
        g_assert_cmpint(tu_invoke(t, "sensor", "fail", "{}", NULL, &m3), ==, HOST_ERR_HANDLER_FAILED);
        g_assert_cmpstr(m3, ==, "sensor is unplugged");
}

/* A plugin that replies invalid JSON is told so; the result stays valid. */
static void test_plugin_reply_validated(TuHost *t, gconstpointer data) {
        g_autofree char *so = tu_test_plugin("good");
        tu_install(t->root, "good", so, NULL);
        g_assert_cmpint(tu_host_start(t), ==, 0);
        g_autofree char *res = NULL;
        g_assert_cmpint(tu_invoke(t, "good", "bad_result", "{}", &res, NULL), ==, 0);
        g_assert_cmpstr(res, ==, "{\"r\":-22}");
}

/* A plugin's log lines and failure messages are escaped and bounded: no
 * terminal escape reaches the console or the journal, no invalid UTF-8 a
 * D-Bus reply (SECURITY.md, "Untrusted text in logs"). */
static void test_plugin_text_escaped(TuHost *t, gconstpointer data) {
        g_autofree char *so = tu_test_plugin("good");
        tu_install(t->root, "good", so, NULL);
        g_assert_cmpint(tu_host_start(t), ==, 0);
        g_autofree char *msg = NULL;
        g_assert_cmpint(tu_invoke(t, "good", "shout", "{}", NULL, &msg), ==, HOST_ERR_HANDLER_FAILED);
        g_assert_true(g_str_has_prefix(msg, "\\x1b[2J\\x07\\xffaaaa"));
        g_assert_true(g_str_has_suffix(msg, "a..."));
        g_assert_cmpuint(strlen(msg), <=, 4096 + 16);
        const TuLogEntry *e = tu_log_find(t, "good: \\x1b[2J\\x07\\xff");
        g_assert_nonnull(e);
        g_assert_cmpuint(strlen(e->message), <=, 4096 + 32);
        g_assert_cmpstr(tu_log_field(e, "PLUGIN_ID"), ==, "good");
}

static void test_timeout(TuHost *t, gconstpointer data) {
        TuCall c;
        uint64_t start = now_ms();
        g_assert_cmpint(tu_invoke_async(t, "sensor", "slow", "{\"ms\":5000}", 200 * 1000, &c), ==, 0);
        while (!c.done)
                g_assert_cmpint(sd_event_run(t->event, 3000 * 1000), >=, 0);
        uint64_t took = now_ms() - start;
        g_assert_cmpint(c.error, ==, HOST_ERR_TIMEOUT);
        g_assert_cmpstr(c.message, ==, "plugin call timed out after 0.2 s");
        g_assert_cmpuint(took, <, 2500);
        tu_call_done(&c);
        /* The handler saw cancelled() and gave its worker back: a fast call still runs. */
        g_autofree char *res = NULL;
        g_assert_cmpint(tu_invoke(t, "hello-world", "hello_world", "{}", &res, NULL), ==, 0);
}

/* A slow call never delays a fast one. */
static void test_slow_does_not_block_fast(TuHost *t, gconstpointer data) {
        TuCall slow, fast;
        g_assert_cmpint(tu_invoke_async(t, "sensor", "slow", "{\"ms\":1500}", 0, &slow), ==, 0);
        uint64_t start = now_ms();
        g_assert_cmpint(tu_invoke_async(t, "hello-world", "hello_world", "{}", 0, &fast), ==, 0);
        while (!fast.done)
                g_assert_cmpint(sd_event_run(t->event, 5000 * 1000), >=, 0);
        g_assert_cmpint(fast.error, ==, 0);
        g_assert_false(slow.done);
        g_assert_cmpuint(now_ms() - start, <, 1000);
        while (!slow.done)
                g_assert_cmpint(sd_event_run(t->event, 5000 * 1000), >=, 0);
        g_assert_cmpint(slow.error, ==, 0);
        g_assert_cmpstr(slow.result, ==, "{\"slept_ms\":1500}");
        tu_call_done(&slow);
        tu_call_done(&fast);
}

/* Thread-safe plugins run in parallel; the others one call at a time. */
static void test_concurrency_and_serialisation(TuHost *t, gconstpointer data) {
        TuCall calls[8];
        g_autofree char *so = tu_test_plugin("good");
        tu_install(t->root, "good", so, NULL);
        Verdict v = {};
        g_assert_cmpint(tu_load(t, "good", &v), ==, 0);

        /* sensor (thread-safe): 4 × 400 ms on 4 workers overlap. */
        uint64_t start = now_ms();
        for (int i = 0; i < 4; i++)
                g_assert_cmpint(tu_invoke_async(t, "sensor", "slow", "{\"ms\":400}", 0, &calls[i]), ==, 0);
        for (int i = 0; i < 4; i++) {
                while (!calls[i].done)
                        g_assert_cmpint(sd_event_run(t->event, 5000 * 1000), >=, 0);
                g_assert_cmpint(calls[i].error, ==, 0);
                tu_call_done(&calls[i]);
        }
        g_assert_cmpuint(now_ms() - start, <, 1200);

        /* good (not thread-safe): 8 concurrent sleepy calls never overlap. */
        for (int i = 0; i < 8; i++)
                g_assert_cmpint(tu_invoke_async(t, "good", "sleepy", "{}", 0, &calls[i]), ==, 0);
        for (int i = 0; i < 8; i++) {
                while (!calls[i].done)
                        g_assert_cmpint(sd_event_run(t->event, 5000 * 1000), >=, 0);
                g_assert_cmpint(calls[i].error, ==, 0);
                tu_call_done(&calls[i]);
        }
        g_autofree char *res = NULL;
        g_assert_cmpint(tu_invoke(t, "good", "max_active", "{}", &res, NULL), ==, 0);
        g_assert_cmpstr(res, ==, "{\"max\":1}");
}

/* Past the queue cap callers get Busy at once, never a hang. */
static void test_busy(TuHost *t, gconstpointer data) {
        TuCall calls[4];
        install_examples(t);
        t->config.workers = 1;
        t->config.max_queued_calls = 2;
        g_assert_cmpint(tu_host_start(t), ==, 0);
        g_assert_cmpint(tu_invoke_async(t, "sensor", "slow", "{\"ms\":300}", 0, &calls[0]), ==, 0);
        /* Wait (bounded) until the only worker took it off the queue. */
        uint64_t deadline = now_ms() + 2000;
        while (host_n_queued_calls(t->host) > 0 && now_ms() < deadline)
                g_usleep(1000);
        g_assert_cmpuint(host_n_queued_calls(t->host), ==, 0);
        g_assert_cmpint(tu_invoke_async(t, "sensor", "slow", "{\"ms\":10}", 0, &calls[1]), ==, 0);
        g_assert_cmpint(tu_invoke_async(t, "sensor", "slow", "{\"ms\":10}", 0, &calls[2]), ==, 0);
        g_assert_cmpint(tu_invoke_async(t, "sensor", "slow", "{\"ms\":10}", 0, &calls[3]), ==, HOST_ERR_BUSY);
        g_assert_cmpstr(calls[3].message, ==, "too many plugin calls in progress");
        for (int i = 0; i < 4; i++) {
                while (!calls[i].done)
                        g_assert_cmpint(sd_event_run(t->event, 5000 * 1000), >=, 0);
                tu_call_done(&calls[i]);
        }
}

/* ---- events ---- */

typedef struct Events {
        GPtrArray *names, *payloads, *plugins;
        GPtrArray *loaded, *unloaded;
} Events;

static void on_event(Host *h, const char *plugin_id, const char *event, const char *payload, void *userdata) {
        Events *e = userdata;
        g_ptr_array_add(e->plugins, g_strdup(plugin_id));
        g_ptr_array_add(e->names, g_strdup(event));
        g_ptr_array_add(e->payloads, g_strdup(payload));
}
static void on_loaded(Host *h, const PluginRecord *r, void *userdata) {
        g_ptr_array_add(((Events *) userdata)->loaded, g_strdup(r->id));
}
static void on_unloaded(Host *h, const char *id, void *userdata) {
        g_ptr_array_add(((Events *) userdata)->unloaded, g_strdup(id));
}
static const HostListener listener = {
        .plugin_event = on_event, .plugin_loaded = on_loaded, .plugin_unloaded = on_unloaded};

static bool has_two_ticks(void *userdata) {
        return ((Events *) userdata)->names->len >= 2;
}
static bool has_one(void *userdata) {
        return ((Events *) userdata)->names->len >= 1;
}

static bool has_unloaded(void *userdata) {
        return ((Events *) userdata)->unloaded->len >= 1;
}

static void test_events(void) {
        TuHost t;
        Events e = {g_ptr_array_new_with_free_func(g_free), g_ptr_array_new_with_free_func(g_free),
                    g_ptr_array_new_with_free_func(g_free), g_ptr_array_new_with_free_func(g_free),
                    g_ptr_array_new_with_free_func(g_free)};
        tu_host_init(&t);
        install_examples(&t);
        tu_host_create(&t);
        g_assert_cmpint(host_add_listener(t.host, &listener, &e), ==, 0);
        g_assert_cmpint(tu_host_start(&t), ==, 0);
        g_assert_cmpuint(e.loaded->len, ==, 3);

        /* The counter's routine ticks every 200 ms and emits "tick". */
        g_assert_true(tu_run_until(t.event, has_two_ticks, &e, 3000));
        g_assert_cmpstr(g_ptr_array_index(e.plugins, 0), ==, "counter");
        g_assert_cmpstr(g_ptr_array_index(e.names, 0), ==, "tick");
        g_assert_cmpstr(g_ptr_array_index(e.payloads, 0), ==, "{\"count\":0,\"ticks\":1}");
        g_assert_cmpstr(g_ptr_array_index(e.payloads, 1), ==, "{\"count\":0,\"ticks\":2}");

        /* Unloading stops the routine: no tick arrives afterwards. */
        unsigned before;
        g_assert_cmpint(host_unload(t.host, "counter", NULL, NULL), ==, 0);
        g_assert_true(tu_run_until(t.event, has_unloaded, &e, 3000));
        g_assert_cmpstr(g_ptr_array_index(e.unloaded, 0), ==, "counter");
        before = e.names->len;
        g_ptr_array_set_size(e.names, 0);
        g_assert_false(tu_run_until(t.event, has_one, &e, 600));
        (void) before;
        tu_host_done(&t);
        g_ptr_array_unref(e.names);
        g_ptr_array_unref(e.payloads);
        g_ptr_array_unref(e.plugins);
        g_ptr_array_unref(e.loaded);
        g_ptr_array_unref(e.unloaded);
}

/* Plugin events from a handler, validated against the declared schema. */
static void test_emit_from_handler(void) {
        TuHost t;
        Events e = {g_ptr_array_new_with_free_func(g_free), g_ptr_array_new_with_free_func(g_free),
                    g_ptr_array_new_with_free_func(g_free), g_ptr_array_new_with_free_func(g_free),
                    g_ptr_array_new_with_free_func(g_free)};
        tu_host_init(&t);
        g_autofree char *so = tu_test_plugin("good");
        tu_install(t.root, "good", so, NULL);
        tu_host_create(&t);
        g_assert_cmpint(host_add_listener(t.host, &listener, &e), ==, 0);
        g_assert_cmpint(tu_host_start(&t), ==, 0);
        g_autofree char *res = NULL;
        g_assert_cmpint(tu_invoke(&t, "good", "emit", "{\"level\":3}", &res, NULL), ==, 0);
        g_assert_cmpstr(res, ==, "{\"r\":0}");
        g_assert_true(tu_run_until(t.event, has_one, &e, 2000));
        g_assert_cmpstr(g_ptr_array_index(e.plugins, 0), ==, "good");
        g_assert_cmpstr(g_ptr_array_index(e.names, 0), ==, "ping");
        g_assert_cmpstr(g_ptr_array_index(e.payloads, 0), ==, "{\"level\":3}");

        /* The sensor's alert event, driven by its configuration. */
        tu_host_done(&t);
        g_ptr_array_unref(e.names);
        g_ptr_array_unref(e.payloads);
        g_ptr_array_unref(e.plugins);
        g_ptr_array_unref(e.loaded);
        g_ptr_array_unref(e.unloaded);
}

static bool flag_true(void *userdata) {
        return *(bool *) userdata;
}

/* Unload waits for calls in flight; their callers still get their answers. */
static bool unload_done;
static void on_unload_done(Host *h, int error, void *userdata) {
        unload_done = true;
}

static void test_unload_waits_for_calls(TuHost *t, gconstpointer data) {
        TuCall c;
        g_assert_cmpint(tu_invoke_async(t, "sensor", "slow", "{\"ms\":400}", 0, &c), ==, 0);
        unload_done = false;
        g_assert_cmpint(host_unload(t->host, "sensor", on_unload_done, NULL), ==, 0);
        g_assert_false(unload_done);
        g_assert_true(host_find(t->host, "sensor")->draining);
        /* New calls are refused at once while draining. */
        g_autofree char *msg = NULL;
        g_assert_cmpint(tu_invoke(t, "sensor", "stats", "{}", NULL, &msg), ==, HOST_ERR_NOT_LOADED);
        Verdict v = {};
        g_assert_cmpint(tu_load(t, "sensor", &v), ==, -EBUSY);
        while (!c.done)
                g_assert_cmpint(sd_event_run(t->event, 5000 * 1000), >=, 0);
        g_assert_cmpint(c.error, ==, 0);
        /* cleanup() runs on a thread of its own after the last call */
        g_assert_true(tu_run_until(t->event, flag_true, &unload_done, 5000));
        g_assert_cmpint(host_find(t->host, "sensor")->state, ==, PLUGIN_STATE_AVAILABLE);
        tu_call_done(&c);
}

/* Shutting down with calls in flight answers every caller exactly once. */
static void test_shutdown_with_calls(TuHost *t, gconstpointer data) {
        TuCall calls[3];
        install_examples(t);
        t->config.workers = 1;
        g_assert_cmpint(tu_host_start(t), ==, 0);
        for (int i = 0; i < 3; i++)
                g_assert_cmpint(tu_invoke_async(t, "sensor", "slow", "{\"ms\":200}", 0, &calls[i]), ==, 0);
        g_assert_true(tu_host_stop(t, 5000));
        t->host = host_free(t->host);
        for (int i = 0; i < 3; i++) {
                g_assert_true(calls[i].done);
                g_assert_true(calls[i].error == 0 || calls[i].error == -ESHUTDOWN);
                tu_call_done(&calls[i]);
        }
}

/* ---- direct calls ---- */

static void start_fast(TuHost *t) {
        g_autofree char *fast = tu_test_plugin("fast"), *good = tu_test_plugin("good");
        g_autofree char *mf = tu_manifest("fast", "1.0.0"), *mg = tu_manifest("good", "1.0.0");
        tu_host_init(t);
        tu_install(t->root, "fast", fast, mf);
        tu_install(t->root, "good", good, mg);
        install_examples(t);
        g_assert_cmpint(tu_host_start(t), ==, 0);
}

static int direct(TuHost *t, const char *plugin, const char *fn, const char *params, char **result, char **message) {
        _cleanup_json_ struct json_object *o = NULL;
        g_assert_cmpint(json_parse_strict(params, strlen(params), &o, NULL), ==, 0);
        return host_call_direct(t->host, plugin, fn, o, params, result, message);
}

/* Non-blocking functions of thread-safe plugins run right on the caller's
 * thread, with host_invoke's checks and answers; everything else is -EAGAIN. */
static void test_direct(void) {
        TuHost t;
        start_fast(&t);
        g_autofree char *r1 = NULL, *r2 = NULL, *m1 = NULL, *m2 = NULL, *m3 = NULL;
        g_assert_cmpint(direct(&t, "fast", "fast_echo", "{\"n\":7}", &r1, NULL), ==, 0);
        g_assert_cmpstr(r1, ==, "{\"n\":7}");
        g_assert_cmpint(direct(&t, "hello-world", "hello_world", "{\"name\":\"Ada\"}", &r2, NULL), ==, 0);
        g_assert_cmpstr(r2, ==, "{\"message\":\"Hello, Ada!\"}");
        /* the same messages as through the pool */
        g_assert_cmpint(direct(&t, "fast", "fast_echo", "{\"n\":\"x\"}", NULL, &m1), ==, HOST_ERR_INVALID_PARAMS);
        g_assert_cmpstr(m1, ==, "params.n: expected integer");
        g_assert_cmpint(direct(&t, "fast", "fast_echo", "{\"m\":1}", NULL, &m2), ==, HOST_ERR_INVALID_PARAMS);
        g_assert_cmpstr(m2, ==, "params: unknown key \"m\"");
        g_assert_cmpint(direct(&t, "fast", "fast_fail", "{}", NULL, &m3), ==, HOST_ERR_HANDLER_FAILED);
        g_assert_cmpstr(m3, ==, "fast failure as asked");
        /* not eligible: blocking function, plugin not thread-safe, unknown, not loaded */
        g_assert_cmpint(direct(&t, "fast", "probe", "{}", NULL, NULL), ==, -EAGAIN);
        g_assert_cmpint(direct(&t, "good", "probe", "{}", NULL, NULL), ==, -EAGAIN);
        g_assert_cmpint(direct(&t, "sensor", "read", "{\"channel\":1}", NULL, NULL), ==, -EAGAIN);
        g_assert_cmpint(direct(&t, "fast", "nope", "{}", NULL, NULL), ==, -EAGAIN);
        g_assert_cmpint(direct(&t, "nope", "fast_echo", "{}", NULL, NULL), ==, -EAGAIN);
        /* through host_invoke the same functions still work (the D-Bus path) */
        g_autofree char *r3 = NULL;
        g_assert_cmpint(tu_invoke(&t, "fast", "fast_echo", "{\"n\":1}", &r3, NULL), ==, 0);
        g_assert_cmpstr(r3, ==, "{\"n\":1}");
        tu_host_done(&t);
}

/* A call that breaks the promise is logged and its function demoted to
 * the pool; the plugin's other functions stay direct. */
static void test_direct_demotion(void) {
        TuHost t;
        start_fast(&t);
        g_autofree char *r1 = NULL, *r2 = NULL, *r3 = NULL;
        g_assert_cmpint(direct(&t, "fast", "stall", "{\"ms\":30}", &r1, NULL), ==, 0);
        g_assert_cmpstr(r1, ==, "{\"stalled\":true}");
        const TuLogEntry *e = tu_log_find(&t, "non-blocking function stall took");
        g_assert_nonnull(e);
        g_assert_cmpstr(tu_log_field(e, "PLUGIN_ID"), ==, "fast");
        g_assert_cmpint(direct(&t, "fast", "stall", "{\"ms\":0}", NULL, NULL), ==, -EAGAIN);
        g_assert_cmpint(tu_invoke(&t, "fast", "stall", "{\"ms\":0}", &r2, NULL), ==, 0);
        g_assert_cmpint(direct(&t, "fast", "fast_echo", "{}", &r3, NULL), ==, 0);
        tu_host_done(&t);
}

typedef struct DirectThread {
        TuHost *t;
        int r;
        char *result;
} DirectThread;

static gpointer direct_thread(gpointer userdata) {
        DirectThread *d = userdata;
        d->r = direct(d->t, "fast", "stall", "{\"ms\":300}", &d->result, NULL);
        return NULL;
}

static bool marker_stall_started(void *userdata) {
        return tu_marker_has(userdata, "stall-start fast");
}

static bool unload_is_done(void *userdata) {
        return unload_done;
}

/* Unloading waits for a direct call running on another thread: cleanup()
 * only after the call returned, and the caller gets its answer. */
static void test_direct_unload_waits(void) {
        TuHost t;
        start_fast(&t);
        DirectThread d = {.t = &t};
        GThread *th = g_thread_new("direct", direct_thread, &d);
        g_assert_true(tu_run_until(t.event, marker_stall_started, &t, 5000));
        unload_done = false;
        g_assert_cmpint(host_unload(t.host, "fast", on_unload_done, NULL), ==, 0);
        g_assert_false(tu_marker_has(&t, "cleanup fast"));
        g_assert_true(tu_run_until(t.event, unload_is_done, NULL, 5000));
        g_thread_join(th);
        g_assert_cmpint(d.r, ==, 0);
        g_assert_cmpstr(d.result, ==, "{\"stalled\":true}");
        /* stall-end was written before cleanup */
        g_autofree char *data = NULL;
        g_assert_true(g_file_get_contents(t.marker, &data, NULL, NULL));
        g_assert_nonnull(strstr(data, "stall-end fast\ncleanup fast\n"));
        g_assert_cmpint(host_find(t.host, "fast")->state, ==, PLUGIN_STATE_AVAILABLE);
        g_assert_cmpint(direct(&t, "fast", "fast_echo", "{}", NULL, NULL), ==, -EAGAIN);
        /* and after a load it is direct again */
        Verdict v = {};
        g_autofree char *r = NULL;
        g_assert_cmpint(tu_load(&t, "fast", &v), ==, 0);
        g_assert_cmpint(direct(&t, "fast", "fast_echo", "{}", &r, NULL), ==, 0);
        free(d.result);
        tu_host_done(&t);
}

static void test_describe(TuHost *t, gconstpointer data) {
        _cleanup_json_ struct json_object *o = host_describe(t->host);
        const char *text = json_to_string_compact(o);
        _cleanup_json_ struct json_object *again = NULL;
        g_assert_cmpint(json_parse_strict(text, strlen(text), &again, NULL), ==, 0);
        struct json_object *plugins, *p, *fns, *f, *params, *x;
        g_assert_true(json_object_object_get_ex(o, "plugins", &plugins));
        g_assert_cmpuint(json_object_array_length(plugins), ==, 3);
        p = json_object_array_get_idx(plugins, 2); /* sorted: counter, hello-world, sensor */
        g_assert_true(json_object_object_get_ex(p, "id", &x));
        g_assert_cmpstr(json_object_get_string(x), ==, "sensor");
        g_assert_true(json_object_object_get_ex(p, "functions", &fns));
        f = json_object_array_get_idx(fns, 0);
        g_assert_true(json_object_object_get_ex(f, "params", &params));
        /* Booleans advertised as "boolean" (the upstream host gets this wrong). */
        g_assert_nonnull(strstr(json_to_string_compact(params), "\"calibrated\":{\"type\":\"boolean\"}"));
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        tu_init();
        g_test_add("/invoke/examples", TuHost, NULL, fixture_examples, test_examples, tu_fixture_teardown);
        g_test_add("/invoke/params-validation", TuHost, NULL, fixture_examples, test_params_validation,
                   tu_fixture_teardown);
        g_test_add("/invoke/lookup-errors", TuHost, NULL, fixture_examples, test_lookup_errors, tu_fixture_teardown);
        g_test_add("/invoke/plugin-text-escaped", TuHost, NULL, tu_fixture_setup, test_plugin_text_escaped,
                   tu_fixture_teardown);
        g_test_add("/invoke/plugin-reply-validated", TuHost, NULL, tu_fixture_setup, test_plugin_reply_validated,
                   tu_fixture_teardown);
        g_test_add("/invoke/timeout", TuHost, NULL, fixture_examples, test_timeout, tu_fixture_teardown);
        g_test_add("/invoke/slow-does-not-block-fast", TuHost, NULL, fixture_examples, test_slow_does_not_block_fast,
                   tu_fixture_teardown);
        g_test_add("/invoke/concurrency-and-serialisation", TuHost, NULL, fixture_examples,
                   test_concurrency_and_serialisation, tu_fixture_teardown);
        g_test_add("/invoke/busy", TuHost, NULL, tu_fixture_setup, test_busy, tu_fixture_teardown);
        g_test_add_func("/invoke/events", test_events);
        g_test_add_func("/invoke/emit-from-handler", test_emit_from_handler);
        g_test_add("/invoke/unload-waits-for-calls", TuHost, NULL, fixture_examples, test_unload_waits_for_calls,
                   tu_fixture_teardown);
        g_test_add("/invoke/shutdown-with-calls", TuHost, NULL, tu_fixture_setup, test_shutdown_with_calls,
                   tu_fixture_teardown);
        g_test_add("/invoke/describe", TuHost, NULL, fixture_examples, test_describe, tu_fixture_teardown);
        g_test_add_func("/invoke/direct", test_direct);
        g_test_add_func("/invoke/direct-demotion", test_direct_demotion);
        g_test_add_func("/invoke/direct-unload-waits", test_direct_unload_waits);
        return g_test_run();
}
