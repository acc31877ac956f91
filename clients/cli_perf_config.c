/* cli_perf_config.c: runnel perf's client settings: -X by Kafka name, then the options. */
#include "clients/cli_perf.h"

#include <stdlib.h>
#include <string.h>

#include "common/errors.h"

/* Applies one -X KEY=VALUE to every config given that knows KEY.  Returns
 * 0, or CLI_EXIT_USAGE or CLI_EXIT_ERROR (out of memory) after saying
 * why. */
static int apply_setting(const char *mode, const char *arg, struct runnel_producer_config *pcfg,
			 struct runnel_consumer_config *ccfg, char **key_copy)
{
	size_t klen;
	const char *value;
	if (cli_split_kv(arg, &klen, &value) != 0) {
		cli_usage_error("perf", "-X wants KEY=VALUE, not \"%s\"", arg);
		return CLI_EXIT_USAGE;
	}
	if (!(*key_copy = strndup(arg, klen))) {
		cli_error("perf", RN_E_NOMEM, NULL);
		return CLI_EXIT_ERROR;
	}
	int prc = pcfg ? runnel_producer_config_set(pcfg, *key_copy, value) : RN_E_NOT_FOUND;
	int crc = ccfg ? runnel_consumer_config_set(ccfg, *key_copy, value) : RN_E_NOT_FOUND;
	if (prc == RN_E_NOT_FOUND && crc == RN_E_NOT_FOUND) {
		cli_usage_error("perf", "%s has no setting \"%s\"", mode, *key_copy);
		return CLI_EXIT_USAGE;
	}
	if ((prc != 0 && prc != RN_E_NOT_FOUND) || (crc != 0 && crc != RN_E_NOT_FOUND)) {
		cli_usage_error("perf", "bad value \"%s\" for %s", value, *key_copy);
		return CLI_EXIT_USAGE;
	}
	return 0;
}

/* The explicit producer options win over -X. */
static void apply_producer_opts(const struct perf_opts *o, struct runnel_producer_config *cfg)
{
	if (o->has_acks)
		cfg->acks = o->acks;
	if (o->batch_size >= 0)
		cfg->batch_size = (uint32_t)o->batch_size;
	if (o->linger_ms >= 0)
		cfg->linger_ms = (int32_t)o->linger_ms;
}

int perf_configure(const struct cli_global *g, const struct perf_opts *o,
		   struct runnel_producer_config *pcfg, struct runnel_consumer_config *ccfg,
		   char **keys)
{
	if (pcfg) {
		runnel_producer_config_init(pcfg);
		pcfg->client.bootstrap = g->bootstrap;
	}
	if (ccfg) {
		runnel_consumer_config_init(ccfg);
		ccfg->client.bootstrap = g->bootstrap;
		ccfg->auto_offset_reset = RUNNEL_RESET_EARLIEST;
	}
	for (size_t i = 0; i < o->setting_count; i++)
		keys[i] = NULL;
	for (size_t i = 0; i < o->setting_count; i++) {
		int rc = apply_setting(o->mode, o->settings[i], pcfg, ccfg, &keys[i]);
		if (rc != 0)
			return rc;
	}
	if (pcfg)
		apply_producer_opts(o, pcfg);
	return 0;
}

void perf_free_keys(char **keys, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		free(keys[i]);
		keys[i] = NULL;
	}
}
