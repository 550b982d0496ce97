/* render_diff.h - the CLI's text view of a Diff document. */
#ifndef STATESNAP_RENDER_DIFF_H
#define STATESNAP_RENDER_DIFF_H

#include <stdio.h>
#include <jansson.h>

/* Write the human-readable diff report for diff (the document diff_sides()
 * builds) to out. .env values never appear, only key names. Write errors on
 * out are left for the caller to see with ferror(); cannot fail otherwise. */
void cli_render_diff(FILE *out, const json_t *diff);

#endif
