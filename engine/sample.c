/*
** sample.c: the per-vocabulary work of sampling (candidate sets) and a seeded random source.
**
** A candidate set holds parallel arrays ids[n], logits[n], probs[n] over the live candidates.
** Policies (in Lua) chain these steps; every step works in place on memory allocated once by
** qora_cands_init, so nothing is allocated per token. Order is "best first" when sorted:
** higher logit first, and on equal logits the smaller id first (llama.cpp's greedy choice).
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qora.h"

/* Initial window of top_p: most distributions reach p within the first few dozen. */
#define CANDS_TOP_P_WINDOW 64

/* top_p's buckets: 1/32 of a logit wide; logits 32 below the best share the last bucket. */
#define CANDS_BUCKETS 1024
#define CANDS_BUCKET_RANGE 32.0f


/* ================================================================ candidate sets */

/*
** ids is allocated with 2 * cap entries: the second half is a per-vocabulary counter for
** qora_cands_penalize, all zero between calls.
*/
int qora_cands_init(qora_cands *c, int n_vocab) {
  memset(c, 0, sizeof *c);
  if (n_vocab <= 0)
    return -1;
  c->ids = calloc(2 * (size_t)n_vocab, sizeof *c->ids);
  c->logits = malloc((size_t)n_vocab * sizeof *c->logits);
  c->probs = malloc((size_t)n_vocab * sizeof *c->probs);
  if (c->ids == NULL || c->logits == NULL || c->probs == NULL) {
    qora_cands_free(c);
    return -1;
  }
  c->cap = n_vocab;
  return 0;
}


void qora_cands_free(qora_cands *c) {
  free(c->ids);
  free(c->logits);
  free(c->probs);
  memset(c, 0, sizeof *c);
}


/* Makes every token a candidate; a NaN logit (a broken model) becomes -inf, never chosen. */
void qora_cands_load(qora_cands *c, const float *logits, int n_vocab) {
  int n = n_vocab < c->cap ? n_vocab : c->cap;
  int32_t *ids = c->ids;
  float *dst = c->logits;

  for (int i = 0; i < n; i++) {  /* branch-free, so that the compiler vectorizes it */
    float l = logits[i];

    ids[i] = i;
    dst[i] = l == l ? l : -INFINITY;
  }
  c->n = n < 0 ? 0 : n;
  c->sorted = 0;
  c->has_probs = 0;
}


/* 1 when candidate i comes before candidate j in best-first order. */
static int cands_better(const qora_cands *c, int i, int j) {
  if (c->logits[i] != c->logits[j])
    return c->logits[i] > c->logits[j];
  return c->ids[i] < c->ids[j];
}


static void cands_swap(qora_cands *c, int i, int j) {
  int32_t id = c->ids[i];
  float l = c->logits[i];
  float p = c->probs[i];

  c->ids[i] = c->ids[j];
  c->logits[i] = c->logits[j];
  c->probs[i] = c->probs[j];
  c->ids[j] = id;
  c->logits[j] = l;
  c->probs[j] = p;
}


/* Restores the heap below root in [0, n): the root of a heap is its worst candidate. */
static void cands_sift_down(qora_cands *c, int root, int n) {
  for (;;) {
    int worst = root, l = 2 * root + 1, r = l + 1;

    if (l < n && cands_better(c, worst, l))
      worst = l;
    if (r < n && cands_better(c, worst, r))
      worst = r;
    if (worst == root)
      return;
    cands_swap(c, root, worst);
    root = worst;
  }
}


/*
** Moves the m best candidates to [0, m), sorted best first, in O(n log m): a heap of the m
** best seen so far, whose root (the worst kept) is compared with each remaining candidate.
*/
static void cands_select(qora_cands *c, int m) {
  if (c->sorted || m <= 0)
    return;
  if (m > c->n)
    m = c->n;
  for (int i = m / 2 - 1; i >= 0; i--)
    cands_sift_down(c, i, m);

  for (int i = m; i < c->n; i++) {
    if (cands_better(c, i, 0)) {
      cands_swap(c, i, 0);
      cands_sift_down(c, 0, m);
    }
  }

  for (int end = m - 1; end > 0; end--) {  /* the worst goes last: best first at the end */
    cands_swap(c, 0, end);
    cands_sift_down(c, 0, end);
  }
  if (m == c->n)
    c->sorted = 1;
}


/* Keeps the first n candidates (which the caller has put there). */
static void cands_truncate(qora_cands *c, int n, int sorted) {
  c->n = n;
  c->sorted = sorted;
  c->has_probs = 0;
}


/*
** Repetition penalties as llama.cpp applies them: a token seen in recent has its logit divided
** by repeat when positive and multiplied by it otherwise, then lowered by count * frequency and
** by presence once.
*/
void qora_cands_penalize(qora_cands *c, const int32_t *recent, int n_recent, float repeat,
                         float frequency, float presence) {
  int32_t *count = c->ids + c->cap;

  if (repeat == 1.0f && frequency == 0.0f && presence == 0.0f)
    return;
  for (int i = 0; i < n_recent; i++)
    if (recent[i] >= 0 && recent[i] < c->cap)
      count[recent[i]]++;

  for (int i = 0; i < c->n; i++) {
    int k = count[c->ids[i]];

    if (k == 0)
      continue;
    c->logits[i] = c->logits[i] <= 0 ? c->logits[i] * repeat : c->logits[i] / repeat;
    c->logits[i] -= (float)k * frequency + presence;
  }

  for (int i = 0; i < n_recent; i++)  /* back to all zero for the next call */
    if (recent[i] >= 0 && recent[i] < c->cap)
      count[recent[i]] = 0;
  c->sorted = 0;
  c->has_probs = 0;
}


/*
** Divides logits by t; t <= 0 keeps only the best candidate (greedy). When t is so small that
** a quotient overflows (3 / 1e-40), the distances from the best are divided instead: the best
** stays at 0 and the others fall towards -inf, the distribution's limit as t goes to 0, where
** the plain quotients would turn every positive logit into +inf and share the draw among them.
*/
void qora_cands_temperature(qora_cands *c, float t) {
  float max = -INFINITY, far = 0.0f, shift = 0.0f;

  if (c->n == 0)
    return;
  if (t <= 0.0f) {
    cands_select(c, 1);
    cands_truncate(c, 1, 1);
    return;
  }
  if (t == 1.0f)
    return;
  for (int i = 0; i < c->n; i++) {
    float l = c->logits[i];
    max = l > max ? l : max;
    far = isfinite(l) && fabsf(l) > far ? fabsf(l) : far;
  }
  if (isinf(far / t) && isfinite(max))
    shift = max;
  for (int i = 0; i < c->n; i++)   /* an infinite logit stays (inf / inf would be NaN) */
    c->logits[i] = isinf(c->logits[i]) ? c->logits[i] : (c->logits[i] - shift) / t;
  c->has_probs = 0;
}


/* Keeps the k best candidates, sorted; k <= 0 or k >= n keeps them all, as they are. */
void qora_cands_top_k(qora_cands *c, int k) {
  if (k <= 0 || k >= c->n)
    return;
  cands_select(c, k);
  cands_truncate(c, k, 1);
}


/* probs = softmax(logits) over the live candidates; order is left as it is. */
void qora_cands_softmax(qora_cands *c) {
  float max = -INFINITY;
  double sum = 0.0;

  for (int i = 0; i < c->n; i++)
    if (c->logits[i] > max)
      max = c->logits[i];

  for (int i = 0; i < c->n; i++) {
    float p;

    if (isinf(max))  /* all -inf, or some +inf: share among those equal to max */
      p = c->logits[i] == max ? 1.0f : 0.0f;
    else
      p = expf(c->logits[i] - max);
    c->probs[i] = p;
    sum += p;
  }

  for (int i = 0; i < c->n; i++)
    c->probs[i] = (float)(c->probs[i] / sum);
  c->has_probs = c->n > 0;
}


/* Keeps the first n of the best-first prefix [lo, hi) that brings cum (the mass before lo) to
** p with at least min_keep candidates; returns 1 when it did, 0 when [lo, hi) was not enough. */
static int cands_cut_prefix(qora_cands *c, int lo, int hi, double cum, float p, int min_keep,
                            int sorted) {
  for (int i = lo; i < hi; i++) {
    cum += c->probs[i];
    if (cum >= p && i + 1 >= min_keep) {
      cands_truncate(c, i + 1, sorted);
      return 1;
    }
  }
  return 0;
}


/* Moves the candidates whose bucket satisfies keep to [from, ...); returns the end. */
static int cands_gather(qora_cands *c, int from, float max, float scale, int bucket, int below) {
  for (int i = from; i < c->n; i++) {
    float b = (max - c->logits[i]) * scale;

    if (below ? b < (float)bucket : b >= (float)bucket && b < (float)(bucket + 1))
      cands_swap(c, from++, i);
  }
  return from;
}


/*
** top_p for a wide distribution, in linear time: candidates go to buckets by logit (those of
** one bucket all beat those of the next), the buckets' masses find the one where the sum
** passes p, and only that bucket is sorted. The kept set is the same as a full sort gives.
*/
static void cands_top_p_buckets(qora_cands *c, float p, int min_keep) {
  double mass[CANDS_BUCKETS] = { 0 };
  float max = c->logits[0];  /* the caller left the best candidate first */
  float scale = CANDS_BUCKETS / CANDS_BUCKET_RANGE;
  double cum = 0.0;
  int b = 0, kept, end;
  qora_cands edge;

  for (int i = 0; i < c->n; i++) {
    float x = (max - c->logits[i]) * scale;  /* +inf for -inf logits: the last bucket */

    mass[x < CANDS_BUCKETS - 1 ? (int)x : CANDS_BUCKETS - 1] += c->probs[i];
  }
  while (b < CANDS_BUCKETS - 1 && cum + mass[b] < p)
    cum += mass[b++];

  kept = b == 0 ? 0 : cands_gather(c, 0, max, scale, b, 1);
  end = b == CANDS_BUCKETS - 1 ? c->n : cands_gather(c, kept, max, scale, b, 0);
  edge = *c;  /* a view of the edge bucket, sorted in place */
  edge.ids += kept;
  edge.logits += kept;
  edge.probs += kept;
  edge.n = end - kept;
  edge.sorted = 0;
  cands_select(&edge, edge.n);
  if (!cands_cut_prefix(c, kept, end, cum, p, min_keep, 0))
    cands_truncate(c, end > min_keep ? end : c->n, 0);  /* rounding: keep what reached */
}


/*
** Keeps the smallest set of best candidates whose probabilities add up to at least p (and at
** least min_keep of them). A peaked distribution is settled by sorting a small window of the
** best; a wide one by buckets (cands_top_p_buckets).
*/
void qora_cands_top_p(qora_cands *c, float p, int min_keep) {
  int m = CANDS_TOP_P_WINDOW;

  if (p >= 1.0f || c->n <= 1)
    return;
  if (min_keep < 1)
    min_keep = 1;
  if (!c->has_probs)
    qora_cands_softmax(c);
  if (m < min_keep)
    m = min_keep;

  for (;;) {
    if (m > c->n)
      m = c->n;
    cands_select(c, m);
    if (cands_cut_prefix(c, 0, m, 0.0, p, min_keep, 1) || m == c->n)
      return;
    if (min_keep <= CANDS_TOP_P_WINDOW && isfinite(c->logits[0])) {
      cands_top_p_buckets(c, p, min_keep);
      return;
    }
    m *= 2;
  }
}


/*
** Keeps the candidates whose probability is at least p times the best one's, that is whose
** logit is at least max + log(p); at least min_keep of them. Order is kept.
*/
void qora_cands_min_p(qora_cands *c, float p, int min_keep) {
  float max = -INFINITY, cut;
  int kept = 0;

  if (p <= 0.0f || c->n <= 1)
    return;
  if (min_keep < 1)
    min_keep = 1;
  for (int i = 0; i < c->n; i++)
    if (c->logits[i] > max)
      max = c->logits[i];
  cut = max + logf(p);

  for (int i = 0; i < c->n; i++)
    kept += c->logits[i] >= cut;
  if (kept < min_keep) {
    cands_select(c, min_keep);
    cands_truncate(c, min_keep < c->n ? min_keep : c->n, 1);
    return;
  }

  kept = 0;
  for (int i = 0; i < c->n; i++)
    if (c->logits[i] >= cut)
      cands_swap(c, kept++, i);  /* i >= kept: a stable compaction */
  cands_truncate(c, kept, c->sorted);
}


/* The best candidate (smallest id among equals), or -1 when the set is empty. */
int32_t qora_cands_argmax(const qora_cands *c) {
  const float *logits = c->logits;
  const int32_t *ids = c->ids;
  float best = logits[0];
  int at = 0;

  if (c->n == 0)
    return -1;
  if (c->sorted)
    return ids[0];
  for (int i = 1; i < c->n; i++) {
    if (logits[i] > best || (logits[i] == best && ids[i] < ids[at])) {
      best = logits[i];
      at = i;
    }
  }
  return ids[at];
}


/* Walks the probabilities in the set's order until their sum passes u times their total. */
int32_t qora_cands_pick(qora_cands *c, double u) {
  double total = 0.0, cum = 0.0, target;
  int last = -1;

  if (c->n == 0)
    return -1;
  if (!c->has_probs)
    qora_cands_softmax(c);
  for (int i = 0; i < c->n; i++)
    total += c->probs[i];
  target = u * total;

  for (int i = 0; i < c->n; i++) {
    if (c->probs[i] <= 0.0f)
      continue;
    cum += c->probs[i];
    last = i;
    if (target < cum)
      return c->ids[i];
  }
  return last >= 0 ? c->ids[last] : c->ids[0];  /* rounding left u * total past the sum */
}


/* ================================================================ random source */

/* splitmix64 (Steele, Lea, Flood), the seeding Vigna recommends for xoshiro. */
static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));

  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}


void qora_rng_seed(qora_rng *r, uint64_t seed) {
  for (int i = 0; i < 4; i++)
    r->s[i] = splitmix64(&seed);
}


static uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}


/* xoshiro256** (Blackman, Vigna). */
uint64_t qora_rng_next(qora_rng *r) {
  uint64_t *s = r->s;
  uint64_t out = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;

  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return out;
}


/* The top 53 bits as a double in [0, 1): exact, the same on every platform. */
double qora_rng_uniform(qora_rng *r) {
  return (double)(qora_rng_next(r) >> 11) * 0x1.0p-53;
}
