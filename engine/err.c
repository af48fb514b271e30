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


/*
** 1 when msg names path as the file readers do: "PATH is not a GGUF file", "cannot open PATH:
** ...", "cannot map PATH: ...". A looser test, path as any word of msg, took a file named "key"
** as named by "a metadata key at byte 982 ...".
*/
static int names(const char *msg, const char *path) {
  size_t n = strlen(path), left;
  int cut = strlen(msg) == QORA_ERR_MAX - 1;   /* the reader's message filled the buffer */
  const char *verb_end;

  if (strncmp(msg, "cannot ", 7) == 0 && (verb_end = strchr(msg + 7, ' ')) != NULL)
    msg = verb_end + 1;   /* "cannot open ", "cannot map ", ... */
  left = strlen(msg);
  if (n == 0)
    return 0;
  if (left < n)   /* cut inside a long path, which it names all the same */
    return cut && strncmp(msg, path, left) == 0;
  return strncmp(msg, path, n) == 0 && (msg[n] == ':' || msg[n] == ' ' || (cut && !msg[n]));
}


void qora_err_in_file(qora_err *err, const char *path) {
  char msg[QORA_ERR_MAX];
  size_t len, keep;
  long room;

  if (err == NULL || names(err->msg, path))
    return;
  /* A path too long to fit with the reason keeps its end, after "...": the reason matters more. */
  len = strlen(path);
  room = (long)sizeof msg - 1 - (long)strlen(err->msg) - 2;
  keep = room < 40 ? 40 : (size_t)room;
  int n = len <= keep ? snprintf(msg, sizeof msg, "%s: %s", path, err->msg)
                      : snprintf(msg, sizeof msg, "...%s: %s", path + len - (keep - 3), err->msg);
  if (n >= 0)   /* a reason longer than the whole buffer is cut at its end */
    memcpy(err->msg, msg, sizeof msg);
}
