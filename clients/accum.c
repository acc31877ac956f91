/* accum.c: building producer batches in place and queueing them per partition. */
#include "clients/accum.h"

#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/limits.h"
#include "common/rn_assert.h"

void accum_init(struct accum *a, uint32_t batch_size, int32_t linger_ms, uint32_t message_max_bytes,
		size_t buffer_memory, int32_t delivery_timeout_ms, uint32_t seed)
{
	RN_ASSERT(batch_size > BATCH_HEADER_BYTES);
	memset(a, 0, sizeof(*a));
	a->batch_size = batch_size;
	a->linger_ms = linger_ms;
	a->message_max_bytes = message_max_bytes;
	a->buffer_memory = buffer_memory;
	a->delivery_timeout_ms = delivery_timeout_ms;
	a->seed = seed;
	a->codec = BATCH_COMPRESSION_NONE;
	a->codec_level = BATCH_CODEC_LEVEL_DEFAULT;
	batch_codec_init(&a->codec_ctx);
	a->max_inflight = 1;
	a->producer_id = -1;
	a->producer_epoch = -1;
}

void accum_set_max_inflight(struct accum *a, int max)
{
	RN_ASSERT(max >= 1);
	a->max_inflight = max;
}

void accum_set_idempotence(struct accum *a, int on)
{
	a->idempotent = on ? 1 : 0;
}

int32_t accum_seq_add(int32_t seq, int32_t count)
{
	RN_ASSERT(seq >= 0 && count >= 0);
	int64_t next = (int64_t)seq + count;
	return (int32_t)(next > INT32_MAX ? next - INT32_MAX - 1 : next);
}

/* Rewrites the producer fields of a closed batch (its header is never
 * compressed) and the CRC that covers them. */
static void stamp_closed(struct accum_batch *b, int64_t producer_id, int16_t epoch, int32_t seq)
{
	RN_ASSERT(b->closed && !b->inflight && b->len >= BATCH_HEADER_BYTES);
	be_put64(b->buf + BATCH_OFF_PRODUCER_ID, (uint64_t)producer_id);
	be_put16(b->buf + BATCH_OFF_PRODUCER_EPOCH, (uint16_t)epoch);
	be_put32(b->buf + BATCH_OFF_BASE_SEQUENCE, (uint32_t)seq);
	be_put32(b->buf + BATCH_OFF_CRC,
		 crc32c(b->buf + BATCH_CRC_START, b->len - BATCH_CRC_START));
	b->producer_id = producer_id;
	b->producer_epoch = epoch;
	b->base_sequence = seq;
}

void accum_set_producer(struct accum *a, int64_t producer_id, int16_t producer_epoch)
{
	a->producer_id = producer_id;
	a->producer_epoch = producer_id >= 0 ? producer_epoch : -1;
	if (producer_id < 0)
		return;
	RN_ASSERT(a->inflight == 0);
	for (size_t i = 0; i < a->topic_count; i++) {
		struct accum_topic *t = a->topics[i];
		for (int32_t p = 0; p < t->partition_count; p++) {
			struct accum_partition *ap = &t->parts[p];
			ap->next_sequence = 0;
			for (struct accum_batch *b = ap->head; b; b = b->next) {
				stamp_closed(b, producer_id, producer_epoch, ap->next_sequence);
				ap->next_sequence = accum_seq_add(ap->next_sequence, b->count);
			}
		}
	}
}

void accum_set_compression(struct accum *a, int codec, int level)
{
	RN_ASSERT(batch_codec_supported(codec) && batch_codec_level_valid(codec, level));
	a->codec = codec;
	a->codec_level = level;
}

void accum_batch_free(struct accum_batch *b)
{
	if (!b)
		return;
	free(b->buf);
	free(b->meta);
	free(b);
}

static void free_chain(struct accum_batch *b)
{
	while (b) {
		struct accum_batch *next = b->next;
		accum_batch_free(b);
		b = next;
	}
}

/* Keeps a completed batch's buffer for the next batch when it has the
 * standard size and the budget allows; frees it otherwise. */
static void pool_put(struct accum *a, uint8_t *buf, size_t cap)
{
	if (!buf)
		return;
	if (cap != a->batch_size || a->memory_used + a->pool_bytes + cap > a->buffer_memory) {
		free(buf);
		return;
	}
	memcpy(buf, &a->free_bufs, sizeof(a->free_bufs));
	a->free_bufs = buf;
	a->pool_bytes += cap;
}

/* A buffer of cap bytes: a pooled one when cap is the standard size.  A
 * fresh allocation first gives back pooled buffers that would take the
 * total past buffer_memory. */
static uint8_t *pool_get(struct accum *a, size_t cap)
{
	if (cap != a->batch_size || !a->free_bufs) {
		while (a->free_bufs && a->memory_used + a->pool_bytes + cap > a->buffer_memory) {
			uint8_t *old = a->free_bufs;
			memcpy(&a->free_bufs, old, sizeof(a->free_bufs));
			a->pool_bytes -= a->batch_size;
			free(old);
		}
		return malloc(cap);
	}
	uint8_t *buf = a->free_bufs;
	memcpy(&a->free_bufs, buf, sizeof(a->free_bufs));
	a->pool_bytes -= cap;
	return buf;
}

void accum_batch_release(struct accum *a, struct accum_batch *b)
{
	if (!b)
		return;
	if (a->free_batch_count >= ACCUM_MAX_FREE_BATCHES) {
		accum_batch_free(b);
		return;
	}
	RN_ASSERT(b->buf == NULL); /* accum_batch_complete took it */
	b->next = a->free_batches;
	a->free_batches = b;
	a->free_batch_count++;
}

/* A zeroed batch struct, reusing a released one (and its meta array). */
static struct accum_batch *batch_struct_get(struct accum *a)
{
	struct accum_batch *b = a->free_batches;
	if (!b)
		return calloc(1, sizeof(*b));
	a->free_batches = b->next;
	a->free_batch_count--;
	struct accum_record_meta *meta = b->meta;
	size_t meta_cap = b->meta_cap;
	memset(b, 0, sizeof(*b));
	b->meta = meta;
	b->meta_cap = meta_cap;
	return b;
}

void accum_destroy(struct accum *a)
{
	while (a->free_bufs) {
		uint8_t *buf = a->free_bufs;
		memcpy(&a->free_bufs, buf, sizeof(a->free_bufs));
		free(buf);
	}
	while (a->free_batches) {
		struct accum_batch *b = a->free_batches;
		a->free_batches = b->next;
		accum_batch_free(b);
	}
	for (size_t i = 0; i < a->topic_count; i++) {
		struct accum_topic *t = a->topics[i];
		for (int32_t p = 0; p < t->partition_count; p++) {
			accum_batch_free(t->parts[p].open);
			free_chain(t->parts[p].head);
		}
		free(t->parts);
		free(t->name);
		free(t);
	}
	free(a->topics);
	free(a->zbuf);
	batch_codec_destroy(&a->codec_ctx);
	memset(a, 0, sizeof(*a));
}

struct accum_topic *accum_topic_find(const struct accum *a, const char *name)
{
	for (size_t i = 0; i < a->topic_count; i++)
		if (strcmp(a->topics[i]->name, name) == 0)
			return a->topics[i];
	return NULL;
}

static int grow_partitions(struct accum_topic *t, int32_t count)
{
	if (count <= t->partition_count)
		return 0;
	struct accum_partition *np = realloc(t->parts, (size_t)count * sizeof(*np));
	if (!np)
		return RN_E_NOMEM;
	memset(np + t->partition_count, 0, (size_t)(count - t->partition_count) * sizeof(*np));
	t->parts = np;
	t->partition_count = count;
	return 0;
}

struct accum_topic *accum_topic_get(struct accum *a, const char *name, int32_t partition_count)
{
	struct accum_topic *t = accum_topic_find(a, name);
	if (t)
		return grow_partitions(t, partition_count) == 0 ? t : NULL;
	struct accum_topic **nt = realloc(a->topics, (a->topic_count + 1) * sizeof(*nt));
	if (!nt)
		return NULL;
	a->topics = nt;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->name = strdup(name);
	if (!t->name || grow_partitions(t, partition_count) != 0) {
		free(t->name);
		free(t);
		return NULL;
	}
	partitioner_sticky_init(&t->sticky, a->seed + (uint32_t)a->topic_count * 2654435761u);
	a->topics[a->topic_count++] = t;
	return t;
}

int32_t accum_choose_partition(struct accum_topic *t, const void *key, int32_t key_len)
{
	if (key && key_len >= 0)
		return partitioner_key_partition(key, (size_t)key_len, t->partition_count);
	return partitioner_sticky_partition(&t->sticky, t->partition_count);
}

/*
 * Makes src[0..len) (the batch's own bytes, or its compressed form) the
 * closed batch's bytes.  When they fill at most half of the batch's buffer
 * they move into a buffer of their own size, and the large one goes back
 * to the pool for the next open batch.  A batch closed by linger often
 * holds one small record; kept in its batch_size buffer, a few hundred of
 * them would use up buffer_memory while a leader is unreachable.  Charged
 * by what it holds, the buffer fills only with real records.  When the
 * small buffer cannot be had the batch keeps its own: still correct, only
 * charged more.
 */
static void place_closed(struct accum *a, struct accum_batch *b, const uint8_t *src, size_t len)
{
	RN_ASSERT(len <= b->cap);
	uint8_t *small = len <= b->cap / 2 ? malloc(len) : NULL;
	if (small) {
		memcpy(small, src, len);
		RN_ASSERT(a->memory_used >= b->cap);
		a->memory_used -= b->cap - len;
		pool_put(a, b->buf, b->cap);
		b->buf = small;
		b->cap = len;
	} else if (src != b->buf) {
		memcpy(b->buf, src, len);
	}
	b->len = len;
}

/* Compresses a finished batch into the accumulator's buffer and returns it
 * there (*len set), or NULL to send the batch as it is: no codec, no
 * memory, or a compressed form no smaller. */
static const uint8_t *compress_closed(struct accum *a, const struct accum_batch *b, size_t *len)
{
	if (a->codec == BATCH_COMPRESSION_NONE)
		return NULL;
	size_t need = batch_compress_bound(a->codec, b->len);
	if (a->zbuf_cap < need) {
		free(a->zbuf);
		a->zbuf_cap = 0;
		if (!(a->zbuf = malloc(need)))
			return NULL;
		a->zbuf_cap = need;
	}
	if (batch_compress(&a->codec_ctx, a->codec, a->codec_level, b->buf, b->len, a->zbuf,
			   a->zbuf_cap, len) != 0 ||
	    *len >= b->len)
		return NULL;
	return a->zbuf;
}

/* Gives back a compression buffer made larger than a batch_size batch
 * needs: batches of one large record are rare, and it would stay. */
static void trim_zbuf(struct accum *a)
{
	if (a->zbuf && a->zbuf_cap > batch_compress_bound(a->codec, a->batch_size)) {
		free(a->zbuf);
		a->zbuf = NULL;
		a->zbuf_cap = 0;
	}
}

static void close_open(struct accum *a, struct accum_topic *t, int32_t partition)
{
	struct accum_partition *ap = &t->parts[partition];
	struct accum_batch *b = ap->open;
	if (!b)
		return;
	/* The CRC covers the producer fields, so they are known now or the
	 * batch is stamped later (accum_set_producer) before it is sent. */
	if (a->idempotent && a->producer_id >= 0) {
		b->producer_id = a->producer_id;
		b->producer_epoch = a->producer_epoch;
		b->base_sequence = ap->next_sequence;
		ap->next_sequence = accum_seq_add(ap->next_sequence, b->count);
	}
	b->len = batch_builder_finish(&b->builder, b->producer_id, b->producer_epoch,
				      b->base_sequence);
	b->closed = 1;
	size_t zlen = 0;
	const uint8_t *z = compress_closed(a, b, &zlen);
	place_closed(a, b, z ? z : b->buf, z ? zlen : b->len);
	trim_zbuf(a);
	ap->open = NULL;
	if (ap->tail)
		ap->tail->next = b;
	else
		ap->head = b;
	ap->tail = b;
	partitioner_sticky_batch_closed(&t->sticky, partition, t->partition_count);
}

static int new_batch(struct accum *a, struct accum_topic *t, int32_t partition, size_t need,
		     int64_t now_ms, struct accum_batch **out)
{
	size_t cap = need > a->batch_size ? need : a->batch_size;
	/* A lone batch is always let through, so a buffer_memory smaller than
	 * one record can never wedge the producer. */
	if (a->memory_used > 0 && a->memory_used + cap > a->buffer_memory)
		return RN_E_FULL;
	struct accum_batch *b = batch_struct_get(a);
	if (!b)
		return RN_E_NOMEM;
	b->buf = pool_get(a, cap);
	if (!b->buf) {
		accum_batch_release(a, b);
		return RN_E_NOMEM;
	}
	b->cap = cap;
	b->topic = t->name;
	b->partition = partition;
	b->created_ms = now_ms;
	b->deadline_ms = now_ms + a->delivery_timeout_ms;
	b->base_offset = -1;
	b->producer_id = -1;
	b->producer_epoch = -1;
	b->base_sequence = -1;
	batch_builder_init(&b->builder, b->buf, cap);
	a->memory_used += cap;
	*out = b;
	return 0;
}

static int push_meta(struct accum_batch *b, runnel_delivery_cb cb, void *opaque)
{
	if ((size_t)b->count == b->meta_cap) {
		size_t ncap = b->meta_cap ? b->meta_cap * 2 : 64;
		struct accum_record_meta *nm = realloc(b->meta, ncap * sizeof(*nm));
		if (!nm)
			return RN_E_NOMEM;
		b->meta = nm;
		b->meta_cap = ncap;
	}
	b->meta[b->count].cb = cb;
	b->meta[b->count].opaque = opaque;
	return 0;
}

/* Converts the public headers to the batch builder's view; Returns 0 or
 * RN_E_INVAL. */
static int convert_headers(const struct runnel_header *headers, size_t count,
			   struct record_header_view *out)
{
	for (size_t i = 0; i < count; i++) {
		const struct runnel_header *h = &headers[i];
		if (h->key_len < 0 || (h->key_len > 0 && !h->key) || h->value_len < -1 ||
		    (h->value_len > 0 && !h->value))
			return RN_E_INVAL;
		out[i].key = (const uint8_t *)h->key;
		out[i].key_len = h->key_len;
		out[i].value = h->value_len >= 0 ? h->value : NULL;
		out[i].value_len = h->value_len;
	}
	return 0;
}

static int add_to(struct accum_batch *b, int64_t timestamp, const void *key, int32_t key_len,
		  const void *value, int32_t value_len, const struct record_header_view *hv,
		  size_t header_count, runnel_delivery_cb cb, void *opaque)
{
	int rc = push_meta(b, cb, opaque);
	if (rc != 0)
		return rc;
	rc = batch_builder_add(&b->builder, timestamp, key_len >= 0 ? key : NULL, key_len,
			       value_len >= 0 ? value : NULL, value_len, hv, (uint32_t)header_count);
	if (rc == 0)
		b->count++;
	return rc;
}

int accum_append(struct accum *a, struct accum_topic *t, int32_t partition, int64_t timestamp,
		 const void *key, int32_t key_len, const void *value, int32_t value_len,
		 const struct runnel_header *headers, size_t header_count, runnel_delivery_cb cb,
		 void *opaque, int64_t now_ms)
{
	struct record_header_view hv[RN_MAX_HEADERS_PER_RECORD];
	if (partition < 0 || partition >= t->partition_count || key_len < -1 || value_len < -1 ||
	    (key_len > 0 && !key) || (value_len > 0 && !value) || header_count > RN_ARRAY_LEN(hv) ||
	    (header_count > 0 && !headers))
		return RN_E_INVAL;
	int rc = convert_headers(headers, header_count, hv);
	if (rc != 0)
		return rc;
	struct accum_partition *ap = &t->parts[partition];
	if (ap->open) {
		rc = add_to(ap->open, timestamp, key, key_len, value, value_len, hv, header_count, cb,
			    opaque);
		if (rc != RN_E_FULL)
			goto appended;
		close_open(a, t, partition);
	}
	/* A fresh batch holds the record at offset and time delta 0, so its
	 * exact size is known before allocating. */
	size_t need = BATCH_HEADER_BYTES + batch_record_size(0, 0, key_len, value_len,
							     (uint32_t)header_count, hv);
	if (need > a->message_max_bytes)
		return RN_E_MESSAGE_TOO_LARGE;
	struct accum_batch *b = NULL;
	rc = new_batch(a, t, partition, need, now_ms, &b);
	if (rc != 0)
		return rc;
	ap->open = b;
	rc = add_to(b, timestamp, key, key_len, value, value_len, hv, header_count, cb, opaque);
	RN_ASSERT(rc != RN_E_FULL);
appended:
	if (rc == 0)
		a->records++;
	return rc;
}

/*
 * True when a lingered open batch of ap may close: every queued batch is in
 * flight and another may join them.  While a batch waits in the queue (or
 * the partition is at its in-flight limit, or draining), the open batch
 * keeps filling: closing it now would only queue a small batch behind the
 * others, one round trip late.  It closes when full, on flush, or when it
 * could go.
 */
static int may_close_lingered(const struct accum *a, const struct accum_partition *ap)
{
	if (ap->draining || ap->inflight >= a->max_inflight)
		return 0;
	const struct accum_batch *b = ap->head;
	while (b && b->inflight)
		b = b->next;
	return b == NULL;
}

void accum_close_ready(struct accum *a, int64_t now_ms, int flush)
{
	for (size_t i = 0; i < a->topic_count; i++) {
		struct accum_topic *t = a->topics[i];
		for (int32_t p = 0; p < t->partition_count; p++) {
			struct accum_partition *ap = &t->parts[p];
			struct accum_batch *b = ap->open;
			if (!b || b->count == 0)
				continue;
			if (flush ||
			    (now_ms >= b->created_ms + a->linger_ms && may_close_lingered(a, ap)))
				close_open(a, t, p);
		}
	}
}

size_t accum_sendable_list(const struct accum *a, const struct accum_partition *ap,
			   int64_t now_ms, struct accum_batch **out, size_t max)
{
	if (ap->draining || ap->inflight >= a->max_inflight)
		return 0;
	if (a->idempotent && a->producer_id < 0)
		return 0;
	size_t room = (size_t)(a->max_inflight - ap->inflight), n = 0;
	struct accum_batch *b = ap->head;
	/* The batches in flight are the oldest of the queue: retries wait
	 * until none is (draining), so none is behind a batch not sent. */
	while (b && b->inflight)
		b = b->next;
	for (; b && n < room && n < max; b = b->next) {
		if (now_ms < b->retry_at_ms)
			break;
		RN_ASSERT(!b->inflight);
		RN_ASSERT(!a->idempotent || b->producer_id == a->producer_id ||
			  b->producer_id < 0);
		/* Closed unstamped while idempotence was on and no id known:
		 * it goes after the stamping of accum_set_producer. */
		if (a->idempotent && b->producer_id != a->producer_id)
			break;
		out[n++] = b;
	}
	return n;
}

struct accum_batch *accum_sendable(const struct accum *a, const struct accum_partition *ap,
				   int64_t now_ms)
{
	struct accum_batch *b = NULL;
	return accum_sendable_list(a, ap, now_ms, &b, 1) == 1 ? b : NULL;
}

void accum_batch_sent(struct accum *a, struct accum_batch *b, int32_t node)
{
	struct accum_partition *ap = accum_partition_of(a, b);
	RN_ASSERT(b->closed && !b->inflight && ap->inflight < a->max_inflight);
	RN_ASSERT(ap->inflight == 0 || ap->node == node);
	b->inflight = 1;
	ap->inflight++;
	ap->node = node;
	a->inflight++;
}

int accum_batch_has_earlier(struct accum *a, const struct accum_batch *b)
{
	return accum_partition_of(a, b)->head != b;
}

/* Takes b out of flight; the partition stops draining once nothing of it
 * is in flight. */
static void landed(struct accum *a, struct accum_partition *ap, struct accum_batch *b)
{
	if (!b->inflight)
		return;
	RN_ASSERT(ap->inflight > 0 && a->inflight > 0);
	b->inflight = 0;
	ap->inflight--;
	a->inflight--;
	if (ap->inflight == 0)
		ap->draining = 0;
}

struct accum_partition *accum_partition_of(struct accum *a, const struct accum_batch *b)
{
	struct accum_topic *t = accum_topic_find(a, b->topic);
	RN_ASSERT(t && b->partition < t->partition_count);
	return &t->parts[b->partition];
}

struct accum_batch *accum_batch_complete(struct accum *a, struct accum_batch *b, int err,
					 int64_t base_offset)
{
	struct accum_partition *ap = accum_partition_of(a, b);
	landed(a, ap, b);
	/* Answers come in order on one connection, so b is the head but for
	 * a batch that was refused before the ones ahead of it were answered. */
	struct accum_batch **link = &ap->head, *prev = NULL;
	while (*link != b) {
		RN_ASSERT(*link);
		prev = *link;
		link = &(*link)->next;
	}
	*link = b->next;
	if (ap->tail == b)
		ap->tail = prev;
	b->next = NULL;
	b->err = err;
	b->base_offset = base_offset;
	RN_ASSERT(a->memory_used >= b->cap && a->records >= (size_t)b->count);
	a->memory_used -= b->cap;
	a->records -= (size_t)b->count;
	/* The bytes are no longer needed; only the callbacks are. */
	pool_put(a, b->buf, b->cap);
	b->buf = NULL;
	return b;
}

void accum_batch_retry(struct accum *a, struct accum_batch *b, int64_t retry_at_ms)
{
	struct accum_partition *ap = accum_partition_of(a, b);
	RN_ASSERT(b->inflight);
	/* Batches behind b that are still in flight reach the leader after a
	 * gap: nothing new goes until they are back, then all go in order. */
	if (ap->inflight > 1)
		ap->draining = 1;
	landed(a, ap, b);
	b->attempts++;
	b->retry_at_ms = retry_at_ms;
}

int64_t accum_next_due(const struct accum *a, int64_t after_ms)
{
	int64_t due = INT64_MAX;
	for (size_t i = 0; i < a->topic_count; i++) {
		const struct accum_topic *t = a->topics[i];
		for (int32_t p = 0; p < t->partition_count; p++) {
			const struct accum_partition *ap = &t->parts[p];
			if (ap->open && ap->open->count > 0 && may_close_lingered(a, ap) &&
			    ap->open->created_ms + a->linger_ms < due)
				due = ap->open->created_ms + a->linger_ms;
			/* The first batch not in flight is the next to go. */
			const struct accum_batch *b = ap->head;
			while (b && b->inflight)
				b = b->next;
			if (b && !ap->draining && b->retry_at_ms > after_ms && b->retry_at_ms < due)
				due = b->retry_at_ms;
		}
	}
	return due;
}

int accum_empty(const struct accum *a)
{
	return a->records == 0;
}
