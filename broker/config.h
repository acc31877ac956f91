/* config.h: the node's settings: one table drives flags, file, environment, help and docs. */
#ifndef RUNNEL_BROKER_CONFIG_H
#define RUNNEL_BROKER_CONFIG_H

/*
 * Every setting has one dotted name (for example "node.id").  The same
 * setting is spelled
 *
 *   in a config file (--config FILE)   node.id=3
 *   in the environment                 RUNNEL_NODE_ID=3
 *   on the command line                --node-id 3   or   --node-id=3
 *
 * and the sources are layered: defaults < file < environment < flags.
 * Settings that Kafka also has keep Kafka's name.
 *
 * Parsing is pure: the caller passes argv, the environment and the file
 * text; nothing here reads a file except config_load, a thin wrapper.
 */

#include "common/limits.h"
#include "common/log.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Roles a node plays (a bit set). */
#define NODE_ROLE_BROKER 0x1u
#define NODE_ROLE_CONTROLLER 0x2u

/* "never" for the flush policy settings, as Kafka's Long.MAX_VALUE. */
#define CONFIG_NEVER INT64_MAX

/* Longest path the node accepts for data.dir and --config. */
#define CONFIG_MAX_PATH 1024u

/* Longest cluster.id (the metadata image's limit) and rack. */
#define CONFIG_MAX_CLUSTER_ID_LEN 39u
#define CONFIG_MAX_RACK_LEN 64u

/* Longest error message config functions produce. */
#define CONFIG_MAX_ERROR 512u

/* A host and a port, as parsed from "HOST:PORT". */
struct config_addr {
	char host[RN_MAX_ADDRESS_LEN + 1];
	uint16_t port;
};

/* Listeners a node may declare (each is announced to the controller, which
 * keeps at most META_MAX_ENDPOINTS per broker), and the longest name. */
#define CONFIG_MAX_LISTENERS 8u
#define CONFIG_MAX_LISTENER_NAME_LEN 32u
/* The name of the one listener that `listen` and `advertise` describe. */
#define CONFIG_DEFAULT_LISTENER_NAME "PLAINTEXT"

/* A listener as written in listeners or advertised.listeners:
 * NAME://HOST:PORT. */
struct config_endpoint {
	char name[CONFIG_MAX_LISTENER_NAME_LEN + 1];
	struct config_addr addr;
};

/* One listener after config_finish: the address it binds and the address
 * clients and other nodes are told to use for it. */
struct config_listener {
	char name[CONFIG_MAX_LISTENER_NAME_LEN + 1];
	struct config_addr bind;
	struct config_addr advertise;
};

struct config_voter {
	int32_t node_id;
	struct config_addr addr;
};

struct node_config {
	int32_t node_id;
	unsigned roles;
	/* listen and advertise are the inter-node listener's addresses once
	 * config_finish has run, whichever form configured them. */
	struct config_addr listen;
	struct config_addr advertise;
	/* As parsed from listeners and advertised.listeners. */
	uint32_t listeners_parsed;
	struct config_endpoint listeners_text[CONFIG_MAX_LISTENERS];
	uint32_t advertised_parsed;
	struct config_endpoint advertised_text[CONFIG_MAX_LISTENERS];
	char inter_node_listener_name[CONFIG_MAX_LISTENER_NAME_LEN + 1]; /* "" : the first */
	/* Resolved by config_finish: every listener, in the order given, and
	 * the index of the one other nodes use. */
	uint32_t listener_count;
	struct config_listener listeners[CONFIG_MAX_LISTENERS];
	uint32_t inter_node;
	uint32_t voter_count;
	struct config_voter voters[RN_MAX_NODES];
	char data_dir[CONFIG_MAX_PATH];
	enum rn_log_level log_level;
	int64_t num_partitions;
	int64_t default_replication_factor;
	int64_t min_insync_replicas;
	int64_t message_max_bytes;
	int64_t log_segment_bytes;
	int64_t log_roll_ms;
	int64_t log_index_interval_bytes;
	int64_t log_flush_interval_messages;
	int64_t log_flush_interval_ms;
	int64_t replica_lag_time_max_ms;
	int64_t replica_fetch_wait_max_ms;
	int64_t replica_fetch_max_bytes;
	int64_t replica_fetch_response_max_bytes;
	int64_t replica_high_watermark_checkpoint_interval_ms;
	int64_t auto_leader_rebalance_enable; /* 1 or 0 */
	int64_t leader_imbalance_check_interval_ms;
	int64_t log_retention_check_interval_ms;
	int64_t log_cleaner_enable;     /* log.cleaner.enable (0 or 1) */
	int64_t log_cleaner_backoff_ms; /* log.cleaner.backoff.ms */
	/* The cluster id this node must belong to ("" : learn it from the
	 * metadata log, or create one when the log is empty). */
	char cluster_id[CONFIG_MAX_CLUSTER_ID_LEN + 1];
	char rack[CONFIG_MAX_RACK_LEN + 1]; /* "" : none */
	int64_t broker_heartbeat_interval_ms;
	int64_t broker_session_timeout_ms;
	int64_t metadata_snapshot_interval_records;
	int64_t offsets_topic_num_partitions;
	int64_t offsets_topic_replication_factor;
	int64_t group_initial_rebalance_delay_ms;
	int64_t group_min_session_timeout_ms;
	int64_t group_max_session_timeout_ms;
	int64_t group_max_size;

	/* Where the file came from (empty: none), for the start-up summary. */
	char config_file[CONFIG_MAX_PATH];
	/* The last RUNNEL_* variable that named no setting ("" if none). */
	char env_warning[CONFIG_MAX_ERROR];
	/* Set when the setting was given, so derived defaults know. */
	int advertise_given;
	int voters_given;
	int listen_given;
	int listeners_given;
	int advertised_listeners_given;
};

/* What main should do after parsing. */
enum config_action {
	CONFIG_RUN = 0,
	CONFIG_HELP,     /* --help: print config_print_help and exit 0 */
	CONFIG_VERSION,  /* --version */
	CONFIG_MARKDOWN, /* --help-markdown: print the settings as docs/configuration.md */
};

/* Fills cfg with the defaults (derived settings are resolved by config_finish). */
void config_defaults(struct node_config *cfg);

/*
 * Applies one setting by its dotted name.  source names where it came from
 * ("flag", "environment", "file x:3") and goes into the error message.
 * Returns 0, or RN_E_INVALID_CONFIG with err (CONFIG_MAX_ERROR bytes) set to a
 * message naming the setting: unknown name, or a value the validator refuses.
 */
int config_set(struct node_config *cfg, const char *name, const char *value, const char *source,
	       char *err);

/*
 * Applies the text of a key=value file: one setting per line, blank lines
 * and lines starting with '#' ignored, whitespace around key and value
 * trimmed.  path is only used in messages.  Returns 0 or RN_E_INVALID_CONFIG.
 */
int config_apply_text(struct node_config *cfg, const char *text, const char *path, char *err);

/*
 * Applies RUNNEL_* variables of envp (NULL-terminated "NAME=value" strings).
 * RUNNEL_CONFIG names the file.  A RUNNEL_ variable that names no setting is
 * not an error, because the runnel CLI shares the prefix (RUNNEL_BOOTSTRAP):
 * it is described in cfg->env_warning for the start-up log.  A bad value is.
 * Returns 0 or RN_E_INVALID_CONFIG.
 */
int config_apply_env(struct node_config *cfg, char *const *envp, char *err);

/*
 * The whole sequence: defaults, then the file named by --config (or
 * RUNNEL_CONFIG), then the environment, then the flags, then config_finish.
 * argv[0] is the program name.  *action says whether to run or print help.
 * Returns 0, or RN_E_INVALID_CONFIG with err set.
 */
int config_parse(struct node_config *cfg, int argc, char *const *argv, char *const *envp,
		 enum config_action *action, char *err);

/*
 * Resolves derived defaults (the listeners from listen and advertise when
 * listeners is not set, each listener's advertised address, the inter-node
 * listener, voters = "<node.id>@<inter-node advertised address>") and checks
 * settings against each other: listen or advertise mixed with listeners, an
 * advertised or inter-node listener name that listeners does not declare, a
 * listener that would advertise a wildcard address, two listeners on one
 * address, a controller that is not a voter, a heartbeat interval not
 * shorter than the session timeout.  Returns 0 or RN_E_INVALID_CONFIG.
 */
int config_finish(struct node_config *cfg, char *err);

/* Converts a setting's dotted name into its flag ("--node-id") or
 * environment variable ("RUNNEL_NODE_ID"); out has room for cap bytes. */
void config_flag_name(const char *name, char *out, size_t cap);
void config_env_name(const char *name, char *out, size_t cap);

/* Prints --help (every setting) or the markdown reference. */
void config_print_help(FILE *out, const char *prog);
void config_print_markdown(FILE *out);

/* Writes a one-line summary of the effective settings into out. */
void config_summary(const struct node_config *cfg, char *out, size_t cap);

/* Parses "HOST:PORT" (port 1..65535; "[v6]:port" accepted).  0 or RN_E_INVAL. */
int config_parse_addr(const char *text, struct config_addr *out);

/* True when host is a wildcard bind address (0.0.0.0, ::), which names no
 * node and so can never be advertised. */
int config_host_is_wildcard(const char *host);

/* The listener named name, NULL when the node declares none by that name. */
const struct config_listener *config_listener_find(const struct node_config *cfg,
						   const char *name);

#endif
