/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

#include "host.h"

/* `dc-plugin-hostd --check`: print one verdict per candidate (like sshd -t).
 * Returns the process exit status: 0 all pass, 1 any rejected or failed. */
int check_print(Host *h, bool json);
