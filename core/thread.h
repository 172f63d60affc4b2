/* thread: the threads httpjail starts beside its event loop (the audit writer, the
 * policy watcher and compiler). */
#ifndef HTTPJAIL_THREAD_H
#define HTTPJAIL_THREAD_H

#include <pthread.h>

/*
 * Starts FN(ARG) in *T, named NAME (at most 15 bytes: what top -H and perf show),
 * with every signal blocked: a process-directed SIGINT that httpjail queues for its
 * signalfd must never land on it. Returns 0 or an errno value; the caller joins *T.
 */
int thread_start(pthread_t *t, void *(*fn)(void *), void *arg, const char *name);

#endif
