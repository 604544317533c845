/* systemd's service notification protocol (sd_notify(3)), spoken directly: one datagram per
 * message to the AF_UNIX socket named by $NOTIFY_SOCKET ('@' at the start: the abstract
 * namespace). No libsystemd: the protocol is a few lines, and the master stays free of a
 * library it would load only for them. */
#ifndef TP_NOTIFY_H
#define TP_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

/* Master, at start: reads $NOTIFY_SOCKET and $WATCHDOG_USEC/$WATCHDOG_PID and opens the
 * datagram socket (close-on-exec; workers close it at fork). Without $NOTIFY_SOCKET every call
 * below does nothing. 0, or -errno when the variable names no usable socket (logged; the
 * master runs on without notifying). */
int tp_notify_init(void);
bool tp_notify_enabled(void);
/* Sends msg ("READY=1\nSTATUS=..."), newline-separated assignments. 0 or -errno. */
int tp_notify_send(const char *msg);
int tp_notify_sendf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The watchdog interval systemd asked for ($WATCHDOG_USEC, for this process), in
 * microseconds; 0 when there is none. */
uint64_t tp_notify_watchdog_usec(void);
void tp_notify_close(void);

#endif
