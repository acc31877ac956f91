/* fetcher.h: the follower side of replication: fetching the leader's log for the partitions this node follows. */
#ifndef RUNNEL_BROKER_FETCHER_H
#define RUNNEL_BROKER_FETCHER_H

/*
 * A follower replicates by fetching, as Kafka's replica fetcher does: one
 * fetch session per leader node, over its own connection (broker/peer.h)
 * to the address the leader registered, carrying every partition this node
 * follows there.  Each fetch is a FetchRequest with replica_id set to this
 * node's id, each partition at the follower's log end offset with the
 * leader epoch it knows (current_leader_epoch) and the epoch of its last
 * batch (last_fetched_epoch).  The leader parks the fetch until it has
 * data or replica.fetch.wait.max.ms passes, so an idle partition costs one
 * round trip per wait.
 *
 * For each partition in the answer, the fetcher:
 *   - appends the batches as they are (offsets and epochs from the leader),
 *     after checking their structure and CRC;
 *   - takes the leader's high watermark, capped at its own log end;
 *   - on diverging_epoch, truncates the divergent suffix of its log
 *     (replica_follower_truncation_offset) and fetches again from there;
 *   - on a partition error (not leader, fenced or unknown epoch), leaves
 *     the partition out of fetches for NODE_REPLICA_FETCH_BACKOFF_MS or
 *     until the metadata changes its leader.
 * An answer for a partition whose leader, epoch or log end changed while
 * the fetch was out is ignored.  A failed connection is retried with the
 * peer's backoff.
 */

struct node;
struct fetcher;
struct partition;

/* Creates the fetcher (no session yet).  Returns 0 or RN_E_NOMEM. */
int fetcher_new(struct node *n, struct fetcher **out);

/* Stops every session (fetches in flight are forgotten) and frees.  NULL is
 * fine. */
void fetcher_free(struct fetcher *f);

/*
 * p (whose log is open) follows p->leader from now on: it joins that
 * leader's session (leaving another one), and fetches soon.  Called again
 * after any metadata change of p; a partition already in the right session
 * only loses its error backoff.  Takes a reference on p while it is in a
 * session.  f may be NULL (no fetcher: nothing happens).
 */
void fetcher_follow(struct fetcher *f, struct partition *p);

/* p stops following (it leads now, has no leader, or goes away).  No-op
 * when it follows nothing; f may be NULL. */
void fetcher_unfollow(struct fetcher *f, struct partition *p);

#endif
