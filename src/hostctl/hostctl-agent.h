/* SPDX-License-Identifier: MIT */
/*
 * The polkit agent on the terminal, as systemctl runs it: before a call
 * that polkit may authorize interactively, a caller that is not root and
 * whose stdin is a terminal gets pkttyagent(1) (--notify-fd; --fallback in
 * a login session, so that the session's own agent wins).  The call waits
 * until the agent is registered; the agent is stopped after the call.
 */
#pragma once

#include <stdint.h>

#define POLKIT_AGENT_BINARY_PATH "/usr/bin/pkttyagent"

/* 1: an agent runs; 0: none needed (root, no terminal) or none installed;
 * < 0 error.  Waits at most timeout_usec for the agent's registration. */
int polkit_agent_open(uint64_t timeout_usec);
void polkit_agent_close(void);
