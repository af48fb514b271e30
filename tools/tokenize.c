/*
** tokenize: prints the token ids of a text, for checking qora's tokenizer by hand.
**
**   build/tools/tokenize [--special] [--bos] [--pieces] [--time] VOCAB [TEXT]
**
** VOCAB is a GGUF file or a Hugging Face folder (tokenizer.json); TEXT defaults to stdin.
** --pieces prints one token a line (id, then its bytes); --time reports to stderr how long
** reading the vocabulary took.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "gguf.h"
#include "tokenizer.h"

static double now_ms(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}


static char *read_stdin(size_t *n) {
  size_t cap = 1 << 16;
  char *buf = malloc(cap);
  size_t k;

  *n = 0;
  while (buf && (k = fread(buf + *n, 1, cap - *n, stdin)) > 0) {
    *n += k;
    if (*n == cap)
      buf = realloc(buf, cap *= 2);
  }
  return buf;
}


static qora_tokenizer *open_vocab(const char *path, gguf_file **f, qora_err *err) {
  struct stat st;

  *f = NULL;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
    return qora_tokenizer_from_hf(path, err);
  if ((*f = gguf_open(path, err)) == NULL)
    return NULL;
  return qora_tokenizer_from_gguf(*f, err);
}


/* A piece that is not whole UTF-8 (a token may hold part of a character) shows its bytes. */
static void print_piece(const qora_tokenizer *tk, int32_t id) {
  size_t n;
  const char *b = qora_token_bytes(tk, id, &n);
  int whole = qora_utf8_valid(b, n);

  printf("%d\t", id);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)b[i];

    if (c == '\\' || c < 0x20 || c == 0x7F || (c >= 0x80 && !whole))
      printf(c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\\' ? "\\\\" : "\\x%02x", c);
    else
      putchar(c);
  }
  putchar('\n');
}


int main(int argc, char **argv) {
  int flags = 0, pieces = 0, timing = 0, i = 1;
  qora_err err = {{0}};
  qora_tokens ids = { 0 };
  gguf_file *f;
  qora_tokenizer *tk;
  char *text;
  size_t len;
  double t0;

  for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
    if (strcmp(argv[i], "--special") == 0)
      flags |= QORA_TOK_SPECIAL;
    else if (strcmp(argv[i], "--bos") == 0)
      flags |= QORA_TOK_BOS;
    else if (strcmp(argv[i], "--pieces") == 0)
      pieces = 1;
    else if (strcmp(argv[i], "--time") == 0)
      timing = 1;
    else
      break;
  }
  if (i >= argc || i + 2 < argc) {
    fprintf(stderr, "usage: tokenize [--special] [--bos] [--pieces] [--time] VOCAB [TEXT]\n"
            "VOCAB is a GGUF file or a folder with tokenizer.json; TEXT defaults to stdin\n");
    return 1;
  }
  t0 = now_ms();
  if ((tk = open_vocab(argv[i], &f, &err)) == NULL) {
    fprintf(stderr, "tokenize: %s\n", err.msg);
    return 1;
  }
  if (timing)
    fprintf(stderr, "vocabulary of %d tokens read in %.1f ms\n", qora_vocab_size(tk),
            now_ms() - t0);
  text = i + 1 < argc ? strdup(argv[i + 1]) : read_stdin(&len);
  len = i + 1 < argc ? strlen(text) : len;
  if (qora_tokenize(tk, text, len, flags, &ids, &err) < 0) {
    fprintf(stderr, "tokenize: %s\n", err.msg);
    return 1;
  }
  for (size_t k = 0; k < ids.n; k++) {
    if (pieces)
      print_piece(tk, ids.ids[k]);
    else
      printf(k ? " %d" : "%d", ids.ids[k]);
  }
  if (!pieces)
    putchar('\n');
  qora_tokens_free(&ids);
  qora_tokenizer_free(tk);
  gguf_close(f);
  free(text);
  return 0;
}
