/* SPDX-License-Identifier: MIT */
/* The D-Bus error names of org.deviceconnect.PluginHost1 and the errno each
 * maps to, for the daemon and its clients (dc-plugin-hostctl). */
#pragma once

#include <systemd/sd-bus.h>

extern const sd_bus_error_map dc_bus_error_map[];
