/* test_producer.c: the producer while its leader is unreachable: waits that sleep, signals that end them. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clients/runnel.h"
#include "common/clock.h"
#include "common/errors.h"
#include "test/unit/harness.h"
#include "wire/frame.h"
#include "wire/runnel.pb-c.h"

/*
 * A metadata-only node: one thread answers Metadata requests on its port,
 * naming node 1 at leader_port as the leader of every partition of topic
 * "t".  The test decides what listens at leader_port: nothing (connections
 * are refused, as when the leader's process is gone) or a socket that never
 * accepts (as when it is stopped).  The producer then has batches due that
 * it cannot send, which is where it used to spin.
 */
#define META_MAX_CONNS 8
#define META_BUF 65536
#define META_PARTITIONS 4

struct meta_conn {
	int fd;
	uint8_t buf[META_BUF];
	size_t len;
};

struct meta_node {
	int listen_fd;
	int port;
	int leader_port;
	struct meta_conn conns[META_MAX_CONNS];
	size_t nconns;
	/* InitProducerId: answered with producer id META_PRODUCER_ID, or
	 * refused as an unknown API (a cluster without idempotence). */
	int init_pid_unsupported;
	volatile int init_pid_requests;
	volatile int stop;
	pthread_t thread;
};

static int listen_any(int *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 8) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

static void answer_metadata(const struct meta_node *m, int fd, int32_t correlation_id)
{
	Runnel__BrokerInfo bi = RUNNEL__BROKER_INFO__INIT;
	Runnel__BrokerInfo *bip[1] = {&bi};
	Runnel__PartitionMetadata pm[META_PARTITIONS];
	Runnel__PartitionMetadata *pmp[META_PARTITIONS];
	Runnel__TopicMetadata tm = RUNNEL__TOPIC_METADATA__INIT;
	Runnel__TopicMetadata *tmp[1] = {&tm};
	Runnel__MetadataResponse md = RUNNEL__METADATA_RESPONSE__INIT;
	Runnel__Response resp = RUNNEL__RESPONSE__INIT;
	int32_t replicas[1] = {1};
	bi.node_id = 1;
	bi.host = (char *)"127.0.0.1";
	bi.port = m->leader_port;
	for (int p = 0; p < META_PARTITIONS; p++) {
		runnel__partition_metadata__init(&pm[p]);
		pm[p].partition = p;
		pm[p].leader = 1;
		pm[p].n_replicas = 1;
		pm[p].replicas = replicas;
		pm[p].n_isr = 1;
		pm[p].isr = replicas;
		pmp[p] = &pm[p];
	}
	tm.name = (char *)"t";
	tm.n_partitions = META_PARTITIONS;
	tm.partitions = pmp;
	md.n_brokers = 1;
	md.brokers = bip;
	md.controller_id = 1;
	md.n_topics = 1;
	md.topics = tmp;
	resp.correlation_id = correlation_id;
	resp.body_case = RUNNEL__RESPONSE__BODY_METADATA;
	resp.metadata = &md;
	uint8_t out[4096];
	size_t n = runnel__response__get_packed_size(&resp);
	if (n + FRAME_PREFIX_BYTES > sizeof(out))
		return;
	frame_put_prefix(out, (uint32_t)n);
	runnel__response__pack(&resp, out + FRAME_PREFIX_BYTES);
	ssize_t w = write(fd, out, n + FRAME_PREFIX_BYTES);
	(void)w;
}

#define META_PRODUCER_ID 77

static void write_response(int fd, Runnel__Response *resp)
{
	uint8_t out[4096];
	size_t n = runnel__response__get_packed_size(resp);
	if (n + FRAME_PREFIX_BYTES > sizeof(out))
		return;
	frame_put_prefix(out, (uint32_t)n);
	runnel__response__pack(resp, out + FRAME_PREFIX_BYTES);
	ssize_t w = write(fd, out, n + FRAME_PREFIX_BYTES);
	(void)w;
}

static void answer_init_pid(struct meta_node *m, int fd, int32_t correlation_id)
{
	Runnel__InitProducerIdResponse ir = RUNNEL__INIT_PRODUCER_ID_RESPONSE__INIT;
	Runnel__Response resp = RUNNEL__RESPONSE__INIT;
	resp.correlation_id = correlation_id;
	m->init_pid_requests++;
	if (m->init_pid_unsupported) {
		resp.error_code = rn_err_to_wire(RN_E_UNSUPPORTED_API);
		resp.error_message = (char *)"unsupported API key 22";
	} else {
		ir.producer_id = META_PRODUCER_ID;
		resp.body_case = RUNNEL__RESPONSE__BODY_INIT_PRODUCER_ID;
		resp.init_producer_id = &ir;
	}
	write_response(fd, &resp);
}

/* Answers every whole Metadata and InitProducerId request in c's buffer. */
static void serve_conn(struct meta_node *m, struct meta_conn *c)
{
	size_t off = 0;
	uint32_t flen = 0;
	while (frame_check(c->buf + off, c->len - off, META_BUF, &flen) == 0) {
		Runnel__Request *req = runnel__request__unpack(NULL, flen, c->buf + off + FRAME_PREFIX_BYTES);
		off += FRAME_PREFIX_BYTES + flen;
		if (!req)
			continue;
		if (req->body_case == RUNNEL__REQUEST__BODY_METADATA)
			answer_metadata(m, c->fd, req->header->correlation_id);
		else if (req->body_case == RUNNEL__REQUEST__BODY_INIT_PRODUCER_ID)
			answer_init_pid(m, c->fd, req->header->correlation_id);
		runnel__request__free_unpacked(req, NULL);
	}
	memmove(c->buf, c->buf + off, c->len - off);
	c->len -= off;
}

static void *meta_main(void *arg)
{
	struct meta_node *m = arg;
	while (!m->stop) {
		struct pollfd pfd[1 + META_MAX_CONNS];
		pfd[0] = (struct pollfd){m->listen_fd, POLLIN, 0};
		for (size_t i = 0; i < m->nconns; i++)
			pfd[1 + i] = (struct pollfd){m->conns[i].fd, POLLIN, 0};
		if (poll(pfd, 1 + m->nconns, 50) <= 0)
			continue;
		if ((pfd[0].revents & POLLIN) && m->nconns < META_MAX_CONNS) {
			int fd = accept(m->listen_fd, NULL, NULL);
			if (fd >= 0)
				m->conns[m->nconns++] = (struct meta_conn){.fd = fd};
		}
		for (size_t i = 0; i < m->nconns; i++) {
			struct meta_conn *c = &m->conns[i];
			if (c->fd < 0 || !(pfd[1 + i].revents & (POLLIN | POLLHUP)))
				continue;
			ssize_t r = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
			if (r <= 0) {
				close(c->fd);
				c->fd = -1;
				continue;
			}
			c->len += (size_t)r;
			serve_conn(m, c);
		}
	}
	for (size_t i = 0; i < m->nconns; i++)
		if (m->conns[i].fd >= 0)
			close(m->conns[i].fd);
	return NULL;
}

static int meta_start(struct meta_node *m, int leader_port)
{
	memset(m, 0, sizeof(*m));
	m->leader_port = leader_port;
	m->listen_fd = listen_any(&m->port);
	if (m->listen_fd < 0)
		return -1;
	return pthread_create(&m->thread, NULL, meta_main, m);
}

static void meta_stop(struct meta_node *m)
{
	m->stop = 1;
	pthread_join(m->thread, NULL);
	close(m->listen_fd);
}

/* A port where nothing listens: connections to it are refused. */
static int closed_port(void)
{
	int port = 0;
	int fd = listen_any(&port);
	if (fd < 0)
		return -1;
	close(fd);
	return port;
}

/* ------------------------------------------------------------ settings */

TEST(compression_settings_by_kafka_name)
{
	struct runnel_producer_config cfg;
	runnel_producer *p = NULL;
	runnel_producer_config_init(&cfg);
	CHECK_EQ_INT(cfg.compression_type, RUNNEL_COMPRESSION_NONE);
	CHECK_OK(runnel_producer_config_set(&cfg, "compression.type", "zstd"));
	CHECK_EQ_INT(cfg.compression_type, RUNNEL_COMPRESSION_ZSTD);
	CHECK_OK(runnel_producer_config_set(&cfg, "compression.level", "19"));
	CHECK_EQ_INT(cfg.compression_level, 19);
	CHECK_OK(runnel_producer_new(&cfg, &p));
	runnel_producer_free(p);
	/* A level zstd has but lz4 does not. */
	CHECK_OK(runnel_producer_config_set(&cfg, "compression.type", "lz4"));
	CHECK_EQ_INT(runnel_producer_new(&cfg, &p), RN_E_INVAL);
	/* Without a codec the level means nothing. */
	CHECK_OK(runnel_producer_config_set(&cfg, "compression.type", "none"));
	CHECK_OK(runnel_producer_new(&cfg, &p));
	runnel_producer_free(p);
	CHECK_EQ_INT(runnel_producer_config_set(&cfg, "compression.type", "gzip"),
		     RN_E_UNSUPPORTED_COMPRESSION_TYPE);
	CHECK_EQ_INT(runnel_producer_config_set(&cfg, "compression.type", "snappy"),
		     RN_E_UNSUPPORTED_COMPRESSION_TYPE);
	CHECK_EQ_INT(runnel_producer_config_set(&cfg, "compression.type", "brotli"), RN_E_INVAL);
	CHECK_EQ_INT(runnel_producer_config_set(&cfg, "compression.level", "-2"), RN_E_INVAL);
	CHECK_EQ_INT(runnel_producer_config_set(&cfg, "compresion.type", "lz4"), RN_E_NOT_FOUND);
	CHECK_EQ_INT(cfg.compression_type, RUNNEL_COMPRESSION_NONE);
	/* A codec number set directly is checked too. */
	cfg.compression_type = 1;
	CHECK_EQ_INT(runnel_producer_new(&cfg, &p), RN_E_UNSUPPORTED_COMPRESSION_TYPE);
	/* The other Kafka names. */
	runnel_producer_config_init(&cfg);
	CHECK_OK(runnel_producer_config_set(&cfg, "acks", "all"));
	CHECK_EQ_INT(cfg.acks, -1);
	CHECK_OK(runnel_producer_config_set(&cfg, "acks", "0"));
	CHECK_EQ_INT(cfg.acks, 0);
	CHECK_EQ_INT(runnel_producer_config_set(&cfg, "acks", "2"), RN_E_INVAL);
	CHECK_OK(runnel_producer_config_set(&cfg, "linger.ms", "20"));
	CHECK_EQ_INT(cfg.linger_ms, 20);
	CHECK_OK(runnel_producer_config_set(&cfg, "buffer.memory", "8589934592"));
	CHECK_EQ_INT(cfg.buffer_memory, 8589934592LL);
	CHECK_OK(runnel_producer_config_set(&cfg, "max.request.size", "2000000"));
	CHECK_EQ_INT(cfg.message_max_bytes, 2000000);
	CHECK_EQ_INT(runnel_producer_config_set(&cfg, "batch.size", "x"), RN_E_INVAL);
	CHECK_OK(runnel_producer_config_set(&cfg, "client.id", "me"));
	CHECK_EQ_STR(cfg.client.client_id, "me");
}

TEST(idempotence_settings_follow_kafka_rules)
{
	struct runnel_producer_config cfg;
	runnel_producer *p = NULL;
	char msg[256];
	runnel_producer_config_init(&cfg);
	CHECK_EQ_INT(cfg.enable_idempotence, RUNNEL_IDEMPOTENCE_DEFAULT);
	CHECK_OK(runnel_producer_new(&cfg, &p));
	CHECK_EQ_INT(runnel_producer_idempotent(p, NULL), 1);
	runnel_producer_free(p);
	/* acks 1 without enable.idempotence turns it off silently. */
	CHECK_OK(runnel_producer_config_set(&cfg, "acks", "1"));
	CHECK_OK(runnel_producer_new(&cfg, &p));
	CHECK_EQ_INT(runnel_producer_idempotent(p, NULL), 0);
	runnel_producer_free(p);
	/* Asked for with acks 1: refused, naming both settings. */
	CHECK_OK(runnel_producer_config_set(&cfg, "enable.idempotence", "true"));
	CHECK_EQ_INT(cfg.enable_idempotence, 1);
	CHECK_EQ_INT(runnel_producer_new(&cfg, &p), RN_E_INVAL);
	CHECK_EQ_INT(runnel_producer_config_check(&cfg, msg, sizeof(msg)), RN_E_INVAL);
	CHECK(strstr(msg, "enable.idempotence") && strstr(msg, "acks"));
	CHECK_OK(runnel_producer_config_set(&cfg, "acks", "0"));
	CHECK_EQ_INT(runnel_producer_new(&cfg, &p), RN_E_INVAL);
	CHECK_OK(runnel_producer_config_set(&cfg, "acks", "all"));
	CHECK_OK(runnel_producer_config_check(&cfg, msg, sizeof(msg)));
	CHECK_EQ_STR(msg, "");
	/* retries 0 and more than 5 in flight conflict the same way. */
	CHECK_OK(runnel_producer_config_set(&cfg, "retries", "0"));
	CHECK_EQ_INT(runnel_producer_config_check(&cfg, msg, sizeof(msg)), RN_E_INVAL);
	CHECK(strstr(msg, "retries") != NULL);
	CHECK_OK(runnel_producer_config_set(&cfg, "retries", "3"));
	CHECK_OK(runnel_producer_config_set(&cfg, "max.in.flight.requests.per.connection", "6"));
	CHECK_EQ_INT(runnel_producer_config_check(&cfg, msg, sizeof(msg)), RN_E_INVAL);
	CHECK(strstr(msg, "max.in.flight.requests.per.connection") != NULL);
	CHECK_OK(runnel_producer_config_set(&cfg, "max.in.flight.requests.per.connection", "5"));
	CHECK_OK(runnel_producer_new(&cfg, &p));
	CHECK_EQ_INT(runnel_producer_idempotent(p, NULL), 1);
	runnel_producer_free(p);
	/* By default, 6 in flight only turns idempotence off. */
	CHECK_OK(runnel_producer_config_set(&cfg, "max.in.flight.requests.per.connection", "6"));
	cfg.enable_idempotence = RUNNEL_IDEMPOTENCE_DEFAULT;
	CHECK_OK(runnel_producer_new(&cfg, &p));
	CHECK_EQ_INT(runnel_producer_idempotent(p, NULL), 0);
	runnel_producer_free(p);
	CHECK_OK(runnel_producer_config_set(&cfg, "max.in.flight.requests.per.connection", "5"));
	CHECK_OK(runnel_producer_config_set(&cfg, "enable.idempotence", "false"));
	CHECK_OK(runnel_producer_new(&cfg, &p));
	CHECK_EQ_INT(runnel_producer_idempotent(p, NULL), 0);
	runnel_producer_free(p);
	CHECK_EQ_INT(runnel_producer_config_set(&cfg, "enable.idempotence", "yes"), RN_E_INVAL);
	CHECK_EQ_INT(cfg.enable_idempotence, 0);
}

/* ------------------------------------------------------------ measuring */

/* CPU time (user and system) the calling thread has used, in ms. */
static int64_t thread_cpu_ms(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_THREAD, &ru) != 0)
		return 0;
	return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

/* How long a wait runs in these tests, and the CPU it may use at most: a
 * tenth of it.  A producer that spins uses nearly all of it. */
#define WAIT_MS 2000
#define MAX_CPU_MS (WAIT_MS / 10)

static runnel_producer *new_producer(const struct meta_node *m, size_t buffer_memory,
				     int32_t delivery_timeout_ms)
{
	struct runnel_producer_config cfg;
	runnel_producer *p = NULL;
	char bootstrap[64];
	snprintf(bootstrap, sizeof(bootstrap), "127.0.0.1:%d", m->port);
	runnel_producer_config_init(&cfg);
	cfg.client.bootstrap = bootstrap;
	cfg.batch_size = 1024;
	cfg.buffer_memory = buffer_memory;
	cfg.delivery_timeout_ms = delivery_timeout_ms;
	if (runnel_producer_new(&cfg, &p) != 0)
		return NULL;
	return p;
}

static int delivered_errors;

static void count_delivery(void *opaque, int err, int32_t partition, int64_t offset)
{
	(void)opaque;
	(void)partition;
	(void)offset;
	if (err != 0)
		delivered_errors++;
}

/* Sends n records of value_len bytes (at least 16) spread over every
 * partition. */
static int send_some(runnel_producer *p, int n, size_t value_len)
{
	char value[1024];
	if (value_len > sizeof(value))
		return RN_E_INVAL;
	for (int i = 0; i < n; i++) {
		memset(value, 'v', value_len);
		snprintf(value, 16, "record %d", i);
		int rc = runnel_producer_send(p, "t", i % META_PARTITIONS, NULL, -1, value,
					      (int32_t)value_len, NULL, 0, -1, count_delivery, NULL);
		if (rc != 0) {
			fprintf(stderr, "  send %d: %s\n", i, runnel_producer_errmsg(p));
			return rc;
		}
	}
	return 0;
}

/* A value that fills more than half of a 1024-byte batch, so that a batch
 * holding one keeps its whole buffer and two never share one: four such
 * records (one per partition) use up 4 KiB of buffer memory. */
#define LARGE_VALUE 600

/* Polls for WAIT_MS and returns the CPU time that took. */
static int64_t poll_cpu_ms(runnel_producer *p)
{
	int64_t cpu = thread_cpu_ms();
	int64_t end = rn_mono_ms() + WAIT_MS;
	while (rn_mono_ms() < end)
		runnel_producer_poll(p, 100);
	return thread_cpu_ms() - cpu;
}

static void check_poll_sleeps(int leader_port)
{
	static struct meta_node m;
	CHECK(leader_port > 0);
	CHECK(meta_start(&m, leader_port) == 0);
	runnel_producer *p = new_producer(&m, RUNNEL_DEFAULT_BUFFER_MEMORY, 60000);
	CHECK(p != NULL);
	int rc = send_some(p, 40, 16);
	int64_t cpu = rc == 0 ? poll_cpu_ms(p) : -1;
	size_t outstanding = runnel_producer_outstanding(p);
	runnel_producer_free(p);
	meta_stop(&m);
	CHECK_OK(rc);
	fprintf(stderr, "  %d ms of polling used %lld ms of CPU\n", WAIT_MS, (long long)cpu);
	CHECK(cpu >= 0 && cpu < MAX_CPU_MS);
	/* Nothing was delivered: the records are still waiting, not failed. */
	CHECK_EQ_INT(outstanding, 40);
}

TEST(poll_sleeps_while_the_leader_refuses_connections)
{
	check_poll_sleeps(closed_port());
}

TEST(poll_sleeps_while_the_leader_never_answers)
{
	int port = 0;
	/* Listens but never accepts: requests are queued and never answered,
	 * and the connection's in-flight slots run out. */
	int silent = listen_any(&port);
	check_poll_sleeps(port);
	close(silent);
}

TEST(flush_sleeps_until_its_timeout)
{
	static struct meta_node m;
	CHECK(meta_start(&m, closed_port()) == 0);
	runnel_producer *p = new_producer(&m, RUNNEL_DEFAULT_BUFFER_MEMORY, 60000);
	CHECK(p != NULL);
	int rc = send_some(p, 20, 16);
	int64_t cpu = thread_cpu_ms(), start = rn_mono_ms();
	int frc = rc == 0 ? runnel_producer_flush(p, WAIT_MS) : rc;
	int64_t elapsed = rn_mono_ms() - start;
	cpu = thread_cpu_ms() - cpu;
	runnel_producer_free(p);
	meta_stop(&m);
	CHECK_OK(rc);
	fprintf(stderr, "  flush: %lld ms, %lld ms of CPU\n", (long long)elapsed, (long long)cpu);
	CHECK_EQ_INT(frc, RN_E_TIMEOUT);
	CHECK(elapsed >= WAIT_MS - 50);
	CHECK(cpu < MAX_CPU_MS);
}

TEST(full_buffer_wait_sleeps)
{
	static struct meta_node m;
	CHECK(meta_start(&m, closed_port()) == 0);
	/* Room for four batches of one large record each; a fifth waits for
	 * memory until the delivery timeout expires the first ones. */
	runnel_producer *p = new_producer(&m, 4 * 1024, WAIT_MS);
	CHECK(p != NULL);
	delivered_errors = 0;
	int rc = send_some(p, META_PARTITIONS, LARGE_VALUE);
	int64_t cpu = thread_cpu_ms(), start = rn_mono_ms();
	static char big[LARGE_VALUE];
	int src = rc == 0 ? runnel_producer_send(p, "t", 0, NULL, -1, big, sizeof(big), NULL, 0, -1,
						 count_delivery, NULL)
			  : rc;
	int64_t elapsed = rn_mono_ms() - start;
	cpu = thread_cpu_ms() - cpu;
	runnel_producer_free(p);
	meta_stop(&m);
	CHECK_OK(rc);
	fprintf(stderr, "  send waited %lld ms using %lld ms of CPU: %s\n", (long long)elapsed,
		(long long)cpu, rn_errname(src));
	/* Memory came back when the first batches expired; the record went in. */
	CHECK_OK(src);
	CHECK(elapsed >= WAIT_MS / 2);
	CHECK(cpu < MAX_CPU_MS);
}

/* ------------------------------------------------------------ signals */

/* Sends SIGUSR1 to a thread every SIGNAL_EVERY_MS from SIGNAL_FIRST_MS on
 * until told to stop, as an operator's kill would (repeated, so that one
 * landing between two waits cannot make the test flaky). */
#define SIGNAL_FIRST_MS 300
#define SIGNAL_EVERY_MS 200

struct signaller {
	pthread_t target;
	pthread_t thread;
	volatile int stop;
	volatile int sent;
};

static volatile sig_atomic_t g_signals;

static void on_signal(int sig)
{
	(void)sig;
	g_signals++;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

static void *signaller_main(void *arg)
{
	struct signaller *s = arg;
	sleep_ms(SIGNAL_FIRST_MS);
	while (!s->stop) {
		pthread_kill(s->target, SIGUSR1);
		s->sent++;
		sleep_ms(SIGNAL_EVERY_MS);
	}
	return NULL;
}

static void signaller_start(struct signaller *s)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART, as a program that wants its waits cut short sets it. */
	sigaction(SIGUSR1, &sa, NULL);
	g_signals = 0;
	s->target = pthread_self();
	s->stop = 0;
	s->sent = 0;
	pthread_create(&s->thread, NULL, signaller_main, s);
}

static void signaller_stop(struct signaller *s)
{
	s->stop = 1;
	pthread_join(s->thread, NULL);
	signal(SIGUSR1, SIG_IGN);
}

/* A wait that a signal must cut short: far longer than the test may run. */
#define LONG_WAIT_MS 60000
/* How soon after the first signal the wait must have ended. */
#define SIGNAL_NOTICED_MS 3000

TEST(signal_ends_the_full_buffer_wait)
{
	static struct meta_node m;
	struct signaller s;
	CHECK(meta_start(&m, closed_port()) == 0);
	runnel_producer *p = new_producer(&m, 4 * 1024, LONG_WAIT_MS);
	CHECK(p != NULL);
	int rc = send_some(p, META_PARTITIONS, LARGE_VALUE);
	int64_t start = rn_mono_ms();
	signaller_start(&s);
	static char big[LARGE_VALUE];
	int src = rc == 0 ? runnel_producer_send(p, "t", 0, NULL, -1, big, sizeof(big), NULL, 0, -1,
						 NULL, NULL)
			  : rc;
	int64_t elapsed = rn_mono_ms() - start;
	signaller_stop(&s);
	size_t outstanding = runnel_producer_outstanding(p);
	runnel_producer_free(p);
	meta_stop(&m);
	CHECK_OK(rc);
	fprintf(stderr, "  send returned %s after %lld ms (%d signals)\n", rn_errname(src),
		(long long)elapsed, s.sent);
	CHECK_EQ_INT(src, RN_E_AGAIN);
	CHECK(elapsed < SIGNAL_FIRST_MS + SIGNAL_NOTICED_MS);
	CHECK(g_signals >= 1);
	/* The record that was refused was not queued. */
	CHECK_EQ_INT(outstanding, META_PARTITIONS);
}

TEST(signal_ends_flush)
{
	static struct meta_node m;
	struct signaller s;
	CHECK(meta_start(&m, closed_port()) == 0);
	runnel_producer *p = new_producer(&m, RUNNEL_DEFAULT_BUFFER_MEMORY, LONG_WAIT_MS);
	CHECK(p != NULL);
	int rc = send_some(p, 10, 16);
	int64_t start = rn_mono_ms();
	signaller_start(&s);
	int frc = rc == 0 ? runnel_producer_flush(p, LONG_WAIT_MS) : rc;
	int64_t elapsed = rn_mono_ms() - start;
	signaller_stop(&s);
	runnel_producer_free(p);
	meta_stop(&m);
	CHECK_OK(rc);
	fprintf(stderr, "  flush returned %s after %lld ms\n", rn_errname(frc), (long long)elapsed);
	CHECK_EQ_INT(frc, RN_E_AGAIN);
	CHECK(elapsed < SIGNAL_FIRST_MS + SIGNAL_NOTICED_MS);
}

TEST(signal_ends_poll_early)
{
	static struct meta_node m;
	struct signaller s;
	CHECK(meta_start(&m, closed_port()) == 0);
	runnel_producer *p = new_producer(&m, RUNNEL_DEFAULT_BUFFER_MEMORY, LONG_WAIT_MS);
	CHECK(p != NULL);
	int rc = send_some(p, 10, 16);
	int64_t start = rn_mono_ms();
	signaller_start(&s);
	int called = rc == 0 ? runnel_producer_poll(p, LONG_WAIT_MS) : rc;
	int64_t elapsed = rn_mono_ms() - start;
	signaller_stop(&s);
	runnel_producer_free(p);
	meta_stop(&m);
	CHECK_OK(rc);
	CHECK_EQ_INT(called, 0);
	CHECK(elapsed < SIGNAL_FIRST_MS + SIGNAL_NOTICED_MS);
}

/* ------------------------------------------------------------ producer id */

/* Polls p until done(p) or ms pass.  Returns done(p). */
static int poll_until_true(runnel_producer *p, int (*done)(runnel_producer *), int ms)
{
	int64_t end = rn_mono_ms() + ms;
	while (!done(p) && rn_mono_ms() < end)
		runnel_producer_poll(p, 50);
	return done(p);
}

static int has_id(runnel_producer *p)
{
	int64_t id = -1;
	return runnel_producer_idempotent(p, &id) && id >= 0;
}

static int not_idempotent(runnel_producer *p)
{
	return !runnel_producer_idempotent(p, NULL);
}

static int four_failed(runnel_producer *p)
{
	(void)p;
	return delivered_errors >= 4;
}

TEST(the_producer_id_is_fetched_after_send_returns)
{
	static struct meta_node m;
	CHECK(meta_start(&m, closed_port()) == 0);
	runnel_producer *p = new_producer(&m, RUNNEL_DEFAULT_BUFFER_MEMORY, 60000);
	CHECK(p != NULL);
	int64_t id = 0;
	CHECK_OK(send_some(p, 4, 16));
	/* send only queues: the id is asked for from poll. */
	CHECK(runnel_producer_idempotent(p, &id) == 1 && id == -1);
	int got = poll_until_true(p, has_id, 3000);
	runnel_producer_idempotent(p, &id);
	int requests = m.init_pid_requests;
	runnel_producer_free(p);
	meta_stop(&m);
	CHECK(got);
	CHECK_EQ_INT(id, META_PRODUCER_ID);
	CHECK_EQ_INT(requests, 1);
}

TEST(default_idempotence_is_dropped_when_the_cluster_lacks_it)
{
	static struct meta_node m;
	CHECK(meta_start(&m, closed_port()) == 0);
	m.init_pid_unsupported = 1;
	runnel_producer *p = new_producer(&m, RUNNEL_DEFAULT_BUFFER_MEMORY, 60000);
	CHECK(p != NULL);
	CHECK_OK(send_some(p, 4, 16));
	int dropped = poll_until_true(p, not_idempotent, 3000);
	int warned = strstr(runnel_producer_errmsg(p), "WARN") != NULL;
	fprintf(stderr, "  %s\n", runnel_producer_errmsg(p));
	/* The records still wait for their (unreachable) leader. */
	size_t outstanding = runnel_producer_outstanding(p);
	runnel_producer_free(p);
	meta_stop(&m);
	CHECK(dropped && warned);
	CHECK_EQ_INT(outstanding, 4);
}

TEST(requested_idempotence_fails_the_records_when_the_cluster_lacks_it)
{
	static struct meta_node m;
	CHECK(meta_start(&m, closed_port()) == 0);
	m.init_pid_unsupported = 1;
	struct runnel_producer_config cfg;
	runnel_producer *p = NULL;
	char bootstrap[64];
	snprintf(bootstrap, sizeof(bootstrap), "127.0.0.1:%d", m.port);
	runnel_producer_config_init(&cfg);
	cfg.client.bootstrap = bootstrap;
	cfg.enable_idempotence = 1;
	CHECK_OK(runnel_producer_new(&cfg, &p));
	delivered_errors = 0;
	CHECK_OK(send_some(p, 4, 16));
	int failed = poll_until_true(p, four_failed, 3000);
	int rc = runnel_producer_send(p, "t", 0, NULL, -1, "x", 1, NULL, 0, -1, NULL, NULL);
	int named = strstr(runnel_producer_errmsg(p), "enable.idempotence=true") != NULL;
	runnel_producer_free(p);
	meta_stop(&m);
	CHECK(failed);
	CHECK_EQ_INT(rc, RN_E_UNSUPPORTED_API);
	CHECK(named);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
