/* producer_config.c: setting producer configuration by Kafka's property names. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "clients/runnel.h"
#include "common/errors.h"
#include "wire/batch_codec.h"

/* The kind of field a numeric setting fills. */
enum field_kind { FIELD_I32, FIELD_U32, FIELD_SIZE };

/* Numeric settings: the Kafka name, the field, its kind and the smallest
 * value (runnel_producer_new checks the finer rules). */
struct num_setting {
	const char *key;
	size_t offset;
	enum field_kind kind;
	int64_t min;
};

#define NUM_SETTING(key, field, kind, min) \
	{(key), offsetof(struct runnel_producer_config, field), (kind), (min)}

static const struct num_setting num_settings[] = {
	NUM_SETTING("batch.size", batch_size, FIELD_U32, 1),
	NUM_SETTING("linger.ms", linger_ms, FIELD_I32, 0),
	NUM_SETTING("retries", retries, FIELD_I32, 0),
	NUM_SETTING("retry.backoff.ms", retry_backoff_ms, FIELD_I32, 0),
	NUM_SETTING("delivery.timeout.ms", delivery_timeout_ms, FIELD_I32, 1),
	NUM_SETTING("buffer.memory", buffer_memory, FIELD_SIZE, 1),
	NUM_SETTING("max.request.size", message_max_bytes, FIELD_U32, 1),
	NUM_SETTING("compression.level", compression_level, FIELD_I32,
		    RUNNEL_COMPRESSION_LEVEL_DEFAULT),
	NUM_SETTING("max.in.flight.requests.per.connection", client.max_in_flight, FIELD_I32, 1),
	NUM_SETTING("request.timeout.ms", client.request_timeout_ms, FIELD_I32, 1),
	NUM_SETTING("reconnect.backoff.ms", client.reconnect_backoff_ms, FIELD_I32, 0),
	NUM_SETTING("reconnect.backoff.max.ms", client.reconnect_backoff_max_ms, FIELD_I32, 0),
};

static int set_number(struct runnel_producer_config *cfg, const struct num_setting *s,
		      const char *value)
{
	int64_t max = s->kind == FIELD_I32   ? INT32_MAX
		      : s->kind == FIELD_U32 ? UINT32_MAX
					     : INT64_MAX;
	char *end = NULL;
	if (!*value)
		return RN_E_INVAL;
	errno = 0;
	long long v = strtoll(value, &end, 10);
	if (errno != 0 || *end != '\0' || v < s->min || v > max)
		return RN_E_INVAL;
	char *field = (char *)cfg + s->offset;
	if (s->kind == FIELD_I32)
		*(int32_t *)field = (int32_t)v;
	else if (s->kind == FIELD_U32)
		*(uint32_t *)field = (uint32_t)v;
	else
		*(size_t *)field = (size_t)v;
	return 0;
}

/* Kafka's compression.type names; gzip and snappy are known and refused. */
static int set_compression(struct runnel_producer_config *cfg, const char *value)
{
	int codec;
	if (batch_codec_parse(value, &codec) == 0) {
		cfg->compression_type = codec;
		return 0;
	}
	if (strcmp(value, "gzip") == 0 || strcmp(value, "snappy") == 0)
		return RN_E_UNSUPPORTED_COMPRESSION_TYPE;
	return RN_E_INVAL;
}

static int set_acks(struct runnel_producer_config *cfg, const char *value)
{
	if (strcmp(value, "all") == 0 || strcmp(value, "-1") == 0)
		cfg->acks = -1;
	else if (strcmp(value, "0") == 0 || strcmp(value, "1") == 0)
		cfg->acks = value[0] - '0';
	else
		return RN_E_INVAL;
	return 0;
}

/* Kafka's booleans are "true" and "false". */
static int set_idempotence(struct runnel_producer_config *cfg, const char *value)
{
	if (strcmp(value, "true") == 0)
		cfg->enable_idempotence = 1;
	else if (strcmp(value, "false") == 0)
		cfg->enable_idempotence = 0;
	else
		return RN_E_INVAL;
	return 0;
}

int runnel_producer_config_set(struct runnel_producer_config *cfg, const char *key,
			       const char *value)
{
	if (!cfg || !key || !value)
		return RN_E_INVAL;
	for (size_t i = 0; i < sizeof(num_settings) / sizeof(num_settings[0]); i++)
		if (strcmp(key, num_settings[i].key) == 0)
			return set_number(cfg, &num_settings[i], value);
	if (strcmp(key, "compression.type") == 0)
		return set_compression(cfg, value);
	if (strcmp(key, "acks") == 0)
		return set_acks(cfg, value);
	if (strcmp(key, "enable.idempotence") == 0)
		return set_idempotence(cfg, value);
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
