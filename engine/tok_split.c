/*
** tok_split.c: the pre-tokenizers, written out by hand from their regular expressions.
**
** Llama 3 (llama.cpp: llama-bpe):
**   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
**   \s*[\r\n]+|\s+(?!\S)|\s+
** GPT-2 (Hugging Face ByteLevel with use_regex):
**   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
** Each function finds, at every position, the match the first matching alternative gives (as
** a backtracking engine does), so the pieces are the regex's matches. \s is Unicode's
** White_Space, which is what Oniguruma (Hugging Face) and llama.cpp match: tab to carriage
** return, U+0085 and the separators Zs, Zl, Zp. Every character is a letter, a number, a space
** or "other", so every character lands in some piece. A piece never looks past its own ends:
** the lookahead (?!\S) sees the end of a piece as the end of the text.
*/
#include <string.h>
#include <utf8proc.h>

#include "tok_internal.h"

uint8_t tok_class(uint32_t cp) {
  if (cp < 0x80) {
    if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z')
      return TOK_CL_L;
    if (cp >= '0' && cp <= '9')
      return TOK_CL_N;
    return (cp == ' ' || (cp >= 0x09 && cp <= 0x0D)) ? TOK_CL_S : 0;
  }
  if (cp == 0x85)
    return TOK_CL_S;
  switch (utf8proc_category((utf8proc_int32_t)cp)) {
  case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
  case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
    return TOK_CL_L;
  case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
    return TOK_CL_N;
  case UTF8PROC_CATEGORY_ZS: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP:
    return TOK_CL_S;
  default:
    return 0;
  }
}


/* The piece being split: code points, their classes, and the end of the piece. */
typedef struct span {
  const uint32_t *cp;
  const uint8_t *cls;
  size_t end;
} span;

static int is_nl(uint32_t c) {
  return c == '\r' || c == '\n';
}


/*
** Length of the contraction at p ('s 't 're 've 'm 'll 'd), or 0. With fold, as (?i:...) in
** Oniguruma: ASCII either case, and the long s (U+017F), whose case folding is "s". (llama.cpp
** folds ASCII only; no token of Llama 3 tells the two apart.)
*/
static size_t contraction(const span *s, size_t p, int fold) {
  uint32_t a, b;

  if (s->cp[p] != '\'' || p + 1 >= s->end)
    return 0;
  a = s->cp[p + 1];
  if (fold && a == 0x17F)
    a = 's';
  if (fold && a < 0x80)
    a |= (a >= 'A' && a <= 'Z') ? 0x20 : 0;
  if (a == 's' || a == 't' || a == 'm' || a == 'd')
    return 2;
  if (p + 2 >= s->end)
    return 0;
  b = s->cp[p + 2];
  if (fold && b < 0x80)
    b |= (b >= 'A' && b <= 'Z') ? 0x20 : 0;
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
    return 3;
  return 0;
}


/* End of the run of characters of class mask cl from p; cl 0 means "other". */
static size_t run_of(const span *s, size_t p, uint8_t cl) {
  if (cl == 0) {
    while (p < s->end && s->cls[p] == 0)
      p++;
  } else {
    while (p < s->end && (s->cls[p] & cl))
      p++;
  }
  return p;
}


/* \s+(?!\S)|\s+ at p: a run of spaces, less its last one when a non-space follows it. */
static size_t spaces(const span *s, size_t p) {
  size_t q = run_of(s, p, TOK_CL_S);

  if (q < s->end && q - p >= 2)
    return q - 1;
  return q;
}


/* The end of the Llama 3 match that starts at p. */
static size_t llama3_match(const span *s, size_t p) {
  uint32_t c = s->cp[p];
  uint8_t k = s->cls[p];
  size_t q, last_nl;

  if ((q = contraction(s, p, 1)) > 0)
    return p + q;
  if (!is_nl(c) && !(k & TOK_CL_N)) {
    if (k & TOK_CL_L)
      return run_of(s, p, TOK_CL_L);
    if (p + 1 < s->end && (s->cls[p + 1] & TOK_CL_L))
      return run_of(s, p + 1, TOK_CL_L);
  }
  if (k & TOK_CL_N) {
    for (q = p; q < s->end && q - p < 3 && (s->cls[q] & TOK_CL_N); q++)
      ;
    return q;
  }
  q = (c == ' ' && p + 1 < s->end) ? p + 1 : p;
  if (s->cls[q] == 0) {
    q = run_of(s, q, 0);
    while (q < s->end && is_nl(s->cp[q]))
      q++;
    return q;
  }
  last_nl = 0;
  for (q = p; q < s->end && (s->cls[q] & TOK_CL_S); q++)
    if (is_nl(s->cp[q]))
      last_nl = q + 1;
  if (last_nl > 0)
    return last_nl;
  return spaces(s, p);
}


/* The end of the GPT-2 match that starts at p. */
static size_t gpt2_match(const span *s, size_t p) {
  size_t q, start;
  uint8_t k;

  if ((q = contraction(s, p, 0)) > 0)
    return p + q;
  start = (s->cp[p] == ' ' && p + 1 < s->end) ? p + 1 : p;
  k = s->cls[start];
  if (k & TOK_CL_L)
    return run_of(s, start, TOK_CL_L);
  if (k & TOK_CL_N)
    return run_of(s, start, TOK_CL_N);
  if (k == 0)
    return run_of(s, start, 0);
  return spaces(s, p);
}


static size_t not_numbers(const span *s, size_t p) {
  while (p < s->end && !(s->cls[p] & TOK_CL_N))
    p++;
  return p;
}


/* Splits the piece [a, s->end) by the step; appends piece ends to out, returns their count. */
static size_t split_piece(int step, const span *s, size_t a, uint32_t *out, size_t n_out) {
  size_t p = a, q;

  while (p < s->end) {
    switch (step) {
    case TOK_STEP_LLAMA3:
      q = llama3_match(s, p);
      break;
    case TOK_STEP_GPT2:
      q = gpt2_match(s, p);
      break;
    case TOK_STEP_DIGITS:
      q = (s->cls[p] & TOK_CL_N) ? p + 1 : not_numbers(s, p);
      break;
    default:  /* TOK_STEP_DIGIT_RUNS */
      q = (s->cls[p] & TOK_CL_N) ? run_of(s, p, TOK_CL_N) : not_numbers(s, p);
      break;
    }
    out[n_out++] = (uint32_t)q;
    p = q;
  }
  return n_out;
}


size_t tok_split(const int *steps, int n_steps, const uint32_t *cp, const uint8_t *cls,
                 size_t n, uint32_t *ends, uint32_t *tmp) {
  uint32_t *cur = ends, *next = tmp, *swap;
  size_t n_cur = 0, n_next;

  if (n == 0)
    return 0;
  cur[n_cur++] = (uint32_t)n;
  for (int i = 0; i < n_steps; i++) {
    size_t a = 0;

    n_next = 0;
    for (size_t j = 0; j < n_cur; j++) {
      span s = { cp, cls, cur[j] };

      n_next = split_piece(steps[i], &s, a, next, n_next);
      a = cur[j];
    }
    swap = cur, cur = next, next = swap;
    n_cur = n_next;
  }
  if (cur != ends)
    memcpy(ends, cur, n_cur * sizeof *ends);
  return n_cur;
}
