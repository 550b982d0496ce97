/* cli.h - the command-line front as the composition root sees it: the global
 * options, then one command run against a loaded config. */
#ifndef STATESNAP_CLI_H
#define STATESNAP_CLI_H

#include "args.h"
#include "../common/err.h"
#include <stdio.h>

#include "../conf/config.h"

/* Parse the global options into g (cli_globals_parse) and answer what needs
 * no config: --version / -V, --help without a command, no command at all.
 * Returns -1 when a command should run (g->rest), else the exit code to end
 * with. g is freed with cli_globals_free either way. */
int cli_begin(struct cli_globals *g, int argc, char **argv);

/* Run the command in g->rest (g->rest[0] is its name) with the config cfg
 * loaded from g's --config/--root/--store. Returns the exit code
 * (README "Exit codes"). */
int cli_main(struct config *cfg, const struct cli_globals *g);

/* Report an error that stops the process before any command ran (the config
 * did not load): "statesnap: MSG" on stderr and, with json, the problem
 * document on stdout. Returns the usage exit code (2). */
int cli_startup_error(int json, const struct err *e);

/* statesnap serve's help page, from cli_serve_opts (the table serve parses
 * with). Cannot fail. */
void cli_help_serve(FILE *f);

#endif
