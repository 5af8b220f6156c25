/* SPDX-License-Identifier: MIT */
/*
 * The pager, as systemctl runs it: when stdout is a terminal, stdout (and
 * stderr, if it is the terminal too) go through $SYSTEMD_PAGER, else
 * $PAGER, else less, else more, with LESS=$SYSTEMD_LESS or "FRSXMK" (less
 * quits at once when everything fits on the screen).  An empty pager or
 * "cat" means none.  Run by root through sudo or set-uid, only less, with
 * LESSSECURE=1: a user's $PAGER is never run with root's rights.
 */
#pragma once

#include <stdbool.h>

/* 1: the pager runs; 0: none (not a terminal, none wanted); < 0 error. */
int pager_open(void);
/* Flush, end the pager's input and wait for it to quit. */
void pager_close(void);
bool pager_running(void);
