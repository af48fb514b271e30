/*
** test_model_load.c: loading refuses broken and hostile model files with a message that
** names the problem, and never crashes. The files are damaged copies of a reference GGUF.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixture_io.h"
#include "gguf_copy.h"
#include "gguf_write.h"
#include "matmul_kernels.h"
#include "model.h"
#include "qora.h"
#include "quant.h"
#include "tap.h"

#define SRC "../shared/vectors/tiny-smollm3/tiny-smollm3-q4_k_m.gguf"

static unsigned char *img;
static size_t img_size;
static char tmp_path[] = "/tmp/qora-test-XXXXXX";


/* Writes n bytes of buf to the temporary file and loads it. */
static qora_model *load_bytes(const unsigned char *buf, size_t n, qora_err *err) {
  FILE *f = fopen(tmp_path, "wb");

  fwrite(buf, 1, n, f);
  fclose(f);
  return qora_model_load(tmp_path, &(qora_load_opts){ .n_threads = 1 }, err);
}


/* The offset just after a tensor's name in the header (its n_dims field). */
static size_t after_name(const char *name) {
  unsigned char *p = memmem(img, img_size, name, strlen(name));
  return p ? (size_t)(p - img) + strlen(name) : 0;
}


/* Applies a change to a copy, loads it, and expects a refusal mentioning want. */
static void expect(void (*change)(unsigned char *), const char *want, const char *what) {
  unsigned char *copy = malloc(img_size);
  qora_err err = {{0}};

  memcpy(copy, img, img_size);
  change(copy);
  qora_model *m = load_bytes(copy, img_size, &err);
  TAP_OK(m == NULL && strstr(err.msg, want), "refuses %s: %s", what, err.msg);
  qora_model_free(m);
  free(copy);
}


static void rename_q(unsigned char *c) {
  c[after_name("blk.2.attn_q.weight") - strlen("q.weight")] = 'x';
}


static void unknown_type(unsigned char *c) {
  size_t at = after_name("blk.1.ffn_up.weight") + 4 + 2 * 8;   /* n_dims, ne[0], ne[1] */
  uint32_t q2_k = 10;
  memcpy(c + at, &q2_k, 4);
}


static void wrong_shape(unsigned char *c) {
  size_t at = after_name("blk.0.attn_k.weight") + 4 + 8;       /* ne[1]: 64 rows */
  uint64_t rows = 32;
  memcpy(c + at, &rows, 8);
}


static void wrong_heads(unsigned char *c) {
  unsigned char *p = memmem(c, img_size, "smollm3.attention.head_count_kv", 31);
  uint32_t three = 3;
  memcpy(p + 31 + 4, &three, 4);                               /* after the value type */
}


static void wrong_arch(unsigned char *c) {
  unsigned char *p = memmem(c, img_size, "smollm3", 7);        /* general.architecture */
  memcpy(p, "gpt2xxx", 7);
}


static uint32_t norm_type;           /* what norm_of_type writes */

static void norm_of_type(unsigned char *c) {
  size_t at = after_name("blk.0.attn_norm.weight") + 4 + 8;    /* n_dims, ne[0] */
  memcpy(c + at, &norm_type, 4);
}


/* A norm of a type qora does not widen is refused with the type's number and GGML name. */
static void test_norm_types(void) {
  static const struct {
    uint32_t type;
    const char *want;
  } cases[] = {
    {6, "tensor blk.0.attn_norm.weight is a norm stored as type 6 (Q5_0); qora reads norms as "
        "F32, F16 or BF16"},
    {7, "tensor blk.0.attn_norm.weight is a norm stored as type 7 (Q5_1); "},
    {99, "tensor blk.0.attn_norm.weight is a norm stored as type 99 (unknown); "},
  };
  char what[64];

  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    norm_type = cases[i].type;
    snprintf(what, sizeof what, "a norm of type %u", cases[i].type);
    expect(norm_of_type, cases[i].want, what);
  }
}


static void test_damaged(void) {
  expect(rename_q, "tensor blk.2.attn_q.weight is missing", "a missing tensor");
  expect(unknown_type, "blk.1.ffn_up.weight has type 10", "a tensor type qora cannot compute");
  expect(wrong_shape, "tensor blk.0.attn_k.weight: expected 256x64", "a tensor of wrong shape");
  expect(wrong_heads, "cannot share 3 key/value heads", "contradictory head counts");
  expect(wrong_arch, "architecture gpt2xxx is not supported", "an unknown architecture");
}


/*
** A file whose training context reads 0 (unknown) still makes a session with the default
** options: the default context is 4096 then, not min(4096, 0), which failed as "out of range".
*/
static void test_no_training_context(void) {
  unsigned char *copy = malloc(img_size), *p;
  qora_err err = {{0}};
  uint32_t zero = 0;

  memcpy(copy, img, img_size);
  p = memmem(copy, img_size, "smollm3.context_length", 22);
  memcpy(p + 22 + 4, &zero, 4);                                /* after the value type */
  qora_model *m = load_bytes(copy, img_size, &err);
  qora_session *s = m ? qora_session_new(m, &(qora_session_opts){ 0 }, &err) : NULL;
  TAP_OK(s != NULL && qora_session_ctx(s) == 4096,
         "a training context of 0 gives sessions the default context of 4096 (got %d%s%s)",
         s ? qora_session_ctx(s) : -1, s ? "" : "; ", s ? "" : err.msg);
  qora_session_free(s);
  qora_model_free(m);
  free(copy);
}


/* 1 when msg names path exactly once. */
static int names_once(const char *msg, const char *path) {
  const char *p = strstr(msg, path);

  return p != NULL && strstr(p + 1, path) == NULL;
}


static void test_truncated(void) {
  int refused = 0, tried = 0, named = 0;
  qora_err err;
  const char *unnamed = NULL;

  for (size_t cut = 0; cut < img_size; cut += cut < 8192 ? 61 : 9973) {
    qora_model *m = load_bytes(img, cut, &err);
    refused += m == NULL;
    tried++;
    if (m == NULL && names_once(err.msg, tmp_path))
      named++;
    else if (m == NULL && unnamed == NULL)
      unnamed = strdup(err.msg);
    qora_model_free(m);
  }
  TAP_OK(refused == tried, "refuses the model truncated at %d offsets (%d refused)", tried,
         refused);
  TAP_OK(named == refused, "names the file once in each refusal (%d of %d); first without: %s",
         named, refused, unnamed ? unnamed : "none");
  free((char *)unnamed);
}


/* A FIFO would block open() until a writer came: it must be refused at once. */
static void test_not_regular(void) {
  char fifo[] = "/tmp/qora-fifo-XXXXXX";
  qora_err err = {{0}};
  int fd = mkstemp(fifo);

  close(fd);
  unlink(fifo);
  mkfifo(fifo, 0600);
  qora_model *m = qora_model_load(fifo, NULL, &err);
  TAP_OK(m == NULL && strstr(err.msg, "not a regular file"), "refuses a FIFO without waiting: %s",
         err.msg);
  unlink(fifo);
  m = qora_model_load("/dev/zero", NULL, &err);
  TAP_OK(m == NULL && strstr(err.msg, "not a regular file"), "refuses /dev/zero: %s", err.msg);
  m = qora_model_load("spec/fixtures/hf/tiny-nope/model.safetensors", NULL, &err);
  TAP_OK(m == NULL && strstr(err.msg, "--model-path"),
         "points a safetensors file to its folder: %s", err.msg);
}


/* Writes n bytes of img to path and loads it; the message into err. */
static qora_model *load_cut_at(const char *path, size_t n, qora_err *err) {
  FILE *f = fopen(path, "wb");

  if (f == NULL)
    return NULL;
  fwrite(img, 1, n, f);
  fclose(f);
  return qora_model_load(path, &(qora_load_opts){ .n_threads = 1 }, err);
}


/*
** A file named as a word of its refusal ("metadata" in "a metadata value at byte ...") is
** named all the same, and a path too long to fit beside the reason keeps its end and the whole
** reason.
*/
static void test_named_whatever_the_path(void) {
  char dir[] = "/tmp/qora-test-dir-XXXXXX", cwd[4096], path[700], *slash;
  qora_err err, whole;
  qora_model *m;

  if (!TAP_OK(mkdtemp(dir) != NULL && getcwd(cwd, sizeof cwd) != NULL && chdir(dir) == 0,
              "makes a folder to load from"))
    return;
  m = load_cut_at("metadata", 1000, &err);
  TAP_OK(m == NULL && strncmp(err.msg, "metadata: ", 10) == 0,
         "names a file called metadata: %s", err.msg);
  qora_model_free(m);
  unlink("metadata");

  snprintf(path, sizeof path, "%s/%0200d", dir, 0);
  mkdir(path, 0700);
  slash = path + strlen(path);
  snprintf(slash, sizeof path - strlen(path), "/%0200d.gguf", 1);
  m = load_cut_at(path, 1000, &err);
  qora_model_free(load_cut_at("short.gguf", 1000, &whole));
  const char *reason = strstr(whole.msg, ": ") + 2;
  TAP_OK(m == NULL && strncmp(err.msg, "...", 3) == 0 && strstr(err.msg, reason) != NULL &&
         strstr(err.msg, "1.gguf: ") != NULL, "keeps the whole reason beside a long path: %s",
         err.msg);
  qora_model_free(m);
  unlink(path);
  unlink("short.gguf");

  /* A reader's own message that names a path too long for it is cut, not named twice. */
  snprintf(slash, sizeof path - (size_t)(slash - path), "/%0100d/%0200d.gguf", 2, 3);
  *strrchr(path, '/') = 0;
  mkdir(path, 0700);
  path[strlen(path)] = '/';
  FILE *f = fopen(path, "wb");
  if (f != NULL)
    fclose(f), f = NULL;   /* empty: "cannot use PATH: the file is empty", cut in PATH */
  m = qora_model_load(path, &(qora_load_opts){ .n_threads = 1 }, &err);
  TAP_OK(m == NULL && strncmp(err.msg, "cannot use ", 11) == 0 &&
         strncmp(err.msg + 11, path, strlen(err.msg) - 11) == 0,
         "names a path longer than a message once: %.60s...", err.msg);
  qora_model_free(m);
  unlink(path);
  *strrchr(path, '/') = 0;
  rmdir(path);
  *slash = 0;
  rmdir(path);
  if (chdir(cwd) != 0 || rmdir(dir) != 0)
    TAP_DIAG("could not clean up %s", dir);
}


/* 1 for a norm vector: what bind_norm widens when the file stores it as F16 or BF16. */
static int is_norm(const gguf_tensor *t) {
  return t->n_dims == 1 && t->name.len > 11 &&
         memcmp(t->name.ptr + t->name.len - 11, "norm.weight", 11) == 0;
}


/* Writes SRC again with its F32 norms stored as F16, as some converters write them. */
static int write_f16_norms(const char *path, qora_err *err) {
  gguf_file *f = gguf_open(SRC, err);
  gguf_writer *w = gguf_writer_new(err);
  uint16_t half[4096];
  int ok = f != NULL && w != NULL;

  for (uint64_t i = 0; ok && i < f->n_kv; i++)
    ok = gguf_writer_copy_kv(w, &f->kv[i], err) == 0;
  for (uint64_t i = 0; ok && i < f->n_tensors; i++) {
    const gguf_tensor *t = &f->tensors[i];
    char name[128];
    int norm = is_norm(t);

    snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
    ok = (!norm || (t->type == QORA_F32 && t->ne[0] <= 4096)) &&
         gguf_writer_add_tensor(w, name, norm ? QORA_F16 : t->type, t->n_dims, t->ne,
                                norm ? t->ne[0] * 2 : t->nbytes, err) == 0;
  }
  ok = ok && gguf_writer_begin(w, path, err) == 0;
  for (uint64_t i = 0; ok && i < f->n_tensors; i++) {
    const gguf_tensor *t = &f->tensors[i];

    if (is_norm(t))
      qora_type_get(QORA_F16)->from_float(t->data, half, (int64_t)t->ne[0]);
    ok = gguf_writer_write(w, is_norm(t) ? (const void *)half : t->data,
                           is_norm(t) ? t->ne[0] * 2 : t->nbytes, err) == 0;
  }
  ok = ok && gguf_writer_finish(w, err) == 0;
  gguf_writer_free(w);
  gguf_close(f);
  return ok;
}


/* 1 when every norm of m holds the values of ref's, rounded to F16. */
static int same_norms(const qora_model *m, const qora_model *ref) {
  int n = m->info.n_embd;
  uint16_t h;
  float want;

  for (int il = -1; il < m->info.n_layer; il++) {
    const float *a[2] = { il < 0 ? m->output_norm : m->layers[il].attn_norm,
                          il < 0 ? m->output_norm : m->layers[il].ffn_norm };
    const float *b[2] = { il < 0 ? ref->output_norm : ref->layers[il].attn_norm,
                          il < 0 ? ref->output_norm : ref->layers[il].ffn_norm };
    for (int k = 0; k < 2; k++)
      for (int i = 0; i < n; i++) {
        qora_type_get(QORA_F16)->from_float(&b[k][i], &h, 1);
        qora_type_get(QORA_F16)->to_float(&h, &want, 1);
        if (a[k][i] != want) {
          TAP_DIAG("layer %d norm %d [%d]: expected %g, got %g", il, k, i, want, a[k][i]);
          return 0;
        }
      }
  }
  return 1;
}


/*
** Norms stored as F16 are widened into the heap at load. The repacking that follows took them
** for norms inside the map and dropped their pages: it zeroed them and the heap around them
** (found by fuzz_model_gguf, as a wild free at qora_model_free).
*/
static void test_f16_norms(void) {
  char path[] = "/tmp/qora-test-f16norms-XXXXXX";
  int fd = mkstemp(path);
  qora_err err = {{0}};
  qora_model *m = NULL, *ref;

  close(fd);
  if (!TAP_OK(write_f16_norms(path, &err), "writes the model with F16 norms: %s", err.msg)) {
    unlink(path);
    return;
  }
  m = qora_model_load(path, &(qora_load_opts){ .n_threads = 1 }, &err);
  ref = qora_model_load(SRC, &(qora_load_opts){ .n_threads = 1, .keep_layout = 1 }, &err);
  TAP_OK(m && ref && same_norms(m, ref), "keeps F16 norms intact through the repacking at "
         "load (it ran: %s)", qora_r16_cpu() ? "yes" : "no, not this CPU");
  qora_model_free(m);
  qora_model_free(ref);
  unlink(path);
}


/* ---------------------------------------------------------------- float settings */

/* A change to SRC's metadata: key set to a float, an integer or a string, or removed. */
typedef struct edit {
  enum { SET_F32 = 1, SET_U32, SET_STR, REMOVE } what;   /* 0 ends a list of edits */
  const char *key;
  float f;                  /* SET_F32 */
  uint32_t u;               /* SET_U32 */
  const char *str;          /* SET_STR */
} edit;

#define MAX_EDITS 4


static int apply(gguf_writer *w, const edit *e, qora_err *err) {
  switch (e->what) {
  case SET_F32: return gguf_writer_set_f32(w, e->key, e->f, err) == 0;
  case SET_U32: return gguf_writer_set_u32(w, e->key, e->u, err) == 0;
  case SET_STR: return gguf_writer_set_str(w, e->key, e->str, err) == 0;
  default: return gguf_writer_remove(w, e->key) == 1;
  }
}


/* Writes SRC to path with the edits (up to MAX_EDITS) made, tensors unchanged. */
static int write_edited(const char *path, const edit *edits, qora_err *err) {
  gguf_file *f = gguf_open(SRC, err);
  gguf_writer *w = gguf_writer_new(err);
  int ok = f != NULL && w != NULL;

  for (uint64_t i = 0; ok && i < f->n_kv; i++)
    ok = gguf_writer_copy_kv(w, &f->kv[i], err) == 0;
  for (int i = 0; ok && i < MAX_EDITS && edits[i].what; i++)
    ok = apply(w, &edits[i], err);
  return gguf_copy_finish(w, f, ok, path, err);   /* ok is 0 when f or w is NULL */
}


/* Writes SRC with the edits to path and loads it; the writer's failures come back in err. */
static qora_model *load_edited(const char *path, const edit *edits, qora_err *err) {
  *err = (qora_err){{0}};
  if (!write_edited(path, edits, err))
    return NULL;
  return qora_model_load(path, &(qora_load_opts){ .n_threads = 1, .keep_layout = 1 }, err);
}


/* An edited file the loader must refuse, and a part of the message it must give. */
typedef struct refusal {
  const char *what;
  edit edits[MAX_EDITS];
  const char *want;
} refusal;


/* Writes and loads each case through path: each must be refused with its message. */
static void check_refusals(const char *path, const refusal *cases, size_t n) {
  qora_err err;

  for (size_t i = 0; i < n; i++) {
    qora_model *m = load_edited(path, cases[i].edits, &err);
    TAP_OK(m == NULL && strstr(err.msg, cases[i].want), "refuses %s: %s", cases[i].what,
           m ? "it loaded" : err.msg);
    qora_model_free(m);
  }
}


#define BASE(v) { SET_F32, "smollm3.rope.freq_base", v, 0, NULL }
#define EPS(v) { SET_F32, "smollm3.attention.layer_norm_rms_epsilon", v, 0, NULL }
#define YARN(factor) { SET_STR, "smollm3.rope.scaling.type", 0, 0, "yarn" }, \
  { SET_U32, "smollm3.rope.scaling.original_context_length", 0, 16, NULL }, \
  { SET_F32, "smollm3.rope.scaling.factor", factor, 0, NULL }

/*
** RoPE and norm settings no model has are refused with the key, the value and what is
** expected. A base in (0, 1] was accepted (every pair then turns as fast as the first or
** faster), and so were a NaN, negative or fractional YaRN factor (read as no scaling), an
** infinite one (dividing frequencies by infinity) and an infinite YaRN beta.
*/
static void test_float_settings(void) {
  static const refusal cases[] = {
    {"a RoPE base of 1", { BASE(1.0f) },
     "metadata smollm3.rope.freq_base is 1; a RoPE base must be a finite number above 1 "
     "(SmolLM3 uses 5000000, Llama 3 500000)"},
    {"a RoPE base of 0.5", { BASE(0.5f) }, "smollm3.rope.freq_base is 0.5; "},
    {"a RoPE base of 1e-30", { BASE(1e-30f) }, "smollm3.rope.freq_base is 1e-30; "},
    {"a negative RoPE base", { BASE(-5e6f) }, "smollm3.rope.freq_base is -5e+06; "},
    {"a NaN RoPE base", { BASE(NAN) }, "smollm3.rope.freq_base is nan; "},
    {"an infinite RoPE base", { BASE(INFINITY) }, "smollm3.rope.freq_base is inf; "},
    {"a NaN epsilon", { EPS(NAN) },
     "metadata smollm3.attention.layer_norm_rms_epsilon is nan; an RMSNorm epsilon must be in "
     "(0, 1)"},
    {"a negative epsilon", { EPS(-1e-6f) }, "layer_norm_rms_epsilon is -1e-06; "},
    {"an epsilon of 1", { EPS(1.0f) }, "layer_norm_rms_epsilon is 1; "},
    {"a missing epsilon", { { REMOVE, "smollm3.attention.layer_norm_rms_epsilon", 0, 0, NULL } },
     "metadata smollm3.attention.layer_norm_rms_epsilon is missing"},
    {"a NaN YaRN factor", { YARN(NAN) },
     "metadata smollm3.rope.scaling.factor is nan; YaRN needs a finite factor of at least 1"},
    {"a negative YaRN factor", { YARN(-4.0f) }, "smollm3.rope.scaling.factor is -4; "},
    {"a YaRN factor of 0.5", { YARN(0.5f) }, "smollm3.rope.scaling.factor is 0.5; "},
    {"an infinite YaRN factor", { YARN(INFINITY) }, "smollm3.rope.scaling.factor is inf; "},
    {"an infinite YaRN beta", { YARN(4.0f), { SET_F32, "smollm3.rope.scaling.yarn_beta_fast",
                                              INFINITY, 0, NULL } },
     "beta_fast inf, beta_slow 0); attn_factor must be in (0, 100) and the betas finite"},
  };
  static const edit no_scaling[MAX_EDITS] = { YARN(1.0f) }, scaled[MAX_EDITS] = { YARN(4.0f) };
  char path[] = "/tmp/qora-test-floats-XXXXXX";
  int fd = mkstemp(path);
  qora_err err;
  qora_model *m;

  close(fd);
  check_refusals(path, cases, sizeof cases / sizeof *cases);
  m = load_edited(path, no_scaling, &err);
  TAP_OK(m != NULL, "still loads a YaRN factor of 1 (no scaling): %s", m ? "" : err.msg);
  qora_model_free(m);
  m = load_edited(path, scaled, &err);
  TAP_OK(m != NULL, "and a YaRN factor of 4: %s", m ? "" : err.msg);
  qora_model_free(m);
  unlink(path);
}


/* ------------------------------------------------------------------ head width */

#define HEADS(n) { SET_U32, "smollm3.attention.head_count", 0, n, NULL }
#define KEY_LENGTH(n) { SET_U32, "smollm3.attention.key_length", 0, n, NULL }

/*
** SRC has 8 heads of 32 in an embedding of 256, RoPE over all 32. A head count or width edited
** is refused as metadata at odds with itself, naming the keys, not as partial RoPE (the
** message once said "partial RoPE (32 of 128 dimensions) is not supported").
*/
static void test_head_width(void) {
  static const refusal cases[] = {
    {"a head count of 2", { HEADS(2) },
     "the file's metadata is inconsistent: smollm3.embedding_length 256 / "
     "smollm3.attention.head_count 2 gives heads 128 wide, and smollm3.rope.dimension_count "
     "is 32; the file is damaged or not a model qora runs"},
    {"a head count of 1", { HEADS(1) }, "/ smollm3.attention.head_count 1 gives heads 256 "
     "wide, and smollm3.rope.dimension_count is 32; "},
    {"a key length of 64", { KEY_LENGTH(64) },
     "the file's metadata is inconsistent: smollm3.attention.head_count 8 x "
     "smollm3.attention.key_length 64 = 512 does not match smollm3.embedding_length 256, and "
     "smollm3.rope.dimension_count is 32; the file is damaged"},
    {"a key length of 16 in 16 heads", { HEADS(16), KEY_LENGTH(16) },
     "the file's metadata is inconsistent: smollm3.attention.key_length is 16, and "
     "smollm3.rope.dimension_count is 32; "},
  };
  static const edit same[MAX_EDITS] = { KEY_LENGTH(32) };
  char path[] = "/tmp/qora-test-heads-XXXXXX";
  int fd = mkstemp(path);
  qora_err err;
  qora_model *m;

  close(fd);
  check_refusals(path, cases, sizeof cases / sizeof *cases);
  m = load_edited(path, same, &err);
  TAP_OK(m != NULL, "still loads a key length equal to the heads' width: %s", m ? "" : err.msg);
  qora_model_free(m);
  unlink(path);
}


/* ------------------------------------------------------------ vocabulary rows */

/*
** Writes SRC to path with its vocabulary changed by extra tokens (1: one more, a special
** '<|extra|>'; -1: the last one, EOS, dropped, and EOS made token 0) and smollm3.vocab_size
** set to vocab_size (0: removed).
*/
static int write_vocab(const char *path, int extra, uint32_t vocab_size, qora_err *err) {
  gguf_file *f = gguf_open(SRC, err);
  gguf_writer *w = gguf_writer_new(err);
  const gguf_kv *tokens = f ? gguf_find(f, "tokenizer.ggml.tokens") : NULL;
  const gguf_kv *types = f ? gguf_find(f, "tokenizer.ggml.token_type") : NULL;
  uint64_t n = tokens && types ? tokens->n : 0, m = n + extra;
  gguf_str *s = malloc((n + 1) * sizeof *s);
  const char **text = malloc((n + 1) * sizeof *text);
  uint64_t *len = malloc((n + 1) * sizeof *len);
  int32_t *type = malloc((n + 1) * sizeof *type);
  int ok = n > 0 && w && s && text && len && type && gguf_str_array(tokens, s, err) == 0;

  for (uint64_t i = 0; ok && i < n; i++) {
    text[i] = s[i].ptr;
    len[i] = s[i].len;
    type[i] = (int32_t)gguf_arr_int(types, i);
  }
  text[n] = "<|extra|>";
  len[n] = strlen(text[n]);
  type[n] = QORA_TOKEN_CONTROL;
  for (uint64_t i = 0; ok && i < f->n_kv; i++)
    if (&f->kv[i] != tokens && &f->kv[i] != types)
      ok = gguf_writer_copy_kv(w, &f->kv[i], err) == 0;
  ok = ok && gguf_writer_set_str_arr(w, "tokenizer.ggml.tokens", text, len, m, err) == 0 &&
       gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_I32, type, m, err) == 0 &&
       (extra >= 0 || gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 0, err) == 0);
  if (ok && vocab_size == 0)
    gguf_writer_remove(w, "smollm3.vocab_size");
  else
    ok = ok && gguf_writer_set_u32(w, "smollm3.vocab_size", vocab_size, err) == 0;
  ok = gguf_copy_finish(w, f, ok, path, err);
  free(s);
  free(text);
  free(len);
  free(type);
  return ok;
}


/*
** The embedding has a row per token id. A token past the rows (a special token added after
** conversion, or a hostile file's) is refused by name and id, whichever of vocab_size and
** token_embd.weight says so; a vocabulary short of the rows leaves ids without a text.
*/
static void test_vocab_rows(void) {
  static const struct {
    const char *what;
    int extra;
    uint32_t vocab_size;
    const char *want;
  } cases[] = {
    {"a token past the embedding's rows", 1, 0,
     "the token '<|extra|>' (id 462) has no embedding row: tensor token_embd.weight has 462 "
     "rows, and the vocabulary has 463 tokens; the file is corrupt"},
    {"a token past vocab_size", 1, 462,
     "the token '<|extra|>' (id 462) has no embedding row: metadata smollm3.vocab_size is "
     "462, and the vocabulary has 463 tokens; the file is corrupt"},
    {"a vocab_size past the vocabulary", 0, 463,
     "metadata smollm3.vocab_size is 463, but the vocabulary has 462 tokens, so ids from 462 "
     "would have no text; the file is corrupt"},
    {"embedding rows past the vocabulary", -1, 0,
     "tensor token_embd.weight has 462 rows, but the vocabulary has 461 tokens, so ids from "
     "461 would have no text; the file is corrupt"},
  };
  char path[] = "/tmp/qora-test-vocab-XXXXXX";
  int fd = mkstemp(path);
  qora_err err;
  qora_model *m;

  close(fd);
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    err = (qora_err){{0}};
    m = write_vocab(path, cases[i].extra, cases[i].vocab_size, &err) ?
        qora_model_load(path, &(qora_load_opts){ .n_threads = 1 }, &err) : NULL;
    TAP_OK(m == NULL && strstr(err.msg, cases[i].want), "refuses %s: %s", cases[i].what,
           m ? "it loaded" : err.msg);
    qora_model_free(m);
  }
  err = (qora_err){{0}};
  m = write_vocab(path, 0, 462, &err) ?
      qora_model_load(path, &(qora_load_opts){ .n_threads = 1 }, &err) : NULL;
  TAP_OK(m != NULL, "loads a vocab_size equal to the rows: %s", m ? "" : err.msg);
  qora_model_free(m);
  unlink(path);
}


int main(void) {
  qora_err err;
  qora_model *m;
  int fd = mkstemp(tmp_path);

  close(fd);
  img = (unsigned char *)slurp(SRC, &img_size);
  if (!TAP_OK(img != NULL, "reads %s", SRC))
    return tap_done();
  m = qora_model_load("/nonexistent/model.gguf", NULL, &err);
  TAP_OK(m == NULL && strstr(err.msg, "cannot open"), "refuses a missing file: %s", err.msg);
  test_damaged();
  test_norm_types();
  test_no_training_context();
  test_not_regular();
  test_truncated();
  test_named_whatever_the_path();
  test_f16_norms();
  test_float_settings();
  test_head_width();
  test_vocab_rows();
  m = load_bytes(img, img_size, &err);
  TAP_OK(m != NULL, "loads the undamaged copy");
  qora_model_free(m);
  unlink(tmp_path);
  free(img);
  return tap_done();
}
