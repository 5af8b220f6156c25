/* SPDX-License-Identifier: MIT */
/* Named D-Bus errors for every failure of a host operation (never a bare errno). */
#pragma once

#include <systemd/sd-bus.h>

#include "reason.h"

extern const sd_bus_error_map dc_bus_error_map[];

/* Translate a host_load/unload/reload/rescan result into a named error. */
int bus_error_from_operation(sd_bus_error *error, int r, const Verdict *v, const char *plugin_id);
/* Translate a host_install/host_remove result (reason codes first). */
int bus_error_from_install(sd_bus_error *error, int r, const Verdict *v, const char *plugin_id);
/* Translate a host_invoke error (HOST_ERR_*). */
int bus_error_from_invoke(sd_bus_error *error, int r, const char *message);
