/* hub_env.c - the environment variables huggingface_hub reads (endpoint, cache, token, offline, timeouts),
 * with its precedence, and the syntax checks on hub ids and on the file names a hub sends. */
#include <ctype.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "base/file.h"
#include "hub/hub.h"

/* getenv, with "" counting as unset (an empty HF_HOME would otherwise put the cache in the working directory). */
static const char *env(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* os.path.expanduser: a leading "~" or "~/" becomes the home directory. */
static bool expand_user(char *out, size_t cap, const char *path) {
    if (path[0] == '~' && (path[1] == '\0' || path[1] == '/')) {
        const char *home = env("HOME");
        if (!home) {
            struct passwd *pw = getpwuid(getuid());
            home = pw ? pw->pw_dir : NULL;
        }
        if (!home) return false;
        return (size_t)snprintf(out, cap, "%s%s", home, path + 1) < cap;
    }
    return (size_t)snprintf(out, cap, "%s", path) < cap;
}

/* os.path.expandvars after expanduser, as huggingface_hub reads its paths: $NAME and ${NAME} become the variable's
 * value; unknown variables stay as written. */
static bool expand_path(char *out, size_t cap, const char *path) {
    char user[4096];
    if (!expand_user(user, sizeof user, path)) return false;
    size_t n = 0;
    for (const char *p = user; *p;) {
        const char *name = NULL;
        size_t len = 0, skip = 0;
        if (p[0] == '$' && p[1] == '{') {
            const char *close = strchr(p + 2, '}');
            if (close) name = p + 2, len = (size_t)(close - p - 2), skip = len + 3;
        } else if (p[0] == '$' && (isalnum((unsigned char)p[1]) || p[1] == '_')) {
            name = p + 1;
            while (isalnum((unsigned char)name[len]) || name[len] == '_') len++;
            skip = len + 1;
        }
        char var[256];
        const char *val = NULL;
        if (name && len > 0 && len < sizeof var) {
            memcpy(var, name, len);
            var[len] = '\0';
            val = getenv(var);
        }
        const char *piece = val ? val : p;
        size_t pn = val ? strlen(val) : (skip ? skip : 1);
        if (n + pn >= cap) return false;
        memcpy(out + n, piece, pn);
        n += pn;
        p += skip ? skip : 1;
    }
    out[n] = '\0';
    return true;
}

static bool is_true(const char *v) {
    if (!v) return false;
    return !strcasecmp(v, "1") || !strcasecmp(v, "ON") || !strcasecmp(v, "YES") || !strcasecmp(v, "TRUE");
}

static long env_seconds(const char *name, long dflt) {
    const char *v = env(name);
    if (!v) return dflt;
    char *end;
    double s = strtod(v, &end);
    if (end == v || *end || !(s >= 1) || s > 3600) return dflt; /* bounded: a typo must not hang a download */
    return (long)s;
}

/* huggingface_hub's _clean_token: surrounding whitespace and line breaks go; anything else that cannot travel in
 * an HTTP header is refused rather than sent. */
static rerank_status clean_token(const char *raw, const char *from, char *out, size_t cap, rerank_error *err) {
    size_t n = 0;
    for (const char *p = raw; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '\r' || c == '\n') continue;
        if (n + 1 >= cap) return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: the token is too long", from);
        out[n++] = (char)c;
    }
    out[n] = '\0';
    size_t b = 0;
    while (out[b] && isspace((unsigned char)out[b])) b++;
    while (n > b && isspace((unsigned char)out[n - 1])) n--;
    memmove(out, out + b, n - b);
    out[n - b] = '\0';
    for (const char *p = out; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT,
                           "%s: the token holds a character that cannot be sent in an HTTP header", from);
    return RERANK_OK;
}

rerank_status rr_hub_env_read(rr_hub_env *e, rerank_error *err) {
    memset(e, 0, sizeof *e);
    const char *ep = env("HF_ENDPOINT");
    if ((size_t)snprintf(e->endpoint, sizeof e->endpoint, "%s", ep ? ep : "https://huggingface.co") >=
        sizeof e->endpoint)
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "HF_ENDPOINT is too long");
    for (size_t n = strlen(e->endpoint); n > 0 && e->endpoint[n - 1] == '/'; n--) e->endpoint[n - 1] = '\0';
    if (strncmp(e->endpoint, "http://", 7) && strncmp(e->endpoint, "https://", 8))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "HF_ENDPOINT '%s' must start with http:// or https://",
                       e->endpoint);

    /* HF_HOME = $HF_HOME or $XDG_CACHE_HOME/huggingface or ~/.cache/huggingface */
    char home[4096], tmp[4096];
    const char *xdg = env("XDG_CACHE_HOME");
    if (env("HF_HOME")) snprintf(tmp, sizeof tmp, "%s", env("HF_HOME"));
    else snprintf(tmp, sizeof tmp, "%s/huggingface", xdg ? xdg : "~/.cache");
    if (!expand_path(home, sizeof home, tmp))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "cannot find the home directory for the hub cache (set HF_HOME)");
    const char *cache = env("HF_HUB_CACHE") ? env("HF_HUB_CACHE") : env("HUGGINGFACE_HUB_CACHE");
    if (cache) snprintf(tmp, sizeof tmp, "%s", cache);
    else snprintf(tmp, sizeof tmp, "%s/hub", home);
    if (!expand_path(e->cache, sizeof e->cache, tmp) || strlen(e->cache) > 3000)
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "the hub cache path '%s' is too long", tmp);

    const char *tok = env("HF_TOKEN") ? env("HF_TOKEN") : env("HUGGING_FACE_HUB_TOKEN");
    rerank_status st = RERANK_OK;
    if (tok) {
        st = clean_token(tok, env("HF_TOKEN") ? "HF_TOKEN" : "HUGGING_FACE_HUB_TOKEN", e->token, sizeof e->token, err);
    } else {
        char path[4096];
        if (env("HF_TOKEN_PATH")) snprintf(tmp, sizeof tmp, "%s", env("HF_TOKEN_PATH"));
        else snprintf(tmp, sizeof tmp, "%s/token", home);
        if (expand_path(path, sizeof path, tmp) && rr_file_exists(path)) {
            char *text = NULL;
            size_t len;
            rerank_error ferr;
            if (rr_file_read(path, 4096, &text, &len, &ferr) == RERANK_OK) st = clean_token(text, path, e->token, sizeof e->token, err);
            free(text); /* an unreadable token file means anonymous, as in huggingface_hub */
        }
    }
    if (st) return st;
    e->offline = is_true(env("HF_HUB_OFFLINE")) || is_true(env("TRANSFORMERS_OFFLINE"));
    e->etag_timeout_s = env_seconds("HF_HUB_ETAG_TIMEOUT", 10);
    e->download_timeout_s = env_seconds("HF_HUB_DOWNLOAD_TIMEOUT", 10);
    return RERANK_OK;
}

bool rr_hub_is_commit(const char *rev) {
    size_t n = 0;
    for (; rev[n]; n++)
        if (!((rev[n] >= '0' && rev[n] <= '9') || (rev[n] >= 'a' && rev[n] <= 'f'))) return false;
    return n == 40;
}

bool rr_hub_safe_relpath(const char *name, size_t len, const char **why) {
    const char *w = NULL;
    if (len == 0) w = "empty";
    else if (len > 1024) w = "longer than 1024 bytes";
    else if (name[0] == '/') w = "absolute";
    for (size_t i = 0; !w && i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '\0') w = "contains a NUL byte";
        else if (c < 0x20 || c == 0x7f) w = "contains a control character";
        else if (c == '\\') w = "contains a backslash";
    }
    /* components: none empty, "." or ".." */
    for (size_t b = 0; !w && b <= len;) {
        size_t e = b;
        while (e < len && name[e] != '/') e++;
        size_t n = e - b;
        if (n == 0) w = "has an empty path component";
        else if ((n == 1 && name[b] == '.') || (n == 2 && name[b] == '.' && name[b + 1] == '.'))
            w = "has a '.' or '..' component";
        else if (n > 255) w = "has a component longer than 255 bytes";
        b = e + 1;
    }
    if (why) *why = w;
    return w == NULL;
}

/* huggingface_hub's validate_repo_id: [A-Za-z0-9._-], no leading/trailing '-' or '.', no "--" or "..". */
static bool repo_part_ok(const char *s, size_t n) {
    if (n == 0 || n > 96) return false;
    if (s[0] == '-' || s[0] == '.' || s[n - 1] == '-' || s[n - 1] == '.') return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!(isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-')) return false;
        if (i && ((c == '-' && s[i - 1] == '-') || (c == '.' && s[i - 1] == '.'))) return false;
    }
    return true;
}

bool rr_hub_parse_id(const char *text, rr_hub_id *id) {
    memset(id, 0, sizeof *id);
    const char *at = strchr(text, '@');
    size_t rn = at ? (size_t)(at - text) : strlen(text);
    const char *slash = memchr(text, '/', rn);
    if (!slash || !repo_part_ok(text, (size_t)(slash - text)) || !repo_part_ok(slash + 1, rn - (size_t)(slash + 1 - text)))
        return false;
    if (rn >= sizeof id->repo) return false;
    memcpy(id->repo, text, rn);
    const char *rev = at ? at + 1 : "main";
    size_t vn = strlen(rev);
    /* the revision becomes refs/<rev> in the cache: it must be a safe relative path */
    if (vn == 0 || vn >= sizeof id->rev || !rr_hub_safe_relpath(rev, vn, NULL)) return false;
    memcpy(id->rev, rev, vn + 1);
    return true;
}
