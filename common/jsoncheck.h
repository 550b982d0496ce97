/* jsoncheck.h - whether a text is one JSON value, checked without building it.
 *
 * A create looks at every captured .json file to tell a file caught half
 * rewritten from a whole one (engine/cut.c). Loading each with jansson
 * builds and frees a tree per file: most of a small root's capture time.
 * jsoncheck_valid answers 1 only for text that json_loadb(JSON_DECODE_ANY)
 * loads too; 0 means "not sure", and the caller asks jansson, which also
 * words the error. Not sure: anything invalid, and what this check leaves
 * to jansson rather than repeat its rules: bytes of 0x80 and above (UTF-8),
 * \u escapes of NUL or surrogates, numbers with an exponent or of more
 * than 18 digits (jansson's range limits), nesting deeper than
 * JSONCHECK_DEPTH. */
#ifndef STATESNAP_JSONCHECK_H
#define STATESNAP_JSONCHECK_H

#include <stddef.h>

#define JSONCHECK_DEPTH 512

int jsoncheck_valid(const char *text, size_t len);

#endif
