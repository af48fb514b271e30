/*
** tap.h: the smallest test harness that speaks TAP. Each check prints "ok N - what" or
** "not ok N - what"; TAP_DIAG adds a "# ..." line with the first difference.
*/
#ifndef QORA_TAP_H
#define QORA_TAP_H

#include <stdarg.h>
#include <stdio.h>

static int tap_n, tap_failed;

/* Records one result; fmt describes what was checked. Returns cond. */
__attribute__((unused, format(printf, 2, 3)))
static int tap_ok(int cond, const char *fmt, ...) {
  va_list ap;

  tap_n++;
  tap_failed += !cond;
  printf("%s %d - ", cond ? "ok" : "not ok", tap_n);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
  fflush(stdout);
  return cond;
}

#define TAP_OK(cond, ...) tap_ok((cond) != 0, __VA_ARGS__)
#define TAP_DIAG(...) (printf("# "), printf(__VA_ARGS__), printf("\n"))

static inline int tap_done(void) {
  printf("1..%d\n", tap_n);
  return tap_failed ? 1 : 0;
}

#endif
