/*
** utf8.h: strict UTF-8 decoding and encoding (internal). The streaming assembler and the
** validity check of the public interface are in utf8.c too.
*/
#ifndef QORA_UTF8_H
#define QORA_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
** Decodes the character at s[0..n) into *cp and returns its length (1 to 4), or 0 when the
** bytes there do not start a valid character (overlong, surrogate, above U+10FFFF, cut short).
*/
int utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/* Writes cp (at most U+10FFFF) to out and returns its length (1 to 4). */
int utf8_encode(uint32_t cp, char *out);

/* Returns n when s[0..n) is valid UTF-8, else the offset of the first byte that is not. */
size_t utf8_check(const char *s, size_t n);

#endif
