/* healthcheck.c - the healthcheck command: a libcurl client for a running
 * server's /readyz (the container's HEALTHCHECK). */
#include "cmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "format.h"

#define HEALTH_BODY_MAX 65536  /* the readyz document is a few hundred bytes */

struct body {
    char buf[HEALTH_BODY_MAX];
    size_t len;
};

/* Keep the first HEALTH_BODY_MAX bytes of the answer, drop the rest. */
static size_t keep(void *p, size_t size, size_t n, void *ud)
{
    struct body *b = ud;
    size_t len = size * n, room = sizeof(b->buf) - b->len;

    memcpy(b->buf + b->len, p, len < room ? len : room);
    b->len += len < room ? len : room;
    return len;
}

/* With --json, the result document whether ready or not: the URL, ready,
 * the HTTP status (null when nothing answered), the transport error (null
 * when something answered) and the server's own readyz document when it
 * sent JSON. */
static void print_result(struct cli_ctx *c, const char *url, long status, const char *error,
                         const struct body *b)
{
    json_t *doc, *answer = NULL;

    if (b->len > 0 && b->len < sizeof(b->buf))
        answer = json_loadb(b->buf, b->len, 0, NULL);
    doc = json_pack("{s:s, s:b, s:o, s:o, s:o}", "url", url, "ready", error == NULL && status == 200,
                    "http_status", status > 0 ? json_integer(status) : json_null(),
                    "error", error ? json_string(error) : json_null(),
                    "response", answer ? answer : json_null());
    if (doc != NULL)
        (void)cli_print_json(c, doc);
    json_decref(doc);
}

int cli_cmd_healthcheck(struct cli_ctx *c)
{
    char url[512];
    const char *max_age = cli_opt(c, "max-age"), *timeout = cli_opt(c, "timeout");
    long status = 0, secs = 5;
    CURL *h;
    CURLcode cr;
    char *end, error[160];
    static struct body b;

    if (c->args.positional != NULL)
        return cli_usage_error(c, "healthcheck: unexpected argument \"%s\"", c->args.positional);
    if (timeout != NULL) {
        errno = 0;
        secs = strtol(timeout, &end, 10);
        if (end == timeout || *end != '\0' || errno != 0 || secs < 1 || secs > 300)
            return cli_usage_error(c, "healthcheck: --timeout must be 1-300 seconds, got \"%s\"", timeout);
    }
    if (max_age != NULL) {
        errno = 0;
        long v = strtol(max_age, &end, 10);
        if (end == max_age || *end != '\0' || errno != 0 || v < 0)
            return cli_usage_error(c, "healthcheck: bad --max-age \"%s\"", max_age);
    }
    if (cli_opt(c, "url") != NULL) {
        if (snprintf(url, sizeof(url), "%s", cli_opt(c, "url")) >= (int)sizeof(url))
            return cli_usage_error(c, "healthcheck: --url too long%s", "");
    } else {
        const char *listen = c->cfg->listen ? c->cfg->listen : "127.0.0.1:8080";
        /* A wildcard listen address is probed on loopback. */
        if (strncmp(listen, "0.0.0.0:", 8) == 0)
            listen += 7;
        int n = snprintf(url, sizeof(url), "%s://%s%s/readyz%s%s",
                         c->cfg->tls_cert ? "https" : "http", listen[0] == ':' ? "127.0.0.1" : "",
                         listen, max_age ? "?max_age=" : "", max_age ? max_age : "");
        if (n < 0 || (size_t)n >= sizeof(url))
            return cli_usage_error(c, "healthcheck: listen address too long%s", "");
    }
    if ((h = curl_easy_init()) == NULL)
        return 1;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, secs);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    cr = curl_easy_perform(h);
    if (cr == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    if (cr != CURLE_OK)
        (void)snprintf(error, sizeof(error), "%s", curl_easy_strerror(cr));
    else if (status != 200)
        (void)snprintf(error, sizeof(error), "HTTP %ld", status);
    if (c->json)
        print_result(c, url, status, cr != CURLE_OK || status != 200 ? error : NULL, &b);
    /* Not ready is the answer healthcheck exists to give: exit 1, not "retry". */
    if (cr != CURLE_OK || status != 200) {
        fprintf(stderr, "statesnap: healthcheck ");
        format_safe(stderr, url);
        fprintf(stderr, ": %s\n", error);
        return CLI_EXIT_FAILED;
    }
    if (!c->json) {
        printf("OK ");
        format_safe(stdout, url);
        putchar('\n');
    }
    return 0;
}

