/* consumer_config.c: setting consumer configuration by Kafka's property names. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "clients/assignor.h"
#include "clients/runnel.h"
#include "common/errors.h"

static int parse_i32(const char *v, int32_t min, int32_t *out)
{
	char *end = NULL;
	if (!v || !*v)
		return RN_E_INVAL;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (errno != 0 || *end != '\0' || x < min || x > INT32_MAX)
		return RN_E_INVAL;
	*out = (int32_t)x;
	return 0;
}

static int parse_bool(const char *v, int *out)
{
	if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
		*out = 1;
	else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
		*out = 0;
	else
		return RN_E_INVAL;
	return 0;
}

static int parse_reset(const char *v, enum runnel_offset_reset *out)
{
	/* Kafka's names, plus the CLI's words for the same thing. */
	if (strcmp(v, "earliest") == 0 || strcmp(v, "beginning") == 0 || strcmp(v, "smallest") == 0)
		*out = RUNNEL_RESET_EARLIEST;
	else if (strcmp(v, "latest") == 0 || strcmp(v, "end") == 0 || strcmp(v, "largest") == 0)
		*out = RUNNEL_RESET_LATEST;
	else if (strcmp(v, "none") == 0)
		*out = RUNNEL_RESET_NONE;
	else
		return RN_E_INVAL;
	return 0;
}

/* Integer settings: the Kafka name, the field, and the smallest value. */
struct int_setting {
	const char *key;
	size_t offset;
	int32_t min;
};

#define INT_SETTING(key, field, min) {(key), offsetof(struct runnel_consumer_config, field), (min)}

static const struct int_setting int_settings[] = {
	INT_SETTING("session.timeout.ms", session_timeout_ms, 1),
	INT_SETTING("heartbeat.interval.ms", heartbeat_interval_ms, 1),
	INT_SETTING("max.poll.interval.ms", rebalance_timeout_ms, 1),
	INT_SETTING("auto.commit.interval.ms", auto_commit_interval_ms, 0),
	INT_SETTING("fetch.max.wait.ms", fetch_max_wait_ms, 0),
	INT_SETTING("fetch.min.bytes", fetch_min_bytes, 0),
	INT_SETTING("fetch.max.bytes", fetch_max_bytes, 1),
	INT_SETTING("max.partition.fetch.bytes", partition_max_bytes, 1),
	INT_SETTING("retry.backoff.ms", retry_backoff_ms, 0),
	INT_SETTING("metadata.max.age.ms", metadata_max_age_ms, 0),
	INT_SETTING("request.timeout.ms", client.request_timeout_ms, 1),
	INT_SETTING("reconnect.backoff.ms", client.reconnect_backoff_ms, 0),
	INT_SETTING("reconnect.backoff.max.ms", client.reconnect_backoff_max_ms, 0),
};

/* Every comma-separated name must be a known assignor. */
static int check_strategies(const char *v)
{
	char name[32];
	size_t names = 0;
	while (*v) {
		size_t len = strcspn(v, ",");
		const char *s = v;
		size_t n = len;
		for (; n > 0 && *s == ' '; s++, n--)
			;
		for (; n > 0 && s[n - 1] == ' '; n--)
			;
		if (n > 0) {
			if (n >= sizeof(name) || ++names > RUNNEL_MAX_ASSIGNORS)
				return RN_E_INVAL;
			memcpy(name, s, n);
			name[n] = '\0';
			if (!assignor_find(name))
				return RN_E_INVAL;
		}
		v += len;
		if (*v == ',')
			v++;
	}
	return names > 0 ? 0 : RN_E_INVAL;
}

static int set_string(struct runnel_consumer_config *cfg, const char *key, const char *value)
{
	if (strcmp(key, "bootstrap.servers") == 0)
		cfg->client.bootstrap = value;
	else if (strcmp(key, "client.id") == 0)
		cfg->client.client_id = value;
	else if (strcmp(key, "group.id") == 0)
		cfg->group_id = value;
	else if (strcmp(key, "partition.assignment.strategy") == 0) {
		if (check_strategies(value) != 0)
			return RN_E_INVAL;
		cfg->assignment_strategy = value;
	}
	else if (strcmp(key, "client.rack") == 0)
		cfg->client_rack = value;
	else
		return RN_E_NOT_FOUND;
	return 0;
}

int runnel_consumer_config_set(struct runnel_consumer_config *cfg, const char *key,
			       const char *value)
{
	if (!cfg || !key || !value)
		return RN_E_INVAL;
	for (size_t i = 0; i < sizeof(int_settings) / sizeof(int_settings[0]); i++)
		if (strcmp(key, int_settings[i].key) == 0)
			return parse_i32(value, int_settings[i].min,
					 (int32_t *)((char *)cfg + int_settings[i].offset));
	if (strcmp(key, "enable.auto.commit") == 0)
		return parse_bool(value, &cfg->enable_auto_commit);
	if (strcmp(key, "auto.offset.reset") == 0)
		return parse_reset(value, &cfg->auto_offset_reset);
	return set_string(cfg, key, value);
}
