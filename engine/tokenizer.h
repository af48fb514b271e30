/*
** tokenizer.h: building a tokenizer (internal). The public calls are in qora.h.
*/
#ifndef QORA_TOKENIZER_H
#define QORA_TOKENIZER_H

#include "gguf.h"
#include "qora.h"

/* Builds the tokenizer a GGUF's tokenizer.ggml.* metadata describes. NULL with err on error. */
qora_tokenizer *qora_tokenizer_from_gguf(const gguf_file *f, qora_err *err);

void qora_tokenizer_free(qora_tokenizer *tk);

#endif
