/* test_respq.c: responses leave in request order whatever order slots complete in. */
#include "broker/respq.h"
#include "common/errors.h"
#include "test/unit/harness.h"

static struct respq q;
static int items[RESPQ_CAPACITY + 1];

TEST(in_order_completion_pops_each)
{
	respq_init(&q);
	uint64_t s0, s1;
	CHECK_OK(respq_push(&q, &items[0], &s0));
	CHECK_OK(respq_push(&q, &items[1], &s1));
	CHECK(respq_pop_done(&q) == NULL);
	respq_mark_done(&q, s0);
	CHECK(respq_pop_done(&q) == &items[0]);
	CHECK(respq_pop_done(&q) == NULL);
	respq_mark_done(&q, s1);
	CHECK(respq_pop_done(&q) == &items[1]);
	CHECK_EQ_INT(respq_count(&q), 0);
}

TEST(later_completion_waits_for_earlier)
{
	respq_init(&q);
	uint64_t seq[3];
	for (int i = 0; i < 3; i++)
		CHECK_OK(respq_push(&q, &items[i], &seq[i]));
	respq_mark_done(&q, seq[2]);
	respq_mark_done(&q, seq[1]);
	CHECK(respq_pop_done(&q) == NULL); /* the first is still a long poll */
	respq_mark_done(&q, seq[0]);
	CHECK(respq_pop_done(&q) == &items[0]);
	CHECK(respq_pop_done(&q) == &items[1]);
	CHECK(respq_pop_done(&q) == &items[2]);
	CHECK(respq_pop_done(&q) == NULL);
}

TEST(full_ring_refuses_then_wraps)
{
	respq_init(&q);
	uint64_t seq;
	/* Go round the ring several times to exercise wrap-around. */
	for (int round = 0; round < 3; round++) {
		for (unsigned i = 0; i < RESPQ_CAPACITY; i++)
			CHECK_OK(respq_push(&q, &items[i], &seq));
		CHECK_EQ_INT(respq_push(&q, &items[RESPQ_CAPACITY], &seq), RN_E_FULL);
		CHECK_EQ_INT(respq_count(&q), RESPQ_CAPACITY);
		/* Complete in reverse order; nothing leaves until the head does. */
		for (unsigned i = RESPQ_CAPACITY; i-- > 1;) {
			respq_mark_done(&q, q.head + i);
			CHECK(respq_pop_done(&q) == NULL);
		}
		respq_mark_done(&q, q.head);
		for (unsigned i = 0; i < RESPQ_CAPACITY; i++)
			CHECK(respq_pop_done(&q) == &items[i]);
		CHECK_EQ_INT(respq_count(&q), 0);
	}
}

TEST(pop_any_drains_pending_for_close)
{
	respq_init(&q);
	uint64_t seq;
	CHECK_OK(respq_push(&q, &items[0], &seq));
	CHECK_OK(respq_push(&q, &items[1], &seq));
	respq_mark_done(&q, seq);
	CHECK(respq_pop_any(&q) == &items[0]);
	CHECK(respq_pop_any(&q) == &items[1]);
	CHECK(respq_pop_any(&q) == NULL);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
