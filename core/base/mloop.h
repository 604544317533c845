/* The master's event loop: poll(2) over a few descriptors (signals, the stats socket, the admin
 * listener and its clients, worker control pipes) plus one-shot timers. The master handles
 * little traffic and must never block on any one client: every handler runs to completion on
 * non-blocking descriptors. */
#ifndef TP_MLOOP_H
#define TP_MLOOP_H

#include <stdbool.h>
#include <stdint.h>

struct tp_mloop;

typedef void (*tp_mloop_fd_fn)(struct tp_mloop *l, int fd, unsigned revents, void *arg);
typedef void (*tp_mloop_timer_fn)(struct tp_mloop *l, void *arg);

struct tp_mloop *tp_mloop_new(void);
void tp_mloop_free(struct tp_mloop *l);

/* Watches fd for events (POLLIN, POLLOUT); fn runs with what poll(2) reported. 0 or -errno.
 * Adding an fd already watched replaces its events, fn and arg. */
int tp_mloop_add(struct tp_mloop *l, int fd, unsigned events, tp_mloop_fd_fn fn, void *arg);
/* Stops watching fd (safe from inside any handler, including fd's own). */
void tp_mloop_del(struct tp_mloop *l, int fd);

/* Runs fn once, at_ms (CLOCK_MONOTONIC milliseconds, tp_now_ms()) or soon after. Returns a
 * timer id > 0, or -ENOMEM. */
int64_t tp_mloop_at(struct tp_mloop *l, uint64_t at_ms, tp_mloop_timer_fn fn, void *arg);
void tp_mloop_cancel(struct tp_mloop *l, int64_t timer_id);

/* One round: waits for at most max_wait_ms (-1: until something happens), then runs every
 * handler that is due. Returns 0, or -errno if poll(2) failed for good. */
int tp_mloop_run_once(struct tp_mloop *l, int max_wait_ms);

#endif
