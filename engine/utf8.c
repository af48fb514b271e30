/*
** utf8.c: strict UTF-8 (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF) and
** the streaming assembler that turns token bytes into whole characters.
*/
#include <stdint.h>

#include "qora.h"
#include "utf8.h"

/* Bytes a sequence needs after its lead byte, or -1 for a byte that cannot lead one. */
static int tail_len(unsigned char b) {
  if (b < 0x80)
    return 0;
  if (b >= 0xC2 && b <= 0xDF)
    return 1;
  if (b >= 0xE0 && b <= 0xEF)
    return 2;
  if (b >= 0xF0 && b <= 0xF4)
    return 3;
  return -1;
}


/*
** 1 when b may follow the bytes lead .. (at position pos >= 1 of the sequence). Only the
** second byte has a range narrower than 80..BF: that is what rules out overlongs,
** surrogates and code points above U+10FFFF.
*/
static int tail_ok(unsigned char lead, int pos, unsigned char b) {
  unsigned char lo = 0x80, hi = 0xBF;

  if (pos == 1) {
    if (lead == 0xE0)
      lo = 0xA0;
    else if (lead == 0xED)
      hi = 0x9F;
    else if (lead == 0xF0)
      lo = 0x90;
    else if (lead == 0xF4)
      hi = 0x8F;
  }
  return b >= lo && b <= hi;
}


int utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
  int t, i;
  uint32_t v;

  if (n == 0)
    return 0;
  t = tail_len(s[0]);
  if (t < 0 || (size_t)t + 1 > n)
    return 0;
  if (t == 0) {
    *cp = s[0];
    return 1;
  }
  v = s[0] & (0x3F >> t);
  for (i = 1; i <= t; i++) {
    if (!tail_ok(s[0], i, s[i]))
      return 0;
    v = (v << 6) | (s[i] & 0x3F);
  }
  *cp = v;
  return t + 1;
}


int utf8_encode(uint32_t cp, char *out) {
  unsigned char *o = (unsigned char *)out;

  if (cp < 0x80) {
    o[0] = (unsigned char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (unsigned char)(0xC0 | (cp >> 6));
    o[1] = (unsigned char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (unsigned char)(0xE0 | (cp >> 12));
    o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (unsigned char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (unsigned char)(0xF0 | (cp >> 18));
  o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (unsigned char)(0x80 | (cp & 0x3F));
  return 4;
}


size_t utf8_check(const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0;
  uint32_t cp;
  int k;

  while (i < n) {
    if (u[i] < 0x80) {
      i++;
      continue;
    }
    k = utf8_decode(u + i, n - i, &cp);
    if (k == 0)
      return i;
    i += (size_t)k;
  }
  return n;
}


int qora_utf8_valid(const char *s, size_t n) {
  return utf8_check(s, n) == n;
}


/* ------------------------------------------------------------ streaming */

static const char replacement[3] = { (char)0xEF, (char)0xBF, (char)0xBD };  /* U+FFFD */


/*
** Feeds one byte. Held bytes that can no longer complete become one U+FFFD (the "maximal
** subpart" rule of Unicode chapter 3), then the byte is looked at afresh.
*/
static size_t push_byte(qora_utf8 *u, unsigned char b, char *out) {
  size_t w = 0;
  int t;

  if (u->n_held > 0) {
    if (tail_ok(u->held[0], u->n_held, b)) {
      u->held[u->n_held++] = b;
      if (u->n_held == tail_len(u->held[0]) + 1) {
        for (int i = 0; i < u->n_held; i++)
          out[w++] = (char)u->held[i];
        u->n_held = 0;
      }
      return w;
    }
    for (int i = 0; i < 3; i++)
      out[w++] = replacement[i];
    u->n_held = 0;
  }
  t = tail_len(b);
  if (t == 0) {
    out[w++] = (char)b;
  } else if (t < 0) {
    for (int i = 0; i < 3; i++)
      out[w++] = replacement[i];
  } else {
    u->held[0] = b;
    u->n_held = 1;
  }
  return w;
}


size_t qora_utf8_push(qora_utf8 *u, const char *in, size_t n, char *out, size_t out_cap) {
  size_t w = 0;

  if (u->n_held < 0 || u->n_held > 3 || out_cap / 3 < n + 1)
    return (size_t)-1;
  for (size_t i = 0; i < n; i++)
    w += push_byte(u, (unsigned char)in[i], out + w);
  return w;
}


size_t qora_utf8_flush(qora_utf8 *u, char *out, size_t out_cap) {
  if (u->n_held < 0 || u->n_held > 3 || out_cap < 3)
    return (size_t)-1;
  if (u->n_held == 0)
    return 0;
  u->n_held = 0;
  for (int i = 0; i < 3; i++)
    out[i] = replacement[i];
  return 3;
}
