/*
** repack.c: the r16 layout of repack.h, written from the stored layout. Plain C: it runs once
** per weight at load, on the pool's threads, each thread writing whole groups in order.
*/
#include <stdlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "matmul_kernels.h"
#include "model.h"
#include "quant.h"
#include "repack.h"

#define LANE 4                      /* bytes of one row in a 32-bit lane */
#define VEC (R16_ROWS * LANE)       /* one 64-byte vector */

int qora_r16_type(int type) {
  return type == QORA_Q4_0 || type == QORA_Q8_0 || type == QORA_Q4_K || type == QORA_Q6_K;
}


size_t qora_r16_bytes(const qora_weight *w) {
  if (!qora_r16_type(w->type))
    return 0;
  return (size_t)((w->rows + R16_ROWS - 1) / R16_ROWS) * qora_r16_group_bytes(w);
}


/* Rows of group g: row r of the group, or NULL past the last row. */
static void group_rows(const qora_weight *w, long g, const uint8_t *row[R16_ROWS]) {
  for (int r = 0; r < R16_ROWS; r++) {
    int64_t i = (int64_t)g * R16_ROWS + r;
    row[r] = i < w->rows ? (const uint8_t *)w->data + (size_t)i * w->row_bytes : NULL;
  }
}


/* One vector: lane r takes the 4 bytes at offset off of row r, XOR flip (0 for none). */
static void lanes(const uint8_t *const row[R16_ROWS], size_t off, uint8_t flip, uint8_t *out) {
  for (int r = 0; r < R16_ROWS; r++)
    for (int j = 0; j < LANE; j++)
      out[LANE * r + j] = row[r] ? row[r][off + j] ^ flip : 0;
}


/* The F16 at offset off of each row's block, 16 of them (0 for missing rows). */
static void scales_f16(const uint8_t *const row[R16_ROWS], size_t off, uint8_t *out) {
  for (int r = 0; r < R16_ROWS; r++) {
    qora_f16 h = 0;
    if (row[r])
      memcpy(&h, row[r] + off, sizeof h);
    memcpy(out + 2 * r, &h, sizeof h);
  }
}


/* Q4_0 and Q8_0: blocks of 32 with the F16 scale first. */
static void pack_32(const qora_weight *w, long g, uint8_t *out) {
  const uint8_t *row[R16_ROWS];
  int q8 = w->type == QORA_Q8_0;
  size_t bsize = q8 ? sizeof(block_q8_0) : sizeof(block_q4_0);
  int nvec = q8 ? 8 : 4;
  size_t qb = (size_t)nvec * VEC;
  int64_t nb = w->cols / 32;

  group_rows(w, g, row);
  for (int64_t b = 0; b < nb; b++) {
    for (int k = 0; k < nvec; k++)
      lanes(row, (size_t)b * bsize + 2 + LANE * k, q8 ? 0x80 : 0,
            out + qora_r16_q_at(b, qb) + k * VEC);
    scales_f16(row, (size_t)b * bsize, out + qora_r16_d_at(b, qb));
  }
  if (nb % 2)
    memset(out + qora_r16_d_at(nb - 1, qb) + 2 * R16_ROWS, 0, 2 * R16_ROWS);
}


static void pack_q4_K(const qora_weight *w, long g, uint8_t *out) {
  const uint8_t *row[R16_ROWS];

  group_rows(w, g, row);
  for (int64_t i = 0; i < w->cols / QK_K; i++, out += R16_ROWS * sizeof(block_q4_K)) {
    size_t at = (size_t)i * sizeof(block_q4_K);
    for (int c = 0; c < QK_K / 8; c++)
      lanes(row, at + offsetof(block_q4_K, qs) + LANE * c, 0, out + R16_K4_Q + c * VEC);
    for (int u = 0; u < K_SCALE_SIZE / LANE; u++)
      lanes(row, at + offsetof(block_q4_K, scales) + LANE * u, 0, out + u * VEC);
    scales_f16(row, at + offsetof(block_q4_K, d), out + R16_K4_D);
    scales_f16(row, at + offsetof(block_q4_K, dmin), out + R16_K4_D + 2 * R16_ROWS);
  }
}


/* The 6-bit value v of a Q6_K block plus 32 (0..63); see q6_K_value in quant_ref.c. */
static int q6_u(const uint8_t *blk, int v) {
  const block_q6_K *b = (const block_q6_K *)blk;
  int h = v / 128, r = v % 128, l = r % 32, quarter = r / 32;
  const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
  int lo4 = quarter & 2 ? ql[l + 32 * (quarter & 1)] >> 4 : ql[l + 32 * (quarter & 1)] & 0xf;
  return lo4 | ((qh[l] >> (2 * quarter)) & 3) << 4;
}


/* Sub-block s of one row's block as the three bytes j of lanes A, B, C (see repack.h). */
static void q6_lane(const uint8_t *blk, int s, int j, uint8_t *a, uint8_t *b, uint8_t *c) {
  int u[4];
  for (int q = 0; q < 4; q++)
    u[q] = q6_u(blk, 16 * s + 4 * q + j);
  *a = (uint8_t)(u[0] | (u[3] & 3) << 6);
  *b = (uint8_t)(u[1] | (u[3] >> 2 & 3) << 6);
  *c = (uint8_t)(u[2] | (u[3] >> 4) << 6);
}


static void pack_q6_K(const qora_weight *w, long g, uint8_t *out) {
  const uint8_t *row[R16_ROWS];
  int64_t nb = w->cols / QK_K;
  uint8_t *grp = out;

  group_rows(w, g, row);
  for (int64_t i = 0; i < nb; i++) {
    size_t at = (size_t)i * sizeof(block_q6_K);
    out = grp + qora_r16_q_at(i, R16_Q6_BLOCK);
    for (int r = 0; r < R16_ROWS; r++) {
      const uint8_t *blk = row[r] ? row[r] + at : NULL;
      for (int s = 0; s < 16; s++) {
        uint8_t *v = out + qora_r16_q6_sub(s) + LANE * r;
        for (int j = 0; j < LANE; j++)
          if (blk)
            q6_lane(blk, s, j, &v[j], &v[VEC + j], &v[2 * VEC + j]);
          else
            v[j] = v[VEC + j] = v[2 * VEC + j] = 0;
        out[qora_r16_q6_scales(s) + r] =
            blk ? (uint8_t)((const block_q6_K *)blk)->scales[s] : 0;
      }
    }
    scales_f16(row, at + offsetof(block_q6_K, d), grp + qora_r16_d_at(i, R16_Q6_BLOCK));
  }
  if (nb % 2)
    memset(grp + qora_r16_d_at(nb - 1, R16_Q6_BLOCK) + 2 * R16_ROWS, 0, 2 * R16_ROWS);
}


void qora_r16_pack(const qora_weight *w, void *out, long g_lo, long g_hi) {
  size_t group = qora_r16_group_bytes(w);

  for (long g = g_lo; g < g_hi; g++) {
    uint8_t *o = (uint8_t *)out + (size_t)g * group;
    if (w->type == QORA_Q4_K)
      pack_q4_K(w, g, o);
    else if (w->type == QORA_Q6_K)
      pack_q6_K(w, g, o);
    else
      pack_32(w, g, o);
  }
}


/* ------------------------------------------------------------------ one row back */

/* The F16 of lane r at p (2 bytes per row) into a block's field at out. */
static void unscale(const uint8_t *p, int r, uint8_t *out) {
  memcpy(out, p + 2 * r, sizeof(qora_f16));
}


/* Q4_0, Q8_0: block b of lane r of the group at q, as stored. */
static void unpack_32(const qora_weight *w, const uint8_t *q, int r, int64_t b, uint8_t *out) {
  int q8 = w->type == QORA_Q8_0, nvec = q8 ? 8 : 4;
  size_t qb = (size_t)nvec * VEC;
  const uint8_t *v = q + qora_r16_q_at(b, qb);

  unscale(q + qora_r16_d_at(b, qb), r, out);
  for (int k = 0; k < nvec; k++)
    for (int j = 0; j < LANE; j++)
      out[2 + LANE * k + j] = v[k * VEC + LANE * r + j] ^ (q8 ? 0x80 : 0);
}


static void unpack_q4_K(const uint8_t *q, int r, int64_t i, uint8_t *out) {
  const uint8_t *v = q + (size_t)i * R16_ROWS * sizeof(block_q4_K);
  block_q4_K *b = (block_q4_K *)out;

  for (int c = 0; c < QK_K / 8; c++)
    memcpy(b->qs + LANE * c, v + R16_K4_Q + c * VEC + LANE * r, LANE);
  for (int u = 0; u < K_SCALE_SIZE / LANE; u++)
    memcpy(b->scales + LANE * u, v + u * VEC + LANE * r, LANE);
  unscale(v + R16_K4_D, r, (uint8_t *)&b->d);
  unscale(v + R16_K4_D + 2 * R16_ROWS, r, (uint8_t *)&b->dmin);
}


/* Puts u (value v of a Q6_K block plus 32) back where q6_u reads it. */
static void q6_put(block_q6_K *b, int v, int u) {
  int h = v / 128, rr = v % 128, l = rr % 32, quarter = rr / 32;
  uint8_t *ql = b->ql + 64 * h + l + 32 * (quarter & 1);

  *ql |= (uint8_t)(quarter & 2 ? (u & 15) << 4 : u & 15);
  b->qh[32 * h + l] |= (uint8_t)((u >> 4) << (2 * quarter));
}


static void unpack_q6_K(const uint8_t *q, int r, int64_t i, uint8_t *out) {
  const uint8_t *v = q + qora_r16_q_at(i, R16_Q6_BLOCK);
  block_q6_K *b = (block_q6_K *)out;

  memset(b, 0, sizeof *b);
  for (int s = 0; s < 16; s++) {
    const uint8_t *a = v + qora_r16_q6_sub(s) + LANE * r, *b6 = a + VEC, *c = a + 2 * VEC;
    for (int j = 0; j < LANE; j++) {
      int u[4] = {a[j] & 63, b6[j] & 63, c[j] & 63,
                  a[j] >> 6 | (b6[j] >> 6) << 2 | (c[j] >> 6) << 4};
      for (int k = 0; k < 4; k++)
        q6_put(b, 16 * s + 4 * k + j, u[k]);
    }
    b->scales[s] = (int8_t)v[qora_r16_q6_scales(s) + r];
  }
  unscale(q + qora_r16_d_at(i, R16_Q6_BLOCK), r, (uint8_t *)&b->d);
}


void qora_r16_block(const qora_weight *w, int64_t row, int64_t b, void *out) {
  size_t group = qora_r16_group_bytes(w);
  const uint8_t *q = (const uint8_t *)w->r16 + (size_t)(row / R16_ROWS) * group;
  int r = (int)(row % R16_ROWS);

  if (w->type == QORA_Q4_K)
    unpack_q4_K(q, r, b, out);
  else if (w->type == QORA_Q6_K)
    unpack_q6_K(q, r, b, out);
  else
    unpack_32(w, q, r, b, out);
}


void qora_r16_row(const qora_weight *w, int64_t row, void *out) {
  const qora_type_traits *t = qora_type_get(w->type);

  if (w->data != NULL) {
    memcpy(out, (const uint8_t *)w->data + (size_t)row * w->row_bytes, w->row_bytes);
    return;
  }
  for (int64_t b = 0; b < w->cols / t->blck; b++)
    qora_r16_block(w, row, b, (uint8_t *)out + (size_t)b * t->type_size);
}


typedef struct repack_job {
  const qora_weight *w;
  void *out;
  long g0, g1;                      /* the groups to write */
} repack_job;


static void repack_part(void *ctx, int ith, int nth) {
  const repack_job *j = ctx;
  long lo, hi;

  qora_split(j->g1 - j->g0, ith, nth, &lo, &hi);
  lo += j->g0;
  hi += j->g0;
#if defined(__x86_64__)
  if (qora_cpu_level() >= QORA_CPU_AVX512) {
    qora_r16_pack_avx512(j->w, j->out, lo, hi);
    return;
  }
  if (qora_cpu_level() >= QORA_CPU_AVX2) {
    qora_r16_pack_avx2(j->w, j->out, lo, hi);
    return;
  }
#endif
  qora_r16_pack(j->w, j->out, lo, hi);
}


void qora_r16_repack(qora_pool *pool, qora_weight *w, void *out) {
  repack_job j = {w, out, 0, (w->rows + R16_ROWS - 1) / R16_ROWS};

  qora_pool_run(pool, repack_part, &j);
  w->r16 = out;
}


/* ------------------------------------------------------------------ a model's matrices */

/*
** The repacked copy's alignment on small pages, and on huge ones (qora_load_opts.small_pages
** says why they are the default and what they cost).
*/
#define BUF_ALIGN 4096
#define HUGE_PAGE ((size_t)2 << 20)

/* The matrices decode reads, in memory order of a forward pass; NULL-terminated. */
static int model_weights(qora_model *m, qora_weight **out) {
  int n = 0;
  for (int il = 0; il < m->info.n_layer; il++) {
    qora_layer *l = &m->layers[il];
    qora_weight *ws[] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->w_gate, &l->w_up, &l->w_down};
    for (size_t i = 0; i < sizeof ws / sizeof *ws; i++)
      out[n++] = ws[i];
  }
  out[n++] = &m->output;
  return n;
}


#define SLICE_BYTES (32u << 20)      /* stored bytes repacked between two releases */

/*
** Drops the map's pages in [p, p + n): those wholly inside, or with outward set, every page
** that holds a byte of it (the bytes around it are repacked too).
*/
static void release(const void *p, size_t n, int outward) {
  uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), round = outward ? 0 : page - 1;
  uintptr_t lo = ((uintptr_t)p + round) & ~(page - 1);
  uintptr_t hi = ((uintptr_t)p + n + (page - 1 - round)) & ~(page - 1);
  if (hi > lo)
    madvise((void *)lo, hi - lo, MADV_DONTNEED);
}


/*
** Repacks w into out by slices, dropping each slice's stored pages when drop is set, so the
** process holds at most one slice of a matrix twice.
*/
static void repack_sliced(qora_pool *pool, qora_weight *w, void *out, int drop) {
  long groups = (w->rows + R16_ROWS - 1) / R16_ROWS;
  size_t stored = R16_ROWS * w->row_bytes;
  long per = SLICE_BYTES / stored > 0 ? (long)(SLICE_BYTES / stored) : 1;

  for (long g0 = 0; g0 < groups; g0 += per) {
    repack_job j = {w, out, g0, g0 + per < groups ? g0 + per : groups};
    qora_pool_run(pool, repack_part, &j);
    int64_t r1 = j.g1 * R16_ROWS < w->rows ? j.g1 * R16_ROWS : w->rows;
    if (drop)
      release((const char *)w->data + g0 * stored, (size_t)(r1 - g0 * R16_ROWS) * w->row_bytes, 0);
  }
  w->r16 = out;
}


/*
** Frees w's stored copy when the model converted it into a buffer of its own (a folder's
** matrices; a GGUF's are its map's pages), so that a matrix is held once. The tied embedding
** shares the LM head's buffer, and goes with it.
** glibc serves matrices below its mmap threshold (raised to 8 MB or more once the tokenizer
** file is freed) from the heap, and a freed chunk there goes back to the kernel only when it
** reaches the heap's top: loading a SmolLM3-3B-shaped folder as Q4_0 peaked at 3.19 GB, the
** freed copies of 1.7 GB still resident while the repacked one filled in. malloc_trim hands
** their pages back as each one goes.
*/
static void free_stored(qora_model *m, qora_weight *w) {
  const void *p = w->data;

  if (w->row_bytes > R16_ROW_MAX || !qora_model_drop(m, p))
    return;
  w->data = NULL;
  if (m->tok_embd.data == p)
    m->tok_embd.data = NULL;
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}


/*
** Copies a norm vector (n floats) out of the map and drops its pages there. Read at every
** step, the map's copies kept their pages in memory, and the page cache may hold the file in
** 2 MB folios, which a fault maps whole: up to 60 MB for the 73 vectors of SmolLM3-3B.
*/
static const float *own_norm(qora_model *m, const float *v, int n) {
  const uint8_t *p = (const uint8_t *)v, *map = m->gguf->map;
  float *c;

  /* An F16 or BF16 norm was widened into the heap at load: it is the model's already, and
  ** dropping its pages would zero it and whatever else shares them. */
  if (p < map || p >= map + m->gguf->size)
    return v;
  c = qora_model_own(m, malloc((size_t)n * sizeof *c));
  if (c == NULL)
    return v;
  memcpy(c, v, (size_t)n * sizeof *c);
  release(v, (size_t)n * sizeof *c, 1);
  return c;
}


static void own_norms(qora_model *m) {
  int n = m->info.n_embd;

  for (int il = 0; il < m->info.n_layer; il++) {
    m->layers[il].attn_norm = own_norm(m, m->layers[il].attn_norm, n);
    m->layers[il].ffn_norm = own_norm(m, m->layers[il].ffn_norm, n);
  }
  m->output_norm = own_norm(m, m->output_norm, n);
}


void qora_model_repack(qora_model *m, int huge) {
  int n_max = m->info.n_layer * 7 + 1, n;
  qora_weight **ws = malloc((size_t)n_max * sizeof *ws);
  size_t total = 0;
  char *buf;
  int drop = m->gguf != NULL && m->gguf->owns_map;   /* pages of a file, not of the heap */

  if (ws == NULL || !m->info.has_weights || !qora_r16_cpu()) {
    free(ws);
    return;
  }
  n = model_weights(m, ws);
  for (int i = 0; i < n; i++)
    total += qora_r16_bytes(ws[i]);
  if (total == 0 || posix_memalign((void **)&buf, huge ? HUGE_PAGE : BUF_ALIGN, total) != 0 ||
      qora_model_own(m, buf) == NULL) {
    free(ws);
    return;
  }
#ifdef MADV_HUGEPAGE
  if (huge)
    madvise(buf, total, MADV_HUGEPAGE);   /* fewer TLB misses while streaming the weights */
#endif
  for (int i = 0; i < n; i++) {
    size_t bytes = qora_r16_bytes(ws[i]);
    if (bytes == 0)
      continue;
    repack_sliced(m->pool, ws[i], buf, drop);
    free_stored(m, ws[i]);
    buf += bytes;
  }
  free(ws);
  if (drop)
    own_norms(m);
}
