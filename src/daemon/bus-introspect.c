/* SPDX-License-Identifier: MIT */
/* --bus-introspect: the introspection XML of one of our interfaces, made by
 * asking our own vtables over a private socketpair (no bus needed), so the
 * interface files shipped in dbus/ can be checked against the code. */
#include <sys/socket.h>
#include <systemd/sd-id128.h>

#include "bus-internal.h"
#include "names.h"

int bus_introspect_interface(const char *interface, char **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *server = NULL, *client = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *path, *xml;
        sd_id128_t id;
        int fds[2], r;

        if (streq(interface, DC_BUS_IFACE_MANAGER))
                path = DC_BUS_PATH_ROOT;
        else if (streq(interface, DC_BUS_IFACE_PLUGIN))
                path = DC_BUS_PATH_PLUGINS "/introspect";
        else if (streq(interface, DC_BUS_IFACE_LOG_CONTROL))
                path = DC_BUS_PATH_LOG_CONTROL;
        else
                return -ENOENT;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) < 0)
                return -errno;
        if ((r = sd_bus_new(&server)) < 0 || (r = sd_bus_set_fd(server, fds[0], fds[0])) < 0 ||
            (r = sd_id128_randomize(&id)) < 0 || (r = sd_bus_set_server(server, 1, id)) < 0 ||
            (r = sd_bus_set_anonymous(server, 1)) < 0 || (r = sd_bus_start(server)) < 0)
                return r;
        if ((r = sd_bus_add_object_vtable(server, NULL, DC_BUS_PATH_ROOT, DC_BUS_IFACE_MANAGER, bus_manager_vtable, NULL)) < 0 ||
            (r = sd_bus_add_object_vtable(server, NULL, DC_BUS_PATH_PLUGINS "/introspect", DC_BUS_IFACE_PLUGIN,
                                          bus_plugin_vtable, NULL)) < 0 ||
            (r = sd_bus_add_object_vtable(server, NULL, DC_BUS_PATH_LOG_CONTROL, DC_BUS_IFACE_LOG_CONTROL,
                                          bus_log_control_vtable, NULL)) < 0)
                return r;
        if ((r = sd_bus_new(&client)) < 0 || (r = sd_bus_set_fd(client, fds[1], fds[1])) < 0 ||
            (r = sd_bus_set_anonymous(client, 1)) < 0 || (r = sd_bus_start(client)) < 0)
                return r;

        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        uint64_t cookie;
        r = sd_bus_message_new_method_call(client, &call, NULL, path, "org.freedesktop.DBus.Introspectable", "Introspect");
        if (r < 0 || (r = sd_bus_send(client, call, &cookie)) < 0)
                return r;
        /* Pump both ends until the reply arrives. */
        for (int i = 0; i < 10000 && !reply; i++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
                r = sd_bus_process(server, NULL);
                if (r < 0)
                        return r;
                r = sd_bus_process(client, &m);
                if (r < 0)
                        return r;
                uint64_t rc;
                if (m && sd_bus_message_get_reply_cookie(m, &rc) >= 0 && rc == cookie)
                        reply = sd_bus_message_ref(m);
                else if (r == 0) {
                        (void) sd_bus_wait(server, 10000);
                }
        }
        if (!reply)
                return -ETIMEDOUT;
        if (sd_bus_message_is_method_error(reply, NULL))
                return -sd_bus_message_get_errno(reply);
        r = sd_bus_message_read(reply, "s", &xml);
        if (r < 0)
                return r;

        /* Keep the requested <interface> element only. */
        _cleanup_free_ char *open_tag = NULL;
        if (asprintf(&open_tag, "<interface name=\"%s\">", interface) < 0)
                return -ENOMEM;
        const char *start = strstr(xml, open_tag), *end = start ? strstr(start, "</interface>") : NULL;
        if (!start || !end)
                return -ENOENT;
        end += strlen("</interface>");
        if (asprintf(ret, " %.*s\n", (int) (end - start), start) < 0)
                return -ENOMEM;
        return 0;
}
