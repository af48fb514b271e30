/*
** qora.h: the public interface of the qora engine.
**
** A model is loaded once and shared read-only; each session owns its KV cache and scratch
** memory. A model (and every session on it) is used from one OS thread at a time: the
** model's thread pool is shared by its sessions.
** Every function that can fail returns 0 on success or -1 with a message in a qora_err.
*/
#ifndef QORA_H
#define QORA_H

#include <stddef.h>
#include <stdint.h>

#define QORA_ERR_MAX 512

typedef struct qora_err {
  char msg[QORA_ERR_MAX];
} qora_err;

/* Tensor types; the numbers are GGML's, as GGUF files store them. */
typedef enum qora_type {
  QORA_F32 = 0,
  QORA_F16 = 1,
  QORA_Q4_0 = 2,
  QORA_Q4_1 = 3,
  QORA_Q8_0 = 8,
  QORA_Q8_1 = 9,
  QORA_Q4_K = 12,
  QORA_Q5_K = 13,
  QORA_Q6_K = 14,
  QORA_Q8_K = 15,
  QORA_BF16 = 30,
  QORA_TYPE_COUNT = 40
} qora_type;

/* Name of a tensor type ("Q4_K"), or NULL when qora does not know it. */
const char *qora_type_name(int type);

/* ---------------------------------------------------------------- model */

typedef struct qora_model qora_model;
typedef struct qora_tokenizer qora_tokenizer;

typedef struct qora_load_opts {
  int n_threads;            /* 0: one per core */
  /* Hugging Face folders only: the type weight matrices are converted to while loading,
  ** "q4_0" (NULL: the default), "q8_0", "f16", "bf16" or "f32"; norms stay F32. A GGUF file
  ** keeps the types it stores, and a non-NULL quant for one is refused. */
  const char *quant;
  int progress;             /* 1: a progress bar on stderr while converting, if a terminal */
  /* 1: the weights stay in their stored layout. By default, on CPUs with AVX-512 VNNI, the
  ** matrices are repacked once at load for faster decoding; every product then reads the
  ** copy, and the stored layout goes as each matrix is copied (a GGUF's pages back to the
  ** page cache, a folder's converted matrices freed), so a model holds its matrices once. */
  int keep_layout;
  /* 1: the repacked copy stays on 4 KB pages. By default it asks the kernel for 2 MB pages
  ** (MADV_HUGEPAGE, honoured when transparent huge pages are set to madvise or always):
  ** decoding SmolLM3-3B ran 6 to 12 % faster, but on a virtual machine whose host backs
  ** fresh memory slowly, faulting the pages in took a load from about 1 s to 3 to 5. */
  int small_pages;
} qora_load_opts;

typedef struct qora_model_info {
  char arch[32];            /* "smollm3", "llama" */
  char name[128];           /* general.name, may be empty */
  int has_weights;          /* 0 for a vocabulary-only file */
  int n_layer;
  int n_embd;
  int n_ff;
  int n_head;
  int n_head_kv;
  int head_dim;
  int n_vocab;
  int n_ctx_train;
  float rope_theta;
  float norm_eps;
  int tied_embeddings;      /* the LM head reads token_embd */
  uint64_t n_params;
  uint64_t weight_bytes;    /* bytes of all weight tensors as stored */
  int type_counts[QORA_TYPE_COUNT];  /* tensors of each type */
} qora_model_info;

/*
** Loads a GGUF file (memory-mapped), or a Hugging Face checkpoint folder given as the folder or
** its config.json (config.json, *.safetensors, tokenizer.json, tokenizer_config.json), whose
** weights are converted to opts->quant. On failure returns NULL and explains in err (for a
** GGUF file, a message that names the file).
*/
qora_model *qora_model_load(const char *path, const qora_load_opts *opts, qora_err *err);

/*
** Writes the model as a GGUF v3 file at path (through path.tmp, renamed when complete): the
** weights in their loaded types, the tokenizer and the chat template, loadable by qora and by
** llama.cpp. Refuses a model whose RoPE scaling qora's GGUF reader could not read back
** (linear, llama3, some YaRN settings): such a model runs from its folder.
*/
int qora_model_save(const qora_model *m, const char *path, qora_err *err);

/*
** Refuses an empty save path, and one named as another format (.safetensors, .json, .bin,
** .pt, .pth, in any case): qora_model_save writes GGUF whatever the name, so such a name would
** mislead whoever opens the file; and, when folder (the checkpoint folder the model comes
** from) is not NULL, an existing file of that folder other than a GGUF one; and a FIFO, a
** device or a socket, which the saved file would replace. qora_model_save checks them all; a
** caller may ask before the long work of converting.
*/
int qora_save_path_check(const char *path, const char *folder, qora_err *err);

/*
** The kernels the engine runs on this CPU, the best level it supports (picked at run time, so
** one build serves every x86-64 CPU): "scalar", "avx2" (AVX2, FMA, F16C), "avx512" (AVX-512
** with VNNI and BF16) or "amx" (avx512 and AMX-INT8 tiles).
*/
const char *qora_cpu_kernels(void);

void qora_model_free(qora_model *m);
const qora_model_info *qora_model_get_info(const qora_model *m);

/* 1 when layer il applies RoPE (SmolLM3 leaves every fourth layer without it). */
int qora_model_layer_uses_rope(const qora_model *m, int il);

/* A metadata string (such as "tokenizer.chat_template"), or NULL. Not NUL-terminated: len
** receives its length. */
const char *qora_model_meta_str(const qora_model *m, const char *key, size_t *len);

const qora_tokenizer *qora_model_tokenizer(const qora_model *m);
int qora_model_threads(const qora_model *m);

/*
** The cores this process may run on (its affinity mask on Linux, else those online): the
** default thread count. A pool with more threads than this waits politely, yielding its cores.
*/
int qora_cores(void);

/* ------------------------------------------------------------ tokenizer */

typedef struct qora_tokens {
  int32_t *ids;
  size_t n;
  size_t cap;
} qora_tokens;

void qora_tokens_free(qora_tokens *t);

enum {
  QORA_TOK_SPECIAL = 1,     /* recognise special tokens written in the text */
  QORA_TOK_BOS = 2          /* prepend BOS when the vocabulary asks for it */
};

/* Token attributes, as GGUF's tokenizer.ggml.token_type gives them. */
enum {
  QORA_TOKEN_NORMAL = 1,
  QORA_TOKEN_UNKNOWN = 2,
  QORA_TOKEN_CONTROL = 3,
  QORA_TOKEN_USER_DEFINED = 4,
  QORA_TOKEN_UNUSED = 5,
  QORA_TOKEN_BYTE = 6
};

/*
** Appends the ids of text to out (grown with realloc; free it with qora_tokens_free). Text that
** is not valid UTF-8 is refused with the offset of the first bad byte; on any failure out keeps
** what it held before. A CONTROL token written in the text is matched only with
** QORA_TOK_SPECIAL; a USER_DEFINED one always is (as llama.cpp and Hugging Face do).
*/
int qora_tokenize(const qora_tokenizer *tk, const char *text, size_t len, int flags,
                  qora_tokens *out, qora_err *err);

int qora_vocab_size(const qora_tokenizer *tk);

/*
** The bytes a token stands for (byte-level decoding undone; a CONTROL or USER_DEFINED token
** stands for its text, an UNUSED one for nothing), NUL-terminated; NULL for an invalid id.
*/
const char *qora_token_bytes(const qora_tokenizer *tk, int32_t id, size_t *len);

/* The token's text as written in the vocabulary (for specials: "<|im_end|>"). */
const char *qora_token_text(const qora_tokenizer *tk, int32_t id, size_t *len);

/* QORA_TOKEN_*, or 0 for an invalid id. */
int qora_token_type(const qora_tokenizer *tk, int32_t id);

/* The id whose vocabulary text is exactly text, or -1. */
int32_t qora_token_find(const qora_tokenizer *tk, const char *text, size_t len);

/* Special ids from the vocabulary's metadata, or -1 when absent. */
int32_t qora_token_bos(const qora_tokenizer *tk);
int32_t qora_token_eos(const qora_tokenizer *tk);

/*
** 1 when generation should stop at id: the EOS, end-of-turn and end-of-message ids of the
** metadata, and special tokens whose text marks an end ("<|im_end|>", "<|eot_id|>", ...).
*/
int qora_token_is_eog(const qora_tokenizer *tk, int32_t id);

/*
** Streaming UTF-8 assembly: token bytes go in, only whole characters come out. Bytes that can
** never form a character are replaced by U+FFFD (one per maximal subpart, as Unicode
** recommends); qora_utf8_flush turns held bytes into U+FFFD. Start from a zeroed qora_utf8.
*/
typedef struct qora_utf8 {
  unsigned char held[4];
  int n_held;
} qora_utf8;

/*
** Writes whole characters to out and returns their byte count. out_cap must be at least
** 3 * (n + 1); with less, nothing is consumed and (size_t)-1 is returned.
*/
size_t qora_utf8_push(qora_utf8 *u, const char *in, size_t n, char *out, size_t out_cap);
/* Needs out_cap >= 3; returns 0 or 3, or (size_t)-1 when out_cap is smaller. */
size_t qora_utf8_flush(qora_utf8 *u, char *out, size_t out_cap);

/* 1 when s[0..n) is valid UTF-8. */
int qora_utf8_valid(const char *s, size_t n);

/* -------------------------------------------------------------- session */

typedef struct qora_session qora_session;

typedef struct qora_session_opts {
  int n_ctx;                /* 0: min(4096, the model's training context when known) */
  int n_batch;              /* tokens evaluated at once; 0: 512 */
  int kv_f32;               /* 1: keep keys and values in F32 (exact comparisons); 0: F16 */
} qora_session_opts;

qora_session *qora_session_new(qora_model *m, const qora_session_opts *opts, qora_err *err);
void qora_session_free(qora_session *s);

/*
** Evaluates n tokens at the session's position as one batch (split in n_batch pieces) and
** appends them to the KV cache. When all_logits is not NULL it receives n rows of n_vocab
** logits; the last row is always kept and readable with qora_session_logits. On an error
** the session holds the tokens it held before (and no logits until the next evaluation).
*/
int qora_session_eval(qora_session *s, const int32_t *ids, int n, float *all_logits,
                      qora_err *err);

/* Logits after the last evaluated token (n_vocab floats), or NULL before any evaluation. */
float *qora_session_logits(qora_session *s);

int qora_session_pos(const qora_session *s);
int qora_session_ctx(const qora_session *s);

/* Forgets every cached token from position pos on; the logits stay when pos is the current
** position (nothing is forgotten). */
int qora_session_rewind(qora_session *s, int pos, qora_err *err);

/* ------------------------------------------------------------- sampling */

/* A candidate set over the vocabulary, preallocated once (no allocation per token). */
typedef struct qora_cands {
  int32_t *ids;
  float *logits;
  float *probs;             /* valid after qora_cands_softmax */
  int n;                    /* live candidates */
  int cap;
  int sorted;               /* 1 when sorted by logit, descending */
  int has_probs;
} qora_cands;

int qora_cands_init(qora_cands *c, int n_vocab);
void qora_cands_free(qora_cands *c);
void qora_cands_load(qora_cands *c, const float *logits, int n_vocab);
void qora_cands_penalize(qora_cands *c, const int32_t *recent, int n_recent, float repeat,
                         float frequency, float presence);
void qora_cands_temperature(qora_cands *c, float t);
void qora_cands_top_k(qora_cands *c, int k);
void qora_cands_softmax(qora_cands *c);
void qora_cands_top_p(qora_cands *c, float p, int min_keep);
void qora_cands_min_p(qora_cands *c, float p, int min_keep);
int32_t qora_cands_argmax(const qora_cands *c);
/* Draws one id from the probabilities, given a uniform u in [0, 1). */
int32_t qora_cands_pick(qora_cands *c, double u);

/* A small, seeded, reproducible random source (xoshiro256**). */
typedef struct qora_rng {
  uint64_t s[4];
} qora_rng;

void qora_rng_seed(qora_rng *r, uint64_t seed);
uint64_t qora_rng_next(qora_rng *r);
double qora_rng_uniform(qora_rng *r);     /* [0, 1) */

#endif
