/* healthcheck.c - the healthcheck command: a libcurl client for a running
 * server's /readyz (the container's HEALTHCHECK). */
#include "cmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

static size_t discard(void *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

int cli_cmd_healthcheck(struct cli_ctx *c)
{
    char url[512];
    const char *max_age = cli_opt(c, "max-age"), *timeout = cli_opt(c, "timeout");
    long status = 0, secs = 5;
    CURL *h;
    CURLcode cr;
    char *end;

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
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    cr = curl_easy_perform(h);
    if (cr == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    if (cr != CURLE_OK) {
        fprintf(stderr, "statesnap: healthcheck %s: %s\n", url, curl_easy_strerror(cr));
        return 1;
    }
    if (status != 200) {
        fprintf(stderr, "statesnap: healthcheck %s: HTTP %ld\n", url, status);
        return 1;
    }
    if (!c->json)
        printf("OK %s\n", url);
    return 0;
}

