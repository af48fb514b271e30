/*
** fileio.c: opening the files a model is made of.
*/
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "fileio.h"

/*
** O_NONBLOCK makes opening a FIFO return at once (it would otherwise wait for a writer);
** anything but a regular file is then refused.
*/
static int open_regular(const char *path, uint64_t *size, qora_err *err) {
  struct stat st;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

  if (fd < 0)
    return qora_fail(err, "cannot open %s: %s", path, strerror(errno));
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return qora_fail(err, "cannot open %s: %s", path,
                     S_ISDIR(st.st_mode) ? "it is a folder" : "not a regular file");
  }
  *size = (uint64_t)st.st_size;
  return fd;
}


void *qora_map_file(const char *path, uint64_t *size, qora_err *err) {
  int fd = open_regular(path, size, err);
  void *map;

  if (fd < 0)
    return NULL;
  if (*size == 0) {
    close(fd);
    qora_fail(err, "cannot use %s: the file is empty", path);
    return NULL;
  }
  map = mmap(NULL, (size_t)*size, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (map == MAP_FAILED) {
    qora_fail(err, "cannot map %s: %s", path, strerror(errno));
    return NULL;
  }
  return map;
}


char *qora_read_file(const char *path, size_t max, size_t *len, qora_err *err) {
  uint64_t size;
  int fd = open_regular(path, &size, err);
  char *buf;
  size_t got = 0;

  if (fd < 0)
    return NULL;
  if (size > max) {
    close(fd);
    qora_fail(err, "cannot use %s: %llu bytes is more than the %zu such a file may hold", path,
              (unsigned long long)size, max);
    return NULL;
  }
  buf = malloc((size_t)size + 1);
  while (buf != NULL && got < size) {
    ssize_t n = read(fd, buf + got, (size_t)size - got);
    if (n <= 0)
      break;
    got += (size_t)n;
  }
  close(fd);
  if (buf == NULL || got != size) {
    qora_fail(err, "cannot read %s: %s", path, buf ? "it changed while being read" : "no memory");
    free(buf);
    return NULL;
  }
  buf[size] = '\0';
  *len = (size_t)size;
  return buf;
}


int qora_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}
