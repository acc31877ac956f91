/* cli_config.h: the config helpers shared by `runnel topic alter-config` and `runnel cluster alter-config|describe-config`. */
#ifndef RUNNEL_CLIENTS_CLI_CONFIG_H
#define RUNNEL_CLIENTS_CLI_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "clients/runnel.h"

/*
 * Builds the changes of an alter-config command: one SET per sets[i] (from
 * -c KEY=VALUE) then one DELETE per deletes[i] (from --delete KEY).  out
 * must hold nsets + ndeletes entries; its strings point into the inputs.
 * Returns the number of changes.
 */
size_t cli_config_changes(const struct runnel_config_entry *sets, size_t nsets,
			  const char *const *deletes, size_t ndeletes,
			  struct runnel_config_change *out);

/* Prints "altered WHAT: set k=v, deleted k" (or "validated ...: nothing
 * changed" with validate_only) on one line.  what is for example
 * "topic orders" or "cluster defaults". */
void cli_config_changes_print(FILE *out, const char *what, const struct runnel_config_change *ch,
			      size_t n, int validate_only);

/* Prints entries as "  KEY=VALUE (SOURCE)" lines. */
void cli_config_print_text(FILE *out, const struct runnel_config_entry *e, size_t n);

/* Prints entries as {"configs":{KEY:VALUE,...},"config_sources":{KEY:SOURCE,...}}
 * and a newline, the fields `runnel topic describe --format json` uses. */
void cli_config_print_json(FILE *out, const struct runnel_config_entry *e, size_t n);

#endif
