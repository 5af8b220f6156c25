/* SPDX-License-Identifier: MIT */
/* org.freedesktop.LogControl1 (systemd's convention): log level and target
 * at run time.  The setters are root-only (no UNPRIVILEGED flag). */
#include "bus-internal.h"
#include "log.h"
#include "names.h"

static int property_get_log_level(sd_bus *bus, const char *path, const char *iface, const char *property,
                                  sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", log_level_to_string(log_get_max_level()));
}

static int property_set_log_level(sd_bus *bus, const char *path, const char *iface, const char *property,
                                  sd_bus_message *value, void *userdata, sd_bus_error *error) {
        const char *s;
        int r = sd_bus_message_read(value, "s", &s);
        if (r < 0)
                return r;
        r = log_level_from_string(s);
        if (r < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid log level \"%s\"", s);
        log_set_max_level(r);
        return 0;
}

static int property_get_log_target(sd_bus *bus, const char *path, const char *iface, const char *property,
                                   sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", log_target_to_string(log_get_target()));
}

static int property_set_log_target(sd_bus *bus, const char *path, const char *iface, const char *property,
                                   sd_bus_message *value, void *userdata, sd_bus_error *error) {
        const char *s;
        int r = sd_bus_message_read(value, "s", &s);
        if (r < 0)
                return r;
        r = log_target_from_string(s);
        if (r < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid log target \"%s\"", s);
        log_set_target(r);
        return 0;
}

static int property_get_syslog_identifier(sd_bus *bus, const char *path, const char *iface, const char *property,
                                          sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", DC_SYSLOG_IDENTIFIER);
}

const sd_bus_vtable bus_log_control_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_WRITABLE_PROPERTY("LogLevel", "s", property_get_log_level, property_set_log_level, 0,
                                 SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_WRITABLE_PROPERTY("LogTarget", "s", property_get_log_target, property_set_log_target, 0,
                                 SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("SyslogIdentifier", "s", property_get_syslog_identifier, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_VTABLE_END
};

int bus_log_control_register(BusManager *m) {
        return sd_bus_add_object_vtable(m->bus, &m->slots[m->n_slots++], DC_BUS_PATH_LOG_CONTROL, DC_BUS_IFACE_LOG_CONTROL,
                                        bus_log_control_vtable, m);
}
