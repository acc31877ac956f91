/* test_cli.c: the CLI's format strings and option parsing (-o forms, --acks, KEY=VALUE). */
#include <stdlib.h>
#include <string.h>

#include "clients/cli.h"
#include "clients/client.h"
#include "common/errors.h"
#include "test/unit/harness.h"

/* Renders rec with fmt into a NUL-terminated string the caller frees. */
static char *render(const char *fmt, const struct runnel_record *rec)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	cli_format_render(fmt, rec, f);
	fclose(f);
	return out;
}

static const struct runnel_header sample_headers[] = {
	{"a", 1, "1", 1},
	{"b", 1, "", 0},
	{"c", 1, NULL, -1},
};

static struct runnel_record sample(void)
{
	struct runnel_record r = {
		.topic = "orders",
		.partition = 3,
		.offset = 1234567890123LL,
		.timestamp = 1700000000123LL,
		.key = "user-7",
		.key_len = 6,
		.value = "hello world",
		.value_len = 11,
		.headers = sample_headers,
		.header_count = 3,
	};
	return r;
}

#define CHECK_RENDER(fmt, rec, expected)              \
	do {                                          \
		char *got_ = render((fmt), (rec));    \
		int same_ = strcmp(got_, (expected)) == 0; \
		if (!same_)                           \
			fprintf(stderr, "  got \"%s\"\n", got_); \
		free(got_);                           \
		CHECK(same_);                         \
	} while (0)

TEST(format_tokens)
{
	struct runnel_record r = sample();
	CHECK_RENDER("%s\\n", &r, "hello world\n");
	CHECK_RENDER("%t/%p@%o", &r, "orders/3@1234567890123");
	CHECK_RENDER("%k=%s", &r, "user-7=hello world");
	CHECK_RENDER("%T", &r, "1700000000123");
	CHECK_RENDER("%h", &r, "a=1,b=,c");
	CHECK_RENDER("100%% %k\\t%s\\r\\\\", &r, "100% user-7\thello world\r\\");
	CHECK_RENDER("plain text", &r, "plain text");
}

TEST(format_null_and_empty)
{
	struct runnel_record r = sample();
	r.key = NULL;
	r.key_len = -1;
	r.value = "";
	r.value_len = 0;
	r.header_count = 0;
	r.headers = NULL;
	CHECK_RENDER("[%k][%s][%h]", &r, "[][][]");
	r.value = NULL;
	r.value_len = -1;
	CHECK_RENDER("[%s]\\n", &r, "[]\n");
}

TEST(format_value_with_nul_bytes)
{
	struct runnel_record r = sample();
	char *out = NULL;
	size_t len = 0;
	r.value = "a\0b";
	r.value_len = 3;
	FILE *f = open_memstream(&out, &len);
	cli_format_render("%s", &r, f);
	fclose(f);
	CHECK_EQ_INT(len, 3);
	CHECK(memcmp(out, "a\0b", 3) == 0);
	free(out);
}

TEST(format_check)
{
	size_t bad = 0;
	CHECK_OK(cli_format_check("%t %p %o %k %s %T %h %%\\n\\t\\r\\\\", &bad));
	CHECK_EQ_INT(cli_format_check("%s %x", &bad), RN_E_INVAL);
	CHECK_EQ_INT(bad, 3);
	CHECK_EQ_INT(cli_format_check("%", &bad), RN_E_INVAL);
	CHECK_EQ_INT(cli_format_check("abc\\", &bad), RN_E_INVAL);
	CHECK_EQ_INT(bad, 3);
	CHECK_EQ_INT(cli_format_check("\\q", &bad), RN_E_INVAL);
}

TEST(offset_forms)
{
	struct runnel_position p;
	CHECK_OK(cli_parse_offset("beginning", &p));
	CHECK_EQ_INT(p.kind, RUNNEL_POS_BEGINNING);
	CHECK_OK(cli_parse_offset("end", &p));
	CHECK_EQ_INT(p.kind, RUNNEL_POS_END);
	CHECK_OK(cli_parse_offset("0", &p));
	CHECK(p.kind == RUNNEL_POS_OFFSET && p.value == 0);
	CHECK_OK(cli_parse_offset("9000000000", &p));
	CHECK(p.kind == RUNNEL_POS_OFFSET && p.value == 9000000000LL);
	CHECK_OK(cli_parse_offset("-10", &p));
	CHECK(p.kind == RUNNEL_POS_FROM_END && p.value == 10);
	CHECK_OK(cli_parse_offset("@1700000000000", &p));
	CHECK(p.kind == RUNNEL_POS_TIMESTAMP && p.value == 1700000000000LL);
}

TEST(offset_forms_refused)
{
	struct runnel_position p;
	const char *bad[] = {"", "start", "12x", "--5", "@", "@-5", "@abc", "-", "- 5", "1.5",
			     "99999999999999999999", "Beginning", "+5"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (cli_parse_offset(bad[i], &p) != RN_E_INVAL)
			fprintf(stderr, "  accepted \"%s\"\n", bad[i]);
		CHECK_EQ_INT(cli_parse_offset(bad[i], &p), RN_E_INVAL);
	}
}

TEST(acks_and_numbers)
{
	int32_t acks = 5;
	int64_t v = 0;
	CHECK_OK(cli_parse_acks("all", &acks));
	CHECK_EQ_INT(acks, -1);
	CHECK_OK(cli_parse_acks("-1", &acks));
	CHECK_EQ_INT(acks, -1);
	CHECK_OK(cli_parse_acks("0", &acks));
	CHECK_EQ_INT(acks, 0);
	CHECK_OK(cli_parse_acks("1", &acks));
	CHECK_EQ_INT(acks, 1);
	CHECK_EQ_INT(cli_parse_acks("2", &acks), RN_E_INVAL);
	CHECK_EQ_INT(cli_parse_acks("ALL", &acks), RN_E_INVAL);
	CHECK_OK(cli_parse_int64("42", 1, 100, &v));
	CHECK_EQ_INT(v, 42);
	CHECK_EQ_INT(cli_parse_int64("0", 1, 100, &v), RN_E_INVAL);
	CHECK_EQ_INT(cli_parse_int64("101", 1, 100, &v), RN_E_INVAL);
	CHECK_EQ_INT(cli_parse_int64(" 5", 1, 100, &v), RN_E_INVAL);
}

TEST(key_value_split)
{
	size_t klen = 0;
	const char *value = NULL;
	CHECK_OK(cli_split_kv("retention.ms=1000", &klen, &value));
	CHECK_EQ_INT(klen, 12);
	CHECK_EQ_STR(value, "1000");
	CHECK_OK(cli_split_kv("k=a=b", &klen, &value));
	CHECK_EQ_INT(klen, 1);
	CHECK_EQ_STR(value, "a=b");
	CHECK_OK(cli_split_kv("k=", &klen, &value));
	CHECK_EQ_STR(value, "");
	CHECK_EQ_INT(cli_split_kv("=v", &klen, &value), RN_E_INVAL);
	CHECK_EQ_INT(cli_split_kv("novalue", &klen, &value), RN_E_INVAL);
}

TEST(bootstrap_lists)
{
	struct client_address a[4];
	CHECK_EQ_INT(client_parse_bootstrap("127.0.0.1:9092", a, 4), 1);
	CHECK_EQ_STR(a[0].host, "127.0.0.1");
	CHECK_EQ_INT(a[0].port, 9092);
	CHECK_EQ_INT(client_parse_bootstrap("h1:1,h2:2, h3:65535", a, 4), 3);
	CHECK_EQ_STR(a[2].host, "h3");
	CHECK_EQ_INT(a[2].port, 65535);
	CHECK_EQ_INT(client_parse_bootstrap("[::1]:9093", a, 4), 1);
	CHECK_EQ_STR(a[0].host, "::1");
	CHECK_EQ_INT(a[0].port, 9093);
	const char *bad[] = {"", "host", "host:", ":9092", "h:0", "h:65536", "h:12a", "h:1,,h:2",
			     "a:1,b:2,c:3,d:4,e:5"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ_INT(client_parse_bootstrap(bad[i], a, 4), RN_E_INVAL);
}

TEST(json_strings)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	cli_json_string(f, "a\"b\\c\nd\x01", 8);
	fclose(f);
	CHECK_EQ_STR(out, "\"a\\\"b\\\\c\\nd\\u0001\"");
	free(out);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
