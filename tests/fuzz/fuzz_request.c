/* fuzz_request.c - request JSON bodies as the routes parse them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../routes/routes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const allowed[] = { "name", "labels", "pin", "confirm_token", "only",
                                           "clear_kill_switch", "dry_run", NULL };
    struct route_req r;
    struct route_resp o;
    json_t *doc = NULL;
    char *body = malloc(size + 1);

    if (body == NULL)
        return 0;
    memcpy(body, data, size);
    body[size] = '\0';
    memset(&r, 0, sizeof(r));
    r.body = body;
    r.body_len = size;
    r.method = "POST";
    r.path = "/api/v1/snapshots";
    route_resp_init(&o);
    if (route_body_object(&r, allowed, &doc, &o) == 0) {
        route_check_labels(json_object_get(doc, "labels"), &o);
        json_decref(doc);
    } else if (o.status != 400 && o.status != 500) {
        abort();
    }
    route_resp_clear(&o);
    free(body);
    return 0;
}
