/*
 * The fault harness's LD_PRELOAD library, loaded into one member's process: it shifts that
 * process's wall clock and delays its fsyncs, by amounts the harness writes to two files at
 * any time during the run. The machine's clock and disk are never touched, and the other
 * members see nothing.
 *
 *   SHOAL_FAULT_CLOCK_FILE  milliseconds added to the wall clock (gettimeofday, clock_gettime
 *                           CLOCK_REALTIME*: what V8's Date.now() and Rust's SystemTime read);
 *                           the monotonic clocks that timers use stay true, as on a real machine
 *                           whose clock is stepped.
 *   SHOAL_FAULT_FSYNC_FILE  milliseconds each fsync/fdatasync sleeps before it runs: a slow disk.
 *
 * The files are read at most every 20 ms (by the monotonic clock), so the cost per call stays
 * a few nanoseconds.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

struct knob {
  const char *env;
  long long value;
  long long read_at_ns;
};

static struct knob clock_knob = {"SHOAL_FAULT_CLOCK_FILE", 0, -1};
static struct knob fsync_knob = {"SHOAL_FAULT_FSYNC_FILE", 0, -1};

static int (*real_clock_gettime)(clockid_t, struct timespec *);

static long long now_mono_ns(void) {
  struct timespec ts;
  if (!real_clock_gettime) real_clock_gettime = dlsym(RTLD_NEXT, "clock_gettime");
  real_clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long knob_value(struct knob *k) {
  long long now = now_mono_ns();
  if (k->read_at_ns >= 0 && now - k->read_at_ns < 20000000LL) return k->value;
  k->read_at_ns = now;
  const char *path = getenv(k->env);
  long long v = 0;
  if (path) {
    FILE *f = fopen(path, "re");
    if (f) {
      if (fscanf(f, "%lld", &v) != 1) v = 0;
      fclose(f);
    }
  }
  k->value = v;
  return v;
}

int clock_gettime(clockid_t c, struct timespec *ts) {
  if (!real_clock_gettime) real_clock_gettime = dlsym(RTLD_NEXT, "clock_gettime");
  int r = real_clock_gettime(c, ts);
  if (r != 0 || !ts || (c != CLOCK_REALTIME && c != CLOCK_REALTIME_COARSE)) return r;
  long long off = knob_value(&clock_knob);
  if (off == 0) return r;
  long long ns = (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec + off * 1000000LL;
  ts->tv_sec = ns / 1000000000LL;
  ts->tv_nsec = ns % 1000000000LL;
  return r;
}

int gettimeofday(struct timeval *tv, void *tz) {
  static int (*real)(struct timeval *, void *);
  if (!real) real = dlsym(RTLD_NEXT, "gettimeofday");
  int r = real(tv, tz);
  if (r != 0 || !tv) return r;
  long long off = knob_value(&clock_knob);
  if (off == 0) return r;
  long long us = (long long)tv->tv_sec * 1000000LL + tv->tv_usec + off * 1000LL;
  tv->tv_sec = us / 1000000LL;
  tv->tv_usec = us % 1000000LL;
  return r;
}

time_t time(time_t *t) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  if (t) *t = tv.tv_sec;
  return tv.tv_sec;
}

static void slow_disk(void) {
  long long ms = knob_value(&fsync_knob);
  if (ms > 0) usleep((useconds_t)(ms * 1000));
}

int fsync(int fd) {
  static int (*real)(int);
  if (!real) real = dlsym(RTLD_NEXT, "fsync");
  slow_disk();
  return real(fd);
}

int fdatasync(int fd) {
  static int (*real)(int);
  if (!real) real = dlsym(RTLD_NEXT, "fdatasync");
  slow_disk();
  return real(fd);
}
