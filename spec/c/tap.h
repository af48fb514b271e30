/*
** tap.h: the smallest test harness that speaks TAP. Each check prints "ok N - what" or
** "not ok N - what" and a diagnostic line with the first difference.
*/
#ifndef QORA_TAP_H
#define QORA_TAP_H

#include <stdio.h>

static int tap_n, tap_failed;

/* Records one test result; fmt describes what was checked. Returns cond. */
#define TAP_OK(cond, ...)                                   \
  (tap_n++, (cond) ? (printf("ok %d - ", tap_n), printf(__VA_ARGS__), printf("\n"), 1) \
                   : (tap_failed++, printf("not ok %d - ", tap_n), printf(__VA_ARGS__), \
                      printf("\n"), 0))

#define TAP_DIAG(...) (printf("# "), printf(__VA_ARGS__), printf("\n"))

static inline int tap_done(void) {
  printf("1..%d\n", tap_n);
  return tap_failed ? 1 : 0;
}

#endif
