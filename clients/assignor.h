/* assignor.h: partition assignors of consumer groups (range, roundrobin, sticky) as pure functions. */
#ifndef RUNNEL_CLIENTS_ASSIGNOR_H
#define RUNNEL_CLIENTS_ASSIGNOR_H

/*
 * The leader member of a group runs one of these after JoinGroup: it knows
 * every member's subscription (and, for sticky, what each member owned in
 * its last generation) and the partition count of every subscribed topic,
 * and it decides which member reads which partition.  Every partition of a
 * subscribed topic goes to exactly one member subscribed to that topic; a
 * topic nobody subscribes to is left alone.  The functions do no I/O and
 * depend on nothing but their input, so every member computing them would
 * get the same answer.
 *
 * Topics are named by their index in the caller's topic array, so the
 * assignors never compare strings except member ids (for a stable order).
 */

#include <stddef.h>
#include <stdint.h>

/* Members and partitions one assignment handles at most (RN_E_INVAL
 * beyond): bounds the quadratic work of the sticky balancing pass. */
#define ASSIGNOR_MAX_MEMBERS 10000u
#define ASSIGNOR_MAX_PARTITIONS 100000u

/* The names an assignor is known by in JoinGroup's protocol list. */
#define ASSIGNOR_RANGE "range"
#define ASSIGNOR_ROUNDROBIN "roundrobin"
#define ASSIGNOR_STICKY "sticky"

/* One partition of topics[topic]. */
struct assignor_tp {
	int32_t topic;
	int32_t partition;
};

struct assignor_topic {
	const char *name;        /* for the caller; the assignors ignore it */
	int32_t partition_count; /* 0 when the topic does not exist (yet) */
};

struct assignor_member {
	const char *member_id;   /* sorted on; must be unique */
	const int32_t *topics;   /* subscribed topic indexes */
	size_t topic_count;
	/* What the member read in generation `generation` (sticky only;
	 * others ignore it).  Partitions of unknown or unsubscribed topics
	 * are ignored; a partition claimed by several members stays with the
	 * one whose generation is the newest, and with none on a tie. */
	const struct assignor_tp *owned;
	size_t owned_count;
	int32_t generation;
};

/* One member's share: parts[0..count) sorted by topic index and
 * partition; parts is malloc'd and owned by the caller. */
struct assignor_assignment {
	struct assignor_tp *parts;
	size_t count;
};

/*
 * Computes an assignment: out[i] receives member i's share (out has
 * member_count entries and is filled only on success).
 *   range       per topic, the subscribed members sorted by id get
 *               consecutive ranges; the first (count % members) get one
 *               more.
 *   roundrobin  all partitions sorted by topic and partition are dealt in
 *               turn to the members (sorted by id), skipping members not
 *               subscribed to the partition's topic.
 *   sticky      keeps every member's valid owned partitions, gives the
 *               rest to the least loaded eligible member, then moves
 *               partitions only while some member holds at least two more
 *               than another member that could take one.
 * Returns 0, RN_E_INVAL (over a limit, a topic index out of range,
 * duplicate member ids), or RN_E_NOMEM.
 */
int assignor_range(const struct assignor_member *members, size_t member_count,
		   const struct assignor_topic *topics, size_t topic_count,
		   struct assignor_assignment *out);
int assignor_roundrobin(const struct assignor_member *members, size_t member_count,
			const struct assignor_topic *topics, size_t topic_count,
			struct assignor_assignment *out);
int assignor_sticky(const struct assignor_member *members, size_t member_count,
		    const struct assignor_topic *topics, size_t topic_count,
		    struct assignor_assignment *out);

typedef int (*assignor_fn)(const struct assignor_member *members, size_t member_count,
			   const struct assignor_topic *topics, size_t topic_count,
			   struct assignor_assignment *out);

/* The assignor called name ("range", "roundrobin", "sticky"), or NULL. */
assignor_fn assignor_find(const char *name);

/* Frees the parts of out[0..n) (not out itself). */
void assignor_free(struct assignor_assignment *out, size_t n);

#endif
