/* sim.h: a deterministic whole-cluster simulator of the Raft core (network, disk and clock). */
#ifndef RUNNEL_TEST_SIM_SIM_H
#define RUNNEL_TEST_SIM_SIM_H

/*
 * One call to sim_run() builds a cluster of 3 or 5 raft nodes (raft/raft.h)
 * inside this process and drives it from a single seeded generator: ticks at
 * a different speed per node, a network that loses, delays, reorders and
 * duplicates messages and can be partitioned (both ways or one way), a disk
 * whose writes become durable only when a simulated fsync completes, crashes
 * that lose everything not yet durable, restarts from the durable state, and
 * random proposals, random log compaction on every node (the simulated state
 * machine's snapshot is its applied sequence), snapshot transfer to nodes
 * that fall behind, and in some runs one or two observers.  After every step (one tick, one delivered message, one
 * completed fsync, one crash, restart or proposal) the checker verifies the
 * safety invariants listed in docs/simulation.md.  The run ends with a quiet
 * phase (faults healed, every node up) in which a leader must be elected and
 * a new proposal applied on every node within SIM_LIVENESS_BOUND_TICKS.
 *
 * The same options give the same run, step for step: nothing depends on the
 * wall clock, addresses or the environment.
 */

#include <stdbool.h>
#include <stdint.h>

/* Cluster sizes the simulator runs (voters). */
#define SIM_MIN_NODES 3u
#define SIM_MAX_NODES 5u
/* Observers (non-voting members that fetch the committed log) some runs
 * add to the voters. */
#define SIM_MAX_OBSERVERS 2u
#define SIM_MAX_MEMBERS (SIM_MAX_NODES + SIM_MAX_OBSERVERS)

/*
 * Liveness bound.  Once the quiet phase starts, a leader is elected and a
 * proposal made through it is applied on every node within this many ticks
 * of the slowest node's clock.  The election timeout is SIM_ELECTION_TICKS
 * (randomized up to twice that), so the bound leaves room for several
 * election rounds, split votes and stale messages still in flight.
 */
#define SIM_LIVENESS_BOUND_TICKS 60u

/* The raft timing used by every node. */
#define SIM_ELECTION_TICKS 6u
#define SIM_HEARTBEAT_TICKS 2u

/* A deliberately broken behaviour the simulator can inject, so that a test
 * can show the checker catches it. */
enum sim_inject {
	SIM_INJECT_NONE = 0,
	/* On a crash the disk also forgets the last write that was synced. */
	SIM_INJECT_FORGET_SYNC,
	/* The shell sends a Ready's messages before its fsync completes. */
	SIM_INJECT_ACK_BEFORE_PERSIST,
	/* On a crash the disk forgets the vote of the durable hard state. */
	SIM_INJECT_FORGET_VOTE,
	/* The shell persists a snapshot from the leader but does not install it
	 * in its state machine. */
	SIM_INJECT_SKIP_INSTALL,
};

struct sim_options {
	uint32_t nodes; /* SIM_MIN_NODES..SIM_MAX_NODES */
	uint64_t seed;
	bool verbose; /* print a step-by-step trace to stderr */
	enum sim_inject inject;
};

struct sim_result {
	bool ok;              /* false: an invariant broke; see reason */
	char reason[256];     /* the broken invariant, when !ok */
	uint64_t steps;       /* steps run (each checked) */
	uint64_t time_units;  /* simulated time at the end of the run */
	uint64_t failed_step; /* the step at which the invariant broke */
	uint32_t liveness_ticks; /* quiet phase: ticks until every node applied */
	uint64_t committed;   /* entries known committed at the end */
	uint32_t crashes, elections, partitions;
	uint32_t compactions;   /* raft_compact calls that compacted */
	uint32_t installs;      /* snapshots installed from a leader (restarts excluded) */
	uint32_t observers;     /* observers in this run */
};

/*
 * Runs one simulation.
 *   opt  the options; opt->nodes out of range is a programming error
 *   res  receives the outcome
 * Returns 0 when every invariant held, -1 when one broke (res->reason says
 * which).  Memory is released before returning in both cases.
 */
int sim_run(const struct sim_options *opt, struct sim_result *res);

/* Parses "none", "forget-sync", "ack-before-persist", "forget-vote" or
 * "skip-install"; returns 0 or -1. */
int sim_inject_parse(const char *name, enum sim_inject *out);
/* The name sim_inject_parse accepts for inject; never NULL. */
const char *sim_inject_name(enum sim_inject inject);

#endif
