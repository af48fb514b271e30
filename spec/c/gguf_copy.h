/*
** gguf_copy.h: the tests' way of writing a GGUF whose keys they have edited: the source's
** tensors are added unchanged, the file written, and both the writer and the source closed.
*/
#ifndef QORA_GGUF_COPY_H
#define QORA_GGUF_COPY_H

#include <stdio.h>

#include "gguf.h"
#include "gguf_write.h"

/* Adds f's tensors to w, writes path, frees w and closes f; ok says the keys went in. */
static inline int gguf_copy_finish(gguf_writer *w, gguf_file *f, int ok, const char *path,
                                   qora_err *err) {
  for (uint64_t i = 0; ok && i < f->n_tensors; i++) {
    const gguf_tensor *t = &f->tensors[i];
    char name[128];

    snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
    ok = gguf_writer_add_tensor(w, name, t->type, t->n_dims, t->ne, t->nbytes, err) == 0;
  }
  ok = ok && gguf_writer_begin(w, path, err) == 0;
  for (uint64_t i = 0; ok && i < f->n_tensors; i++)
    ok = gguf_writer_write(w, f->tensors[i].data, f->tensors[i].nbytes, err) == 0;
  ok = ok && gguf_writer_finish(w, err) == 0;
  gguf_writer_free(w);
  gguf_close(f);
  return ok;
}

#endif
