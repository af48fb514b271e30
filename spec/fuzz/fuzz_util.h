/*
** fuzz_util.h: what the libFuzzer harnesses share. Loaders that only take a path get the
** input through a file in a private scratch folder (on /dev/shm when there is one, so a run
** does not wear a disk); a harness calls fuzz_spit once per input.
*/
#ifndef QORA_FUZZ_UTIL_H
#define QORA_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fuzz_dir_path[64];
static char fuzz_names[8][32];
static int fuzz_n_names;

/* Removes the scratch files and folder at exit. */
static void fuzz_cleanup(void) {
  char path[128];

  for (int i = 0; i < fuzz_n_names; i++) {
    snprintf(path, sizeof path, "%s/%s", fuzz_dir_path, fuzz_names[i]);
    unlink(path);
  }
  rmdir(fuzz_dir_path);
}


/* The scratch folder, made on first use and kept for the whole run. */
static const char *fuzz_dir(void) {
  char *dir = fuzz_dir_path;

  if (dir[0] == '\0') {
    snprintf(dir, sizeof fuzz_dir_path, "%s/qora-fuzz-XXXXXX", access("/dev/shm", W_OK) == 0 ?
             "/dev/shm" : "/tmp");
    if (mkdtemp(dir) == NULL) {
      perror("mkdtemp");
      abort();
    }
    atexit(fuzz_cleanup);
  }
  return dir;
}


/* Writes data to dir/name and returns the path (valid until the next call). */
__attribute__((unused))
static const char *fuzz_spit(const char *name, const uint8_t *data, size_t size) {
  static char path[128];
  FILE *f;
  int i;

  snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
  for (i = 0; i < fuzz_n_names && strcmp(fuzz_names[i], name) != 0; i++)
    ;
  if (i == fuzz_n_names && i < 8)
    snprintf(fuzz_names[fuzz_n_names++], sizeof fuzz_names[0], "%s", name);
  f = fopen(path, "wb");
  if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
    perror(path);
    abort();
  }
  return path;
}


/* A failed expectation about a result (not a crash): report it and stop, as a crash would. */
#define FUZZ_CHECK(cond, ...) do { \
    if (!(cond)) { \
      fprintf(stderr, "fuzz check failed: %s: ", #cond); \
      fprintf(stderr, __VA_ARGS__); \
      fputc('\n', stderr); \
      abort(); \
    } \
  } while (0)

#endif
