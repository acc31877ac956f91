/* main.c: runneld's entry point: settings, then the node. */
#include "broker/config.h"
#include "broker/node.h"
#include "common/errors.h"

#include <stdio.h>
#include <stdlib.h>

extern char **environ;

/* Exit codes: 0 after a clean shutdown, 1 when the node cannot start or
 * stops on an error, 2 for a configuration error. */
enum { EXIT_CONFIG = 2 };

int main(int argc, char **argv)
{
	static char err[CONFIG_MAX_ERROR];
	struct node *n = calloc(1, sizeof(*n));
	if (!n) {
		fprintf(stderr, "runneld: out of memory\n");
		return EXIT_FAILURE;
	}
	enum config_action action;
	if (config_parse(&n->cfg, argc, argv, environ, &action, err) != RN_OK) {
		fprintf(stderr, "runneld: %s\n", err);
		free(n);
		return EXIT_CONFIG;
	}
	int code = EXIT_SUCCESS;
	switch (action) {
	case CONFIG_HELP:
		config_print_help(stdout, argv[0]);
		break;
	case CONFIG_VERSION:
		printf("runneld %s\n", RUNNEL_VERSION);
		break;
	case CONFIG_MARKDOWN:
		config_print_markdown(stdout);
		break;
	case CONFIG_RUN:
		if (node_start(n) != RN_OK) {
			code = EXIT_FAILURE;
			break;
		}
		code = node_run(n);
		node_free(n);
		break;
	}
	free(n);
	return code;
}
