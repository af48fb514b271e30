/*
** bench_gguf: writes the benchmark's model files, full-size SmolLM3-3B-shaped GGUFs with random
** but valid blocks (36 layers, hidden 2048, 16 heads, 4 KV heads, FFN 11008, 128,256-token
** vocabulary, tied embeddings, F32 norms) and the Llama 3 tokenizer copied from a vocabulary
** GGUF. Files already present are kept (the name says what is inside; -f rewrites them).
**
** usage: bench_gguf -v VOCAB.gguf [-o DIR] [-s SEED] [-f] q4_0|q8_0|q4_k_m...
**        bench_gguf -i FILE.gguf...       (prints the bytes of each file's tensors as JSON)
**
** Scales are chosen so the model neither vanishes nor explodes: each matrix has weights of rms
** 1 / sqrt(inputs) (an output of rms about 1 from an input of rms 1), the two matrices that
** feed the residual stream half that, the embedding rms 1, and the final norm 0.1 so that the
** logits (which mean nothing) have an rms of a few units.
*/
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "gguf.h"
#include "gguf_write.h"
#include "quant.h"

enum { N_LAYER = 36, N_EMBD = 2048, N_HEAD = 16, N_HEAD_KV = 4, HEAD_DIM = 128, N_FF = 11008,
       N_VOCAB = 128256, N_CTX = 65536 };

#define CHUNK_BLOCKS 16384      /* blocks generated and written at a time */

/* One tensor to write: shape as GGUF stores it (ne[0] = inputs), type, rms of its weights. */
typedef struct tdesc {
  char name[64];
  uint32_t type;
  uint64_t ne[2];
  uint32_t n_dims;
  double rms;               /* for matrices; norms are drawn around `norm` instead */
  float norm;
} tdesc;

/* The mixes this tool makes, with the llama.cpp file type each one claims. */
typedef struct mix {
  const char *name;
  uint32_t file_type;
  uint32_t base;            /* type of every matrix the rule below does not change */
} mix;

static const mix MIXES[] = {
  {"q4_0", 2, QORA_Q4_0},
  {"q8_0", 7, QORA_Q8_0},
  {"q4_k_m", 15, QORA_Q4_K},
};


/* ---------------------------------------------------------------- random */

/* The engine's qora_rng gives one stream per seed on every machine: same seed, same file. */
static void random_bytes(qora_rng *r, void *dst, size_t n) {
  uint8_t *p = dst;

  for (; n >= 8; n -= 8, p += 8) {
    uint64_t v = qora_rng_next(r);
    memcpy(p, &v, 8);
  }
  if (n > 0) {
    uint64_t v = qora_rng_next(r);
    memcpy(p, &v, n);
  }
}


/* IEEE half from a finite float below 65504, rounded to nearest even (subnormals included). */
static qora_f16 half(float f) {
  uint32_t x, sign, r;

  memcpy(&x, &f, 4);
  sign = (x >> 16) & 0x8000;
  if (fabsf(f) < 6.103515625e-05f)                 /* below the smallest normal half */
    return (qora_f16)(sign | (uint32_t)lrintf(fabsf(f) * 16777216.0f));
  x &= 0x7fffffff;
  r = x + 0xfff + ((x >> 13) & 1);
  return (qora_f16)(sign | ((r - (112u << 23)) >> 13));
}


/* A per-block scale: the tensor's scale jittered by +-25 %, so no two blocks are alike. */
static qora_f16 jitter(qora_rng *r, double d) {
  return half((float)(d * (0.75 + 0.5 * qora_rng_uniform(r))));
}


/* ------------------------------------------------------- block generators */

/*
** Each generator fills n blocks whose values have about the given rms. The divisors are the
** rms of the integer levels: Q4_0 levels q - 8 over 0..15 (sqrt 21.5), Q8_0 levels over
** -127..127 (sqrt 5376), Q4_K levels (q - 7.5) over 0..15 times a 6-bit scale in 32..63, Q6_K
** levels q - 32 over 0..63 times an 8-bit scale of magnitude 64..127.
*/
static void gen_q4_0(qora_rng *r, void *dst, size_t n, double rms) {
  block_q4_0 *b = dst;

  for (size_t i = 0; i < n; i++) {
    b[i].d = jitter(r, rms / sqrt(21.5));
    random_bytes(r, b[i].qs, sizeof b[i].qs);
  }
}


static void gen_q8_0(qora_rng *r, void *dst, size_t n, double rms) {
  block_q8_0 *b = dst;

  for (size_t i = 0; i < n; i++) {
    b[i].d = jitter(r, rms / sqrt(5376.0));
    random_bytes(r, b[i].qs, sizeof b[i].qs);
    for (int j = 0; j < QK8_0; j++)      /* a quantizer never writes -128 */
      if (b[i].qs[j] == -128)
        b[i].qs[j] = -127;
  }
}


/* Packs eight 6-bit scales and mins the way GGML's get_scale_min_k4 unpacks them. */
static void pack_k4_scales(uint8_t *q, const uint8_t *sc, const uint8_t *m) {
  for (int j = 0; j < 4; j++) {
    q[j] = (uint8_t)(sc[j] | ((sc[j + 4] >> 4) << 6));
    q[j + 4] = (uint8_t)(m[j] | ((m[j + 4] >> 4) << 6));
    q[j + 8] = (uint8_t)((sc[j + 4] & 0xf) | ((m[j + 4] & 0xf) << 4));
  }
}


/* value = d * sc * q - dmin * m; with dmin = 8 d and m = sc * 7.5 / 8 the levels center on 0. */
static void gen_q4_k(qora_rng *r, void *dst, size_t n, double rms) {
  block_q4_K *b = dst;
  double d = rms / (sqrt(21.25) * 48.4);    /* 48.4: rms of a scale drawn from 32..63 */

  for (size_t i = 0; i < n; i++) {
    uint8_t sc[8], m[8];
    float bd = (float)(d * (0.75 + 0.5 * qora_rng_uniform(r)));
    for (int j = 0; j < 8; j++) {
      sc[j] = (uint8_t)(32 + qora_rng_next(r) % 32);
      m[j] = (uint8_t)lrint(sc[j] * 7.5 / 8.0);
    }
    b[i].d = half(bd);
    b[i].dmin = half(8.0f * bd);
    pack_k4_scales(b[i].scales, sc, m);
    random_bytes(r, b[i].qs, sizeof b[i].qs);
  }
}


static void gen_q6_k(qora_rng *r, void *dst, size_t n, double rms) {
  block_q6_K *b = dst;
  double d = rms / (sqrt(341.5) * 97.3);    /* 97.3: rms of a scale drawn from 64..127 */

  for (size_t i = 0; i < n; i++) {
    random_bytes(r, b[i].ql, sizeof b[i].ql);
    random_bytes(r, b[i].qh, sizeof b[i].qh);
    for (int j = 0; j < QK_K / 16; j++) {
      uint64_t v = qora_rng_next(r);
      int mag = 64 + (int)(v % 64);
      b[i].scales[j] = (int8_t)((v >> 32) & 1 ? -mag : mag);
    }
    b[i].d = jitter(r, d);
  }
}


static void gen_f32(qora_rng *r, void *dst, size_t n, double center) {
  float *f = dst;

  for (size_t i = 0; i < n; i++)
    f[i] = (float)(center * (0.9 + 0.2 * qora_rng_uniform(r)));
}


typedef void (*gen_fn)(qora_rng *r, void *dst, size_t n, double scale);

/* Generator, values per block and bytes per block of a type. */
static gen_fn generator(uint32_t type, int *blck, size_t *size) {
  *blck = 1;
  *size = 0;
  switch (type) {
  case QORA_F32: *blck = 1; *size = 4; return gen_f32;
  case QORA_Q4_0: *blck = QK4_0; *size = sizeof(block_q4_0); return gen_q4_0;
  case QORA_Q8_0: *blck = QK8_0; *size = sizeof(block_q8_0); return gen_q8_0;
  case QORA_Q4_K: *blck = QK_K; *size = sizeof(block_q4_K); return gen_q4_k;
  case QORA_Q6_K: *blck = QK_K; *size = sizeof(block_q6_K); return gen_q6_k;
  default: return NULL;
  }
}


/* ---------------------------------------------------------------- layout */

/* llama.cpp's use_more_bits: the first and last eighth of the layers and every third between. */
static int more_bits(int i, int n) {
  return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}


static tdesc matrix(const char *name, uint32_t type, uint64_t in, uint64_t out, double gain) {
  tdesc t = {.type = type, .ne = {in, out}, .n_dims = 2, .rms = gain / sqrt((double)in)};

  snprintf(t.name, sizeof t.name, "%s", name);
  return t;
}


static tdesc norm(const char *name, float center) {
  tdesc t = {.type = QORA_F32, .ne = {N_EMBD, 1}, .n_dims = 1, .norm = center};

  snprintf(t.name, sizeof t.name, "%s", name);
  return t;
}


/*
** The tensors of a mix, in the order llama.cpp's converter writes them. Q4_K_M follows
** llama.cpp's rule for a tied embedding (Q6_K, as the output matrix would be) and for attn_v
** and ffn_down (Q6_K where more_bits); a pure Q4_0 or Q8_0 file keeps its type everywhere.
*/
static int layout(const mix *mx, tdesc *t) {
  int n = 0, km = mx->base == QORA_Q4_K;
  char name[64];

  t[n] = matrix("token_embd.weight", km ? QORA_Q6_K : mx->base, N_EMBD, N_VOCAB, 1.0);
  t[n++].rms = 1.0;                      /* rows are looked up, not multiplied */
  t[n++] = norm("output_norm.weight", 0.1f);
  for (int il = 0; il < N_LAYER; il++) {
    uint32_t wide = km && more_bits(il, N_LAYER) ? QORA_Q6_K : mx->base;
#define NAME(s) (snprintf(name, sizeof name, "blk.%d." s, il), name)
    t[n++] = norm(NAME("attn_norm.weight"), 1.0f);
    t[n++] = matrix(NAME("attn_q.weight"), mx->base, N_EMBD, N_HEAD * HEAD_DIM, 1.0);
    t[n++] = matrix(NAME("attn_k.weight"), mx->base, N_EMBD, N_HEAD_KV * HEAD_DIM, 1.0);
    t[n++] = matrix(NAME("attn_v.weight"), wide, N_EMBD, N_HEAD_KV * HEAD_DIM, 1.0);
    t[n++] = matrix(NAME("attn_output.weight"), mx->base, N_HEAD * HEAD_DIM, N_EMBD, 0.5);
    t[n++] = norm(NAME("ffn_norm.weight"), 1.0f);
    t[n++] = matrix(NAME("ffn_gate.weight"), mx->base, N_EMBD, N_FF, 1.0);
    t[n++] = matrix(NAME("ffn_up.weight"), mx->base, N_EMBD, N_FF, 1.0);
    t[n++] = matrix(NAME("ffn_down.weight"), wide, N_FF, N_EMBD, 0.5);
#undef NAME
  }
  return n;
}


static uint64_t tensor_bytes(const tdesc *t) {
  int blck;
  size_t size;

  generator(t->type, &blck, &size);
  return t->ne[0] / blck * size * t->ne[1];
}


/* -------------------------------------------------------------- metadata */

static int set_model_keys(gguf_writer *w, const mix *mx, qora_err *err) {
  char name[96];

  snprintf(name, sizeof name, "SmolLM3-3B shape, random weights, %s (qora bench)", mx->name);
  if (gguf_writer_set_str(w, "general.architecture", "smollm3", err) ||
      gguf_writer_set_str(w, "general.name", name, err) ||
      gguf_writer_set_u32(w, "smollm3.block_count", N_LAYER, err) ||
      gguf_writer_set_u32(w, "smollm3.context_length", N_CTX, err) ||
      gguf_writer_set_u32(w, "smollm3.embedding_length", N_EMBD, err) ||
      gguf_writer_set_u32(w, "smollm3.feed_forward_length", N_FF, err) ||
      gguf_writer_set_u32(w, "smollm3.attention.head_count", N_HEAD, err) ||
      gguf_writer_set_u32(w, "smollm3.attention.head_count_kv", N_HEAD_KV, err) ||
      gguf_writer_set_f32(w, "smollm3.rope.freq_base", 5e6f, err) ||
      gguf_writer_set_f32(w, "smollm3.attention.layer_norm_rms_epsilon", 1e-6f, err) ||
      gguf_writer_set_u32(w, "smollm3.rope.dimension_count", HEAD_DIM, err) ||
      gguf_writer_set_u32(w, "smollm3.vocab_size", N_VOCAB, err) ||
      gguf_writer_set_u32(w, "general.file_type", mx->file_type, err))
    return -1;
  return 0;
}


/* Copies every tokenizer.* key of the vocabulary file, after checking it has the full vocab. */
static int copy_tokenizer(gguf_writer *w, const char *vocab, qora_err *err) {
  gguf_file *v = gguf_open(vocab, err);
  const gguf_kv *tokens;
  int rc = 0;

  if (v == NULL)
    return -1;
  tokens = gguf_find(v, "tokenizer.ggml.tokens");
  if (tokens == NULL || tokens->n != N_VOCAB) {
    gguf_close(v);
    return qora_fail(err, "%s: expected %d tokens; give the Llama 3 vocabulary "
                     "(vectors/tokenizer/llama3-vocab.gguf)", vocab, N_VOCAB);
  }
  for (uint64_t i = 0; i < v->n_kv && rc == 0; i++)
    if (v->kv[i].key.len > 10 && memcmp(v->kv[i].key.ptr, "tokenizer.", 10) == 0)
      rc = gguf_writer_copy_kv(w, &v->kv[i], err);
  gguf_close(v);
  return rc;
}


/* ----------------------------------------------------------------- files */

static int write_tensor(gguf_writer *w, qora_rng *r, const tdesc *t, void *buf, qora_err *err) {
  int blck;
  size_t size;
  gen_fn gen = generator(t->type, &blck, &size);
  uint64_t left = t->ne[0] * t->ne[1] / blck;

  while (left > 0) {
    size_t n = left < CHUNK_BLOCKS ? (size_t)left : CHUNK_BLOCKS;
    gen(r, buf, n, t->type == QORA_F32 ? t->norm : t->rms);
    if (gguf_writer_write(w, buf, n * size, err) != 0)
      return -1;
    left -= n;
  }
  return 0;
}


static int write_file(const mix *mx, const char *path, const char *vocab, uint64_t s,
                      qora_err *err) {
  static tdesc t[2 + 9 * N_LAYER];
  int n = layout(mx, t), rc = -1;
  gguf_writer *w = gguf_writer_new(err);
  void *buf = malloc(CHUNK_BLOCKS * sizeof(block_q6_K));
  qora_rng r;

  qora_rng_seed(&r, s);
  if (buf == NULL)
    qora_fail(err, "out of memory");
  if (w == NULL || buf == NULL || set_model_keys(w, mx, err) || copy_tokenizer(w, vocab, err) ||
      gguf_writer_set_u32(w, "general.quantization_version", 2, err))
    goto done;
  for (int i = 0; i < n; i++)
    if (gguf_writer_add_tensor(w, t[i].name, t[i].type, t[i].n_dims, t[i].ne,
                               tensor_bytes(&t[i]), err) != 0)
      goto done;
  if (gguf_writer_begin(w, path, err) != 0)
    goto done;
  for (int i = 0; i < n; i++)
    if (write_tensor(w, &r, &t[i], buf, err) != 0)
      goto done;
  rc = gguf_writer_finish(w, err);
  if (rc == 0)
    fprintf(stderr, "bench_gguf: wrote %s (%.3f GB, %d tensors)\n", path,
            gguf_writer_file_size(w) / 1e9, n);
done:
  gguf_writer_free(w);
  free(buf);
  return rc;
}


static const mix *find_mix(const char *name) {
  for (size_t i = 0; i < sizeof MIXES / sizeof MIXES[0]; i++)
    if (strcmp(MIXES[i].name, name) == 0)
      return &MIXES[i];
  return NULL;
}


/* mkdir -p */
static int make_dirs(const char *dir) {
  char p[4096];

  snprintf(p, sizeof p, "%s", dir);
  for (char *c = p + 1; *c; c++)
    if (*c == '/') {
      *c = '\0';
      if (mkdir(p, 0755) != 0 && errno != EEXIST)
        return -1;
      *c = '/';
    }
  return mkdir(p, 0755) != 0 && errno != EEXIST ? -1 : 0;
}


static int usage(void) {
  fprintf(stderr, "usage: bench_gguf -v VOCAB.gguf [-o DIR] [-s SEED] [-f] "
          "q4_0|q8_0|q4_k_m...\n       bench_gguf -i FILE.gguf...   (tensor bytes, as JSON)\n");
  return 2;
}


/*
** The bytes a decode step reads from the weights: every tensor once (with a tied embedding the
** LM head reads the whole table; the embedding lookup itself reads one row, left out).
*/
static int info(int argc, char **argv) {
  for (int i = 0; i < argc; i++) {
    qora_err err;
    gguf_file *f = gguf_open(argv[i], &err);
    uint64_t bytes = 0;
    if (f == NULL) {
      fprintf(stderr, "bench_gguf: %s\n", err.msg);
      return 1;
    }
    for (uint64_t t = 0; t < f->n_tensors; t++)
      bytes += f->tensors[t].nbytes;
    printf("{\"file\": \"%s\", \"tensors\": %llu, \"tensor_bytes\": %llu}\n", argv[i],
           (unsigned long long)f->n_tensors, (unsigned long long)bytes);
    gguf_close(f);
  }
  return 0;
}


int main(int argc, char **argv) {
  const char *dir = "models/bench", *vocab = NULL;
  uint64_t s = 1;
  int force = 0, i = 1, failed = 0;

  if (argc > 2 && strcmp(argv[1], "-i") == 0)
    return info(argc - 2, argv + 2);
  for (; i < argc && argv[i][0] == '-'; i++) {
    if (strcmp(argv[i], "-f") == 0)
      force = 1;
    else if (i + 1 < argc && strcmp(argv[i], "-o") == 0)
      dir = argv[++i];
    else if (i + 1 < argc && strcmp(argv[i], "-v") == 0)
      vocab = argv[++i];
    else if (i + 1 < argc && strcmp(argv[i], "-s") == 0)
      s = strtoull(argv[++i], NULL, 10);
    else
      return usage();
  }
  if (vocab == NULL || i == argc)
    return usage();
  if (make_dirs(dir) != 0) {
    fprintf(stderr, "bench_gguf: cannot create %s: %s\n", dir, strerror(errno));
    return 1;
  }
  for (; i < argc; i++) {
    const mix *mx = find_mix(argv[i]);
    char path[4096];
    struct stat st;
    qora_err err;
    if (mx == NULL) {
      fprintf(stderr, "bench_gguf: unknown mix %s; choose q4_0, q8_0 or q4_k_m\n", argv[i]);
      return 2;
    }
    snprintf(path, sizeof path, "%s/smollm3-3b-%s.gguf", dir, mx->name);
    if (!force && stat(path, &st) == 0)
      continue;
    if (write_file(mx, path, vocab, s, &err) != 0) {
      fprintf(stderr, "bench_gguf: %s: %s\n", path, err.msg);
      failed = 1;
    }
  }
  return failed;
}
