/*
** fileio.h: opening the files a model is made of. Only regular files are read: a FIFO or a
** device named by mistake is refused at once instead of blocking or reading forever.
*/
#ifndef QORA_FILEIO_H
#define QORA_FILEIO_H

#include <stddef.h>
#include <stdint.h>

#include "qora.h"

/* Maps a regular file read-only; NULL with err on failure (an empty file is a failure). */
void *qora_map_file(const char *path, uint64_t *size, qora_err *err);

/* Reads a regular file of at most max bytes, NUL-terminated; NULL with err on failure. */
char *qora_read_file(const char *path, size_t max, size_t *len, qora_err *err);

/* 1 when something exists at path (to tell an absent optional file from a broken one). */
int qora_exists(const char *path);

#endif
