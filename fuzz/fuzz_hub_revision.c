/* fuzz_hub_revision.c - libFuzzer target: arbitrary bytes as the hub's revision API answer (commit and file list,
 * every file name checked before it could become a path), and as hub ids and file names. Whatever is accepted
 * must be a safe relative path and a 40-hex commit. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hub/hub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rr_hub_listing l;
    rerank_error err;
    if (rr_hub_parse_revision("org/name", "main", (const char *)data, size, &l, &err) == RERANK_OK) {
        if (!rr_hub_is_commit(l.commit)) __builtin_trap();
        for (size_t i = 0; i < l.n_files; i++)
            if (!rr_hub_safe_relpath(l.files[i].name, strlen(l.files[i].name), NULL) || strchr(l.files[i].name, '/'))
                __builtin_trap();
        rr_hub_listing_free(&l);
    }
    /* the same bytes as a hub id and as a name */
    char text[512];
    size_t n = size < sizeof text - 1 ? size : sizeof text - 1;
    memcpy(text, data, n);
    text[n] = '\0';
    rr_hub_id id;
    if (rr_hub_parse_id(text, &id) && (!rr_hub_safe_relpath(id.rev, strlen(id.rev), NULL) || id.repo[0] == '/'))
        __builtin_trap();
    const char *why;
    if (rr_hub_safe_relpath((const char *)data, size, &why) && (memchr(data, 0, size) || (size && data[0] == '/')))
        __builtin_trap();
    return 0;
}
