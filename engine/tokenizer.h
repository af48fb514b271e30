/*
** tokenizer.h: building a tokenizer (internal). The public calls are in qora.h.
*/
#ifndef QORA_TOKENIZER_H
#define QORA_TOKENIZER_H

#include "gguf.h"
#include "qora.h"

/* Builds the tokenizer a GGUF's tokenizer.ggml.* metadata describes. NULL with err on error. */
qora_tokenizer *qora_tokenizer_from_gguf(const gguf_file *f, qora_err *err);

/*
** Builds the tokenizer of a Hugging Face folder: dir/tokenizer.json (required) and
** dir/tokenizer_config.json (optional: BOS, EOS, chat template). Components qora cannot
** honour exactly are refused by name. NULL with err on error.
*/
qora_tokenizer *qora_tokenizer_from_hf(const char *dir, qora_err *err);

/*
** The same, with ids from the tokenizer's size to n_vocab - 1 (the embedding's padded rows)
** made unused "[PAD<id>]" tokens, as llama.cpp's converter and model_save.c write them. A
** smaller n_vocab pads nothing.
*/
qora_tokenizer *qora_tokenizer_from_hf_padded(const char *dir, int32_t n_vocab,
                                              qora_err *err);

void qora_tokenizer_free(qora_tokenizer *tk);

/* The chat template the vocabulary came with (tokenizer.chat_template or
** tokenizer_config.json), NUL-terminated, or NULL; len receives its length. */
const char *qora_tokenizer_chat_template(const qora_tokenizer *tk, size_t *len);

/*
** Template i of the other named chat templates of a tokenizer_config.json that lists several
** (as llama.cpp's converter names them: characters other than letters, digits and _ made _),
** NUL-terminated, with its name; NULL past the last. GGUF files keep theirs as metadata keys.
*/
const char *qora_tokenizer_named_template(const qora_tokenizer *tk, int i, const char **name,
                                          size_t *len);

#endif
