/*
** bench_qora: times qora on one GGUF file the way bench/peers.py times ik_llama.cpp and
** llama.cpp: load to a session ready to run, a prompt of random tokens evaluated as one batch,
** greedy generation with end-of-text ignored, then the cache filled up to each long context
** and a few timed decode steps there. One JSON line per context on stdout.
**
** The long contexts are filled by copy (-f copy, the default): the rows cached so far (the
** prompt, the generated tokens and, at a second context, those of the first and its steps)
** are copied up to the context, nothing more evaluated (see copy_fill); -f eval evaluates
** every token. -n 0 generates nothing at the prompt's context, whose line then has no
** gen_tps: a long run's figures there are not kept, and the prompt's rows are what a copy
** needs. Everything else goes through the public API (engine/qora.h).
**
** usage: bench_qora -m FILE [-t threads] [-p prompt] [-n gen] [-c ctx,ctx...] [-s steps]
**                   [-r seed] [-f copy|eval]
**        (defaults: 2 threads, 512, 128, no long context, 32, 1, copy)
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "qora.h"
#include "session.h"        /* copy_fill only: the KV cache layout and the position */

#define MAX_CTXS 8
#define N_RANDOM 128000     /* ordinary tokens of the Llama 3 vocabulary; no special one */

typedef struct args {
  const char *file;
  int threads, prompt, gen, steps, n_ctxs;
  int copy;                 /* long contexts filled by copy_fill (1) or by evaluation (0) */
  int ctxs[MAX_CTXS];
  uint64_t seed;
} args;


static double now(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}


/*
** Token i of the benchmark's stream: splitmix64(seed + i) mod 128000, as in bench/peers.py;
** mod n_vocab for a smaller vocabulary (SmolLM2's 49152), which the peers are not run on.
*/
static int32_t random_id(uint64_t seed, uint64_t i, int n_vocab) {
  uint64_t z = seed * 0x9e3779b97f4a7c15ull + i * 0x9e3779b97f4a7c15ull;

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return (int32_t)((z ^ (z >> 31)) % (n_vocab < N_RANDOM ? (uint64_t)n_vocab : N_RANDOM));
}


static int32_t *random_ids(uint64_t seed, int start, int n, int n_vocab) {
  int32_t *ids = malloc((size_t)(n > 0 ? n : 1) * sizeof *ids);

  for (int i = 0; ids && i < n; i++)
    ids[i] = random_id(seed, (uint64_t)(start + i), n_vocab);
  return ids;
}


/* Peak resident memory in MB: VmHWM from /proc, else getrusage's maximum. */
static double peak_rss_mb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  struct rusage ru;

  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
      break;
  if (f)
    fclose(f);
  if (kb < 0 && getrusage(RUSAGE_SELF, &ru) == 0)
    kb = ru.ru_maxrss;
  return kb / 1024.0;
}


/* Starts the peak over (Linux: "5" to clear_refs), so only the timed load's peak counts. */
static void reset_peak_rss(void) {
  FILE *f = fopen("/proc/self/clear_refs", "w");

  if (f) {
    fputs("5", f);
    fclose(f);
  }
}


static int32_t greedy(qora_session *s, int n_vocab) {
  const float *l = qora_session_logits(s);
  int32_t best = 0;

  for (int32_t i = 1; i < n_vocab; i++)
    if (l[i] > l[best])
      best = i;
  return best;
}


/*
** Seconds to a session ready to run when the stored layout is kept (no repacking): the
** issue's load target. The model is freed again; the timed run loads as users do.
*/
static double load_raw(const args *a, const qora_session_opts *so, qora_err *err) {
  qora_load_opts lo = {.n_threads = a->threads, .keep_layout = 1};
  double t0 = now(), dt;
  qora_model *m = qora_model_load(a->file, &lo, err);
  qora_session *s = m ? qora_session_new(m, so, err) : NULL;

  dt = s ? now() - t0 : -1;
  qora_session_free(s);
  qora_model_free(m);
  reset_peak_rss();
  return dt;
}


/* n greedy decode steps; returns their seconds, or -1 with err. */
static double generate(qora_session *s, int n_vocab, int n, qora_err *err) {
  double t0 = now();

  for (int i = 0; i < n; i++) {
    int32_t id = greedy(s, n_vocab);
    if (qora_session_eval(s, &id, 1, NULL, err) != 0)
      return -1;
  }
  return now() - t0;
}


/* Evaluates random tokens [start, start + n) of the stream; returns seconds, or -1. */
static double eval_random(qora_session *s, uint64_t seed, int start, int n, qora_err *err) {
  int32_t *ids = random_ids(seed, start, n, s->m->info.n_vocab);
  double t0 = now(), dt;

  if (ids == NULL) {
    snprintf(err->msg, sizeof err->msg, "out of memory for %d token ids", n);
    return -1;
  }
  dt = qora_session_eval(s, ids, n, NULL, err) == 0 ? now() - t0 : -1;
  free(ids);
  return dt;
}


/* Fills rows [n, total) of one head's run of cached rows with rows [0, n), cyclically. */
static void repeat_rows(uint8_t *rows, size_t row, int n, int total) {
  for (int have = n; have < total;) {
    int m = have < total - have ? have : total - have;
    memcpy(rows + (size_t)have * row, rows, (size_t)m * row);
    have += m;
  }
}


/*
** A benchmark-only shortcut, not an engine feature (it reaches into engine/session.h): makes
** the session hold ctx tokens by copying its cached K and V rows, every layer and KV head,
** from positions [0, pos) to [pos, ctx), and setting the position to ctx. Evaluating those
** tokens instead costs minutes at 16K (attention grows with the square of the context), while
** a decode step after either costs the same: F16 rows, no work that depends on their values.
** The logits stay those of the last evaluated token.
*/
static void copy_fill(qora_session *s, int ctx) {
  const qora_model_info *in = &s->m->info;

  for (int il = 0; il < in->n_layer; il++)
    for (int g = 0; g < in->n_head_kv; g++) {
      repeat_rows(qora_kv_at(s, s->k_cache, il, g, 0), s->kv_row, s->pos, ctx);
      repeat_rows(qora_kv_at(s, s->v_cache, il, g, 0), s->kv_row, s->pos, ctx);
    }
  s->pos = ctx;
}


/*
** Fills the cache from pos to ctx tokens: by copying the pos rows cached (a->copy), else by
** evaluating random tokens [pos, ctx). Returns seconds, or -1 with err.
*/
static double fill(const args *a, qora_session *s, int pos, int ctx, qora_err *err) {
  double t0 = now();

  if (a->copy)
    copy_fill(s, ctx);
  else if (eval_random(s, a->seed, pos, ctx - pos, err) < 0)
    return -1;
  return now() - t0;
}


static const char *base_name(const char *path) {
  const char *slash = strrchr(path, '/');

  return slash ? slash + 1 : path;
}


static int run(const args *a, qora_err *err) {
  qora_load_opts lo = {.n_threads = a->threads};
  qora_session_opts so = {.n_ctx = a->prompt + a->gen, .n_batch = 512};
  double t0, raw_s, load_s, prompt_s, gen_s;
  qora_model *m;
  qora_session *s = NULL;
  int n_vocab, pos;

  for (int i = 0; i < a->n_ctxs; i++)
    so.n_ctx = a->ctxs[i] + a->steps > so.n_ctx ? a->ctxs[i] + a->steps : so.n_ctx;
  if ((raw_s = load_raw(a, &so, err)) < 0)
    return -1;
  t0 = now();
  m = qora_model_load(a->file, &lo, err);
  if (m == NULL || (s = qora_session_new(m, &so, err)) == NULL) {
    qora_model_free(m);
    return -1;
  }
  load_s = now() - t0;
  n_vocab = qora_model_get_info(m)->n_vocab;

  if (eval_random(s, a->seed + 1, 0, a->prompt < 8 ? a->prompt : 8, err) < 0 ||  /* warm-up */
      qora_session_rewind(s, 0, err) != 0 ||
      (prompt_s = eval_random(s, a->seed, 0, a->prompt, err)) < 0 ||
      (gen_s = generate(s, n_vocab, a->gen, err)) < 0)
    goto fail;
  printf("{\"impl\": \"qora\", \"file\": \"%s\", \"threads\": %d, \"ctx\": %d, "
         "\"load_s\": %.3f, \"load_raw_s\": %.3f, \"prompt_tps\": %.2f, ",
         base_name(a->file), qora_model_threads(m), a->prompt, load_s, raw_s,
         a->prompt / prompt_s);
  if (a->gen > 0)
    printf("\"gen_tps\": %.2f, ", a->gen / gen_s);
  printf("\"peak_rss_mb\": %.0f}\n", peak_rss_mb());
  fflush(stdout);

  pos = a->prompt + a->gen;
  for (int i = 0; i < a->n_ctxs; i++) {
    int c = a->ctxs[i];
    double fill_s = fill(a, s, pos, c, err);
    if (fill_s < 0 || (gen_s = generate(s, n_vocab, a->steps, err)) < 0)
      goto fail;
    printf("{\"impl\": \"qora\", \"file\": \"%s\", \"threads\": %d, \"ctx\": %d, "
           "\"fill\": \"%s\", ", base_name(a->file), qora_model_threads(m), c,
           a->copy ? "copy" : "eval");
    if (!a->copy)
      printf("\"fill_tps\": %.2f, ", (c - pos) / fill_s);
    printf("\"gen_tps\": %.2f, \"peak_rss_mb\": %.0f}\n", a->steps / gen_s, peak_rss_mb());
    fflush(stdout);
    pos = c + a->steps;
  }
  qora_session_free(s);
  qora_model_free(m);
  return 0;
fail:
  qora_session_free(s);
  qora_model_free(m);
  return -1;
}


/*
** Reads "4096,16384" into a->ctxs: the first above prompt + gen, each other more than steps
** above the one before (the timed decode steps after a context come before the next).
*/
static int parse_ctxs(args *a, const char *list) {
  char *end;
  int floor = a->prompt + a->gen;

  for (a->n_ctxs = 0; *list && a->n_ctxs < MAX_CTXS; list = *end ? end + 1 : end) {
    long c = strtol(list, &end, 10);
    if (end == list || (*end && *end != ',') || (*end == ',' && !end[1]) || c <= floor ||
        c > (1 << 24))
      return -1;
    a->ctxs[a->n_ctxs++] = (int)c;
    floor = (int)c + a->steps;
  }
  return *list ? -1 : 0;
}


/* A whole decimal number in [lo, hi] into *out; -1 (and a message) otherwise. */
static int parse_int(const char *flag, const char *v, long lo, long hi, int *out) {
  char *end;
  long n = strtol(v, &end, 10);

  if (end == v || *end || n < lo || n > hi) {
    fprintf(stderr, "bench_qora: %s wants a whole number from %ld to %ld, got \"%s\"\n", flag,
            lo, hi, v);
    return -1;
  }
  *out = (int)n;
  return 0;
}


static int parse_args(int argc, char **argv, args *a) {
  const char *ctxs = "";

  for (int i = 1; i + 1 < argc; i += 2) {
    const char *o = argv[i], *v = argv[i + 1];
    char *end;
    int ok = 0;
    if (strcmp(o, "-m") == 0) a->file = v;
    else if (strcmp(o, "-t") == 0) ok = parse_int(o, v, 1, 256, &a->threads);
    else if (strcmp(o, "-p") == 0) ok = parse_int(o, v, 1, 1 << 22, &a->prompt);
    else if (strcmp(o, "-n") == 0) ok = parse_int(o, v, 0, 1 << 22, &a->gen);
    else if (strcmp(o, "-s") == 0) ok = parse_int(o, v, 1, 1 << 22, &a->steps);
    else if (strcmp(o, "-r") == 0) {
      a->seed = strtoull(v, &end, 10);
      ok = end == v || *end ? -1 : 0;
    } else if (strcmp(o, "-c") == 0) ctxs = v;
    else if (strcmp(o, "-f") == 0 && (strcmp(v, "copy") == 0 || strcmp(v, "eval") == 0))
      a->copy = strcmp(v, "copy") == 0;
    else return -1;
    if (ok != 0)
      return -1;
  }
  if (argc % 2 == 0 || a->file == NULL)
    return -1;
  return parse_ctxs(a, ctxs);
}


int main(int argc, char **argv) {
  args a = {.threads = 2, .prompt = 512, .gen = 128, .steps = 32, .seed = 1, .copy = 1};
  qora_err err = {{0}};

  if (parse_args(argc, argv, &a) != 0) {
    fprintf(stderr, "usage: bench_qora -m FILE [-t threads] [-p prompt] [-n gen] "
            "[-c ctx,ctx...] [-s steps] [-r seed] [-f copy|eval]\n(the first context above "
            "prompt + gen, each other more than steps above the one before; -n 0: no "
            "generation at the prompt's context; -f: how long contexts are filled, copy "
            "repeating the rows cached so far; token ids are random below 128000, or below "
            "the vocabulary's size when it is smaller)\n");
    return 2;
  }
  if (run(&a, &err) != 0) {
    fprintf(stderr, "bench_qora: %s: %s\n", a.file, err.msg);
    return 1;
  }
  return 0;
}
