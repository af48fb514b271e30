/* err.h: filling a qora_err. */
#ifndef QORA_ERR_H
#define QORA_ERR_H

#include "qora.h"

/* Formats a message into err (which may be NULL) and returns -1, for `return qora_fail(...)`. */
int qora_fail(qora_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Starts err's message (err may be NULL) with "path: " unless it names path already. */
void qora_err_in_file(qora_err *err, const char *path);

#endif
