/*
** fuzz_safetensors.c: the safetensors reader on arbitrary bytes. What it accepts must keep its
** promises: every tensor inside the data section, its size its dtype times its shape, the
** tensors sorted by name and tiling the data section without gap or overlap.
*/
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "safetensors.h"

static void check(const st_file *f) {
  const uint8_t *lo = f->map + f->data_offset, *hi = f->map + f->size;
  uint64_t total = 0;

  for (size_t i = 0; i < f->n_tensors; i++) {
    const st_tensor *t = &f->tensors[i];
    const uint8_t *p = t->data;

    FUZZ_CHECK(p >= lo && p <= hi && t->nbytes <= (uint64_t)(hi - p), "tensor %s outside",
               t->name);
    FUZZ_CHECK(i == 0 || strcmp(f->tensors[i - 1].name, t->name) < 0, "names not sorted");
    FUZZ_CHECK(st_file_find(f, t->name) == t, "tensor %s not found by name", t->name);
    if (t->type >= 0 && t->nbytes > 0)
      (void)((volatile const uint8_t *)p)[t->nbytes - 1];
    total += t->nbytes;
  }
  FUZZ_CHECK(total == (uint64_t)(hi - lo), "tensors cover %llu of %llu bytes",
             (unsigned long long)total, (unsigned long long)(hi - lo));
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  qora_err err = {{0}};
  st_file *f = st_open_memory(data, size, "fuzz.safetensors", &err);

  if (f == NULL) {
    FUZZ_CHECK(err.msg[0] != '\0', "refused without a message");
    return 0;
  }
  check(f);
  st_close(f);
  return 0;
}
