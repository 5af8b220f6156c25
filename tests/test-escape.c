/* SPDX-License-Identifier: MIT */
/* Untrusted text on its way to logs and replies (src/shared/escape.c) and
 * the log sink's last line of defence (src/shared/log.c). */
#include <glib.h>
#include <string.h>

#include "escape.h"
#include "log.h"

static void test_escape_untrusted(void) {
        g_autofree char *a = escape_untrusted("ok \x1b[2J\x07 \\ \xff caf\xc3\xa9 \xed\xa0\x80", 64);
        g_assert_cmpstr(a, ==, "ok \\x1b[2J\\x07 \\\\ \\xff caf\xc3\xa9 \\xed\\xa0\\x80");
        g_autofree char *b = escape_untrusted("abcdef", 3);
        g_assert_cmpstr(b, ==, "abc...");
        g_autofree char *c = escape_untrusted(NULL, 3);
        g_assert_cmpstr(c, ==, "(null)");
}

static void test_escape_controls(void) {
        bool oom;
        /* clean text: nothing to do, no copy */
        g_assert_null(escape_controls("plain caf\xc3\xa9 \\x1b", &oom));
        g_assert_false(oom);
        /* backslashes stay, so escape_untrusted() output passes unchanged */
        g_autofree char *a = escape_controls("a\\b\nc\x7f\xc0", &oom);
        g_assert_cmpstr(a, ==, "a\\b\\x0ac\\x7f\\xc0");
}

typedef struct {
        char *message;
        char *field;
} Captured;

static void capture(int level, const char *message_id, const LogField *fields, const char *message, void *userdata) {
        Captured *c = userdata;
        g_free(c->message);
        g_free(c->field);
        c->message = g_strdup(message);
        c->field = g_strdup(fields[0].key ? fields[0].value : NULL);
}

static void test_log_sink(void) {
        Captured c = { 0 };
        log_set_target(LOG_TARGET_NULL);
        log_set_capture(capture, &c);
        log_struct(LOG_WARNING, 0, NULL, LOG_FIELDS(LF("PEER", "dev\x1b]0;pwned\x07")), "Location: %s",
                   "https://e\x1b[31mvil\x07/");
        g_assert_cmpstr(c.message, ==, "Location: https://e\\x1b[31mvil\\x07/");
        g_assert_cmpstr(c.field, ==, "dev\\x1b]0;pwned\\x07");
        log_struct(LOG_INFO, 0, NULL, LOG_NO_FIELDS, "clean %d", 1);
        g_assert_cmpstr(c.message, ==, "clean 1");
        log_set_capture(NULL, NULL);
        g_free(c.message);
        g_free(c.field);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/escape/untrusted", test_escape_untrusted);
        g_test_add_func("/escape/controls", test_escape_controls);
        g_test_add_func("/escape/log-sink", test_log_sink);
        return g_test_run();
}
