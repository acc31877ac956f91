/* errors.h: the one table of Runnel error codes and their messages. */
#ifndef RUNNEL_COMMON_ERRORS_H
#define RUNNEL_COMMON_ERRORS_H

/*
 * Functions return 0 on success or a negative code from this table.  Codes
 * below 1000 are sent on the wire as their positive value (a response's
 * error_code field) and keep the number Kafka gives the same condition, so
 * that operators who know Kafka recognise them.  Codes from 1000 to 1999 are
 * Runnel's own wire codes; codes from 2000 up never leave a process.
 *
 * X(name, value, message) with value positive.
 */
#define RN_ERROR_TABLE(X)                                                                    \
	X(UNKNOWN_SERVER_ERROR, 1000, "unexpected server error")                                  \
	X(OFFSET_OUT_OF_RANGE, 1, "offset out of range")                                          \
	X(CORRUPT_MESSAGE, 2, "corrupt record batch (CRC or structure)")                          \
	X(UNKNOWN_TOPIC_OR_PARTITION, 3, "unknown topic or partition")                            \
	X(INVALID_FETCH_SIZE, 4, "invalid fetch size")                                            \
	X(LEADER_NOT_AVAILABLE, 5, "leader not available")                                        \
	X(NOT_LEADER_OR_FOLLOWER, 6, "this node is not the leader or a follower of the partition") \
	X(REQUEST_TIMED_OUT, 7, "request timed out")                                              \
	X(BROKER_NOT_AVAILABLE, 8, "broker not available")                                        \
	X(MESSAGE_TOO_LARGE, 10, "record batch larger than the maximum allowed")                  \
	X(NETWORK_EXCEPTION, 13, "connection lost")                                               \
	X(COORDINATOR_LOAD_IN_PROGRESS, 14, "coordinator is loading")                             \
	X(COORDINATOR_NOT_AVAILABLE, 15, "coordinator not available")                             \
	X(NOT_COORDINATOR, 16, "not the coordinator")                                             \
	X(INVALID_TOPIC, 17, "invalid topic name")                                                \
	X(RECORD_LIST_TOO_LARGE, 18, "too many records in one batch")                             \
	X(NOT_ENOUGH_REPLICAS, 19, "not enough in-sync replicas")                                 \
	X(NOT_ENOUGH_REPLICAS_AFTER_APPEND, 20, "in-sync replicas shrank after append")           \
	X(INVALID_REQUIRED_ACKS, 21, "acks must be 0, 1 or -1 (all)")                             \
	X(ILLEGAL_GENERATION, 22, "illegal generation")                                           \
	X(UNKNOWN_MEMBER_ID, 25, "unknown member id")                                             \
	X(INVALID_SESSION_TIMEOUT, 26, "invalid session timeout")                                 \
	X(INCONSISTENT_GROUP_PROTOCOL, 23, "the member's protocols do not match the group's")     \
	X(INVALID_GROUP_ID, 24, "invalid group id")                                               \
	X(REBALANCE_IN_PROGRESS, 27, "rebalance in progress")                                     \
	X(NON_EMPTY_GROUP, 68, "the group has members")                                           \
	X(GROUP_MAX_SIZE_REACHED, 81, "the group has reached its maximum size")                   \
	X(UNSUPPORTED_VERSION, 35, "unsupported API version")                                     \
	X(TOPIC_ALREADY_EXISTS, 36, "topic already exists")                                       \
	X(INVALID_PARTITIONS, 37, "invalid partition count")                                      \
	X(INVALID_REPLICATION_FACTOR, 38, "invalid replication factor")                           \
	X(INVALID_CONFIG, 40, "invalid configuration")                                            \
	X(NOT_CONTROLLER, 41, "this node is not the active controller")                           \
	X(INVALID_REQUEST, 42, "invalid request")                                                 \
	X(OUT_OF_ORDER_SEQUENCE_NUMBER, 45, "out of order sequence number")                       \
	X(DUPLICATE_SEQUENCE_NUMBER, 46, "duplicate sequence number")                             \
	X(INVALID_PRODUCER_EPOCH, 47, "producer epoch older than the producer's latest (fenced)")  \
	X(INVALID_TIMESTAMP, 32, "invalid timestamp")                                             \
	X(GROUP_ID_NOT_FOUND, 69, "group id not found")                                           \
	X(FENCED_LEADER_EPOCH, 74, "leader epoch is older than the current one")                  \
	X(UNSUPPORTED_COMPRESSION_TYPE, 76, "compression codec not supported: gzip and snappy are not, none, lz4 and zstd are") \
	X(UNKNOWN_LEADER_EPOCH, 75, "leader epoch is newer than the current one")                 \
	X(STALE_BROKER_EPOCH, 77, "stale broker epoch")                                           \
	X(OFFSET_NOT_AVAILABLE, 78, "offset not available")                                       \
	X(INVALID_RECORD, 87, "invalid record")                                                   \
	X(KAFKA_STORAGE_ERROR, 56, "storage error: the records may not be durable")              \
	X(PREFERRED_LEADER_NOT_AVAILABLE, 80, "the preferred leader is not available")            \
	X(ELECTION_NOT_NEEDED, 84, "the preferred replica already leads")                         \
	X(INVALID_UPDATE_VERSION, 95, "stale partition epoch")                                    \
	X(INCONSISTENT_CLUSTER_ID, 104, "cluster id does not match")                              \
	X(INELIGIBLE_REPLICA, 107, "replica not eligible for the ISR")                            \
	X(UNSUPPORTED_API, 1001, "unsupported API key")                                           \
	X(FRAME_TOO_LARGE, 1002, "frame larger than the maximum allowed")                         \
	X(MALFORMED_FRAME, 1003, "malformed frame")                                               \
	X(TOO_MANY_REQUESTS, 1004, "too many requests in flight on this connection")              \
	X(SHUTTING_DOWN, 1005, "node is shutting down")                                           \
	X(IO, 2001, "input/output error")                                                         \
	X(NOMEM, 2002, "out of memory")                                                           \
	X(INVAL, 2003, "invalid argument")                                                        \
	X(NOT_FOUND, 2004, "not found")                                                           \
	X(EXISTS, 2005, "already exists")                                                         \
	X(CORRUPT_STATE, 2006, "corrupt on-disk state")                                           \
	X(CLOSED, 2007, "closed")                                                                 \
	X(TIMEOUT, 2008, "timed out")                                                             \
	X(AGAIN, 2009, "try again")                                                               \
	X(CONNECT, 2010, "cannot connect")                                                        \
	X(FULL, 2011, "queue or buffer full")

enum rn_err {
	RN_OK = 0,
#define RN_ERR_ENUM(name, value, msg) RN_E_##name = -(value),
	RN_ERROR_TABLE(RN_ERR_ENUM)
#undef RN_ERR_ENUM
};

/* Returns the message for a negative error code (or for 0). Never NULL. */
const char *rn_strerror(int err);

/* Returns the upper-case name (for example "OFFSET_OUT_OF_RANGE"). Never NULL. */
const char *rn_errname(int err);

/* Converts a negative error code to the positive code a response carries.
 * Codes that never leave a process map to UNKNOWN_SERVER_ERROR. */
int rn_err_to_wire(int err);

/* Converts a wire error code to the negative in-process code. */
int rn_err_from_wire(int code);

/* True for errors a client may retry after refreshing metadata. */
int rn_err_retriable(int err);

/* Maps an errno value to a Runnel code; used only at the I/O boundary. */
int rn_err_from_errno(int errnum);

#endif
