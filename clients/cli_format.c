/* cli_format.c: kcat-style output format strings for consumed records. */
#include "clients/cli.h"

#include <string.h>

#include "common/errors.h"

int cli_format_check(const char *fmt, size_t *bad_pos)
{
	for (size_t i = 0; fmt[i]; i++) {
		if (fmt[i] == '%') {
			if (!fmt[i + 1] || !strchr("tpokTsh%", fmt[i + 1])) {
				*bad_pos = i;
				return RN_E_INVAL;
			}
			i++;
		} else if (fmt[i] == '\\') {
			if (!fmt[i + 1] || !strchr("ntr\\", fmt[i + 1])) {
				*bad_pos = i;
				return RN_E_INVAL;
			}
			i++;
		}
	}
	return 0;
}

static void write_bytes(FILE *out, const void *p, int32_t len)
{
	if (p && len > 0)
		fwrite(p, 1, (size_t)len, out);
}

static void write_headers(FILE *out, const struct runnel_record *rec)
{
	for (size_t i = 0; i < rec->header_count; i++) {
		const struct runnel_header *h = &rec->headers[i];
		if (i > 0)
			fputc(',', out);
		write_bytes(out, h->key, h->key_len);
		/* A null header value prints as the bare key, an empty one as
		 * "key=", so the two stay distinguishable. */
		if (h->value_len >= 0) {
			fputc('=', out);
			write_bytes(out, h->value, h->value_len);
		}
	}
}

static void render_token(char tok, const struct runnel_record *rec, FILE *out)
{
	switch (tok) {
	case 't':
		fputs(rec->topic, out);
		break;
	case 'p':
		fprintf(out, "%d", rec->partition);
		break;
	case 'o':
		fprintf(out, "%lld", (long long)rec->offset);
		break;
	case 'T':
		fprintf(out, "%lld", (long long)rec->timestamp);
		break;
	case 'k':
		write_bytes(out, rec->key, rec->key_len);
		break;
	case 's':
		write_bytes(out, rec->value, rec->value_len);
		break;
	case 'h':
		write_headers(out, rec);
		break;
	default:
		fputc('%', out);
		break;
	}
}

static char escape_char(char c)
{
	switch (c) {
	case 'n':
		return '\n';
	case 't':
		return '\t';
	case 'r':
		return '\r';
	default:
		return c;
	}
}

void cli_format_render(const char *fmt, const struct runnel_record *rec, FILE *out)
{
	for (size_t i = 0; fmt[i]; i++) {
		if (fmt[i] == '%' && fmt[i + 1]) {
			render_token(fmt[++i], rec, out);
		} else if (fmt[i] == '\\' && fmt[i + 1]) {
			fputc(escape_char(fmt[++i]), out);
		} else {
			fputc(fmt[i], out);
		}
	}
}
