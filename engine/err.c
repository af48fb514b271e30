/* err.c: filling a qora_err. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

int qora_fail(qora_err *err, const char *fmt, ...) {
  va_list ap;

  if (err == NULL)
    return -1;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  return -1;
}


/* 1 when msg names path as a word of its own: at the start or after a space, and followed by
   the end, a space or a colon ("cannot open PATH: ..." names it). */
static int names(const char *msg, const char *path) {
  size_t n = strlen(path);

  for (const char *p = strstr(msg, path); n > 0 && p != NULL; p = strstr(p + 1, path))
    if ((p == msg || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' ' || p[n] == ':'))
      return 1;
  return 0;
}


void qora_err_in_file(qora_err *err, const char *path) {
  char msg[QORA_ERR_MAX];

  if (err == NULL || names(err->msg, path))
    return;
  if (snprintf(msg, sizeof msg, "%s: %s", path, err->msg) >= 0)   /* a long one is cut */
    memcpy(err->msg, msg, sizeof msg);
}
