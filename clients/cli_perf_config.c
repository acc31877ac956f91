/* cli_perf_config.c: runnel perf's client settings: -X by Kafka name, then the options. */
#include "clients/cli_perf.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"

static int parse_i64(const char *v, int64_t min, int64_t max, int64_t *out)
{
	char *end = NULL;
	if (!v || !*v)
		return RN_E_INVAL;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (errno != 0 || *end != '\0' || x < min || x > max)
		return RN_E_INVAL;
	*out = x;
	return 0;
}

/* The kind of field a numeric setting fills. */
enum field_kind { FIELD_I32, FIELD_U32, FIELD_SIZE };

/* Numeric settings: the Kafka name, the field, its kind and the smallest
 * value (the producer's constructor checks the finer rules). */
struct num_setting {
	const char *key;
	size_t offset;
	enum field_kind kind;
	int64_t min;
};

#define SETTING(key, field, kind, min) \
	{(key), offsetof(struct runnel_producer_config, field), (kind), (min)}

static const struct num_setting num_settings[] = {
	SETTING("batch.size", batch_size, FIELD_U32, 1),
	SETTING("linger.ms", linger_ms, FIELD_I32, 0),
	SETTING("retries", retries, FIELD_I32, 0),
	SETTING("retry.backoff.ms", retry_backoff_ms, FIELD_I32, 0),
	SETTING("delivery.timeout.ms", delivery_timeout_ms, FIELD_I32, 1),
	SETTING("buffer.memory", buffer_memory, FIELD_SIZE, 1),
	SETTING("max.request.size", message_max_bytes, FIELD_U32, 1),
	SETTING("max.in.flight.requests.per.connection", client.max_in_flight, FIELD_I32, 1),
	SETTING("request.timeout.ms", client.request_timeout_ms, FIELD_I32, 1),
	SETTING("reconnect.backoff.ms", client.reconnect_backoff_ms, FIELD_I32, 0),
	SETTING("reconnect.backoff.max.ms", client.reconnect_backoff_max_ms, FIELD_I32, 0),
};

static int set_number(struct runnel_producer_config *cfg, const struct num_setting *s,
		      const char *value)
{
	int64_t max = s->kind == FIELD_I32   ? INT32_MAX
		      : s->kind == FIELD_U32 ? UINT32_MAX
					     : INT64_MAX;
	int64_t v;
	int rc = parse_i64(value, s->min, max, &v);
	if (rc != 0)
		return rc;
	char *field = (char *)cfg + s->offset;
	if (s->kind == FIELD_I32)
		*(int32_t *)field = (int32_t)v;
	else if (s->kind == FIELD_U32)
		*(uint32_t *)field = (uint32_t)v;
	else
		*(size_t *)field = (size_t)v;
	return 0;
}

int perf_producer_config_set(struct runnel_producer_config *cfg, const char *key,
			     const char *value)
{
	if (!cfg || !key || !value)
		return RN_E_INVAL;
	for (size_t i = 0; i < sizeof(num_settings) / sizeof(num_settings[0]); i++)
		if (strcmp(key, num_settings[i].key) == 0)
			return set_number(cfg, &num_settings[i], value);
	if (strncmp(key, "compression.", 12) == 0)
		return runnel_producer_config_set(cfg, key, value);
	if (strcmp(key, "acks") == 0)
		return cli_parse_acks(value, &cfg->acks);
	if (strcmp(key, "bootstrap.servers") == 0) {
		cfg->client.bootstrap = value;
		return 0;
	}
	if (strcmp(key, "client.id") == 0) {
		cfg->client.client_id = value;
		return 0;
	}
	return RN_E_NOT_FOUND;
}

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
	int prc = pcfg ? perf_producer_config_set(pcfg, *key_copy, value) : RN_E_NOT_FOUND;
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
