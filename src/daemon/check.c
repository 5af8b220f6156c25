/* SPDX-License-Identifier: MIT */
#include "check.h"

#include <stdio.h>

#include "json-util.h"

static const char *verdict_of(const PluginRecord *r) {
        switch (r->state) {
        case PLUGIN_STATE_AVAILABLE:
        case PLUGIN_STATE_LOADED:
                return "ok";
        case PLUGIN_STATE_DISABLED:
                return "disabled";
        case PLUGIN_STATE_REJECTED:
                return "rejected";
        default:
                return "failed";
        }
}

static bool is_bad(const PluginRecord *r) {
        return r->state == PLUGIN_STATE_REJECTED || r->state == PLUGIN_STATE_FAILED;
}

static void print_line(const PluginRecord *r) {
        printf("%-32s %-9s %-28s %s\n", r->id, verdict_of(r), r->reason ? reason_to_string(r->reason) : "-",
               r->digest[0] ? r->digest : "-");
        if (r->message && is_bad(r))
                printf("    %s\n", r->message);
}

int check_print(Host *h, bool json) {
        bool bad = false;

        for (size_t i = 0; i < host_n_records(h); i++)
                bad = bad || is_bad(host_record(h, i));
        bad = bad || host_n_shadowed(h) > 0 || host_policy(h)->mode == SIGNATURES_INVALID;

        if (json) {
                _cleanup_json_ struct json_object *o = host_describe(h);
                if (!o)
                        return 1;
                json_object_object_add(o, "ok", json_object_new_boolean(!bad));
                puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
                return bad ? 1 : 0;
        }
        printf("%-32s %-9s %-28s %s\n", "ID", "VERDICT", "REASON", "DIGEST");
        for (size_t i = 0; i < host_n_records(h); i++)
                print_line(host_record(h, i));
        for (size_t i = 0; i < host_n_shadowed(h); i++)
                print_line(host_shadowed(h, i));
        printf("\n%zu plugin(s) checked, signature policy: %s\n", host_n_records(h) + host_n_shadowed(h),
               signature_mode_to_string(host_policy(h)->mode));
        return bad ? 1 : 0;
}
