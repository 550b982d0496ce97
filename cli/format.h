/* format.h - the seed's text blocks, rendered from the engine's documents. */
#ifndef STATESNAP_FORMAT_H
#define STATESNAP_FORMAT_H

#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

/* "2.4 MB" (sep = " ") or "2.4MB" (sep = ""). Cannot fail. */
void format_size(int64_t bytes, const char *sep, char *out, size_t len);

/* The SNAPSHOT CREATED block. restore_cmd is the command line to print. */
/* The create's block in three parts: the head (through "CONTENTS:"), one
 * line a file (the files come from the catalog one at a time), and the
 * warnings, location and restore command. */
void format_created_head(FILE *out, const json_t *snap);
void format_created_file(FILE *out, const char *path, const char *sha256);
void format_created_tail(FILE *out, const json_t *snap, const char *restore_cmd);

/* The create --if-changed block when nothing changed: the current (newest)
 * snapshot's name, time and location. Cannot fail. */
void format_skipped(FILE *out, const json_t *snap);

/* The SNAPSHOTS table and Total line for a list page. */
void format_list(FILE *out, const json_t *page);

/* A snapshot's details (show). */
void format_show(FILE *out, const json_t *snap);

/* The RESTORE FROM SNAPSHOT header with the plan, up to (not including) the prompt. */
void format_restore_preview(FILE *out, const json_t *preview);

/* RESTORING... [OK] lines, RESTORE COMPLETE and the next step. */
void format_restore_report(FILE *out, const json_t *report);

/* The RESTORE DRILL block for a drill report, ending [OK] or [FAILED]. */
void format_drill(FILE *out, const json_t *report);

/* Verification lines for one report. */
void format_verify(FILE *out, const json_t *report);

/* Write s with what could drive or deceive a terminal escaped: C0 controls,
 * DEL and bytes that are not UTF-8 as \xNN, C1 controls (U+009B is a CSI),
 * bidi overrides and isolates and other invisible format characters as
 * \uNNNN (engine_char_unsafe). Returns the bytes written. Cannot fail. */
size_t format_safe(FILE *out, const char *s);

/* format_safe into buf (len bytes, always NUL-terminated; cut short when it
 * does not fit), for columns whose width is measured. Cannot fail. */
void format_safe_str(char *buf, size_t len, const char *s);

/* format_safe_str into buf and return buf: for a printf argument.
 * Cannot fail. */
const char *format_safe_arg(char *buf, size_t len, const char *s);

/* The escaped form of s in a buffer that lives to the end of the enclosing
 * block (FORMAT_SAFE_MAX bytes, cut short beyond), for printf arguments. */
#define FORMAT_SAFE_MAX 1024
#define FORMAT_SAFE(s) format_safe_arg((char[FORMAT_SAFE_MAX]){ 0 }, FORMAT_SAFE_MAX, (s))

#endif
