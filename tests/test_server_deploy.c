/* test_server_deploy.c - the deployment files in deploy/ stay true to the CLI: the systemd unit's
 * ExecStart and the Kubernetes container's arguments start a real server (with the test model, on a free
 * loopback port), the probes' paths answer, and the timeouts leave room for the drain. The Kubernetes
 * manifest is parsed with python3-yaml (skipped, saying so, when that is not installed). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "server_client.h"
#include "test.h"

#define MODEL "testdata/xlmr-seqcls-tiny"

/* The value after `opt` in argv, or NULL. */
static const char *opt_value(char **argv, int argc, const char *opt) {
    for (int i = 0; i + 1 < argc; i++)
        if (strcmp(argv[i], opt) == 0) return argv[i + 1];
    return NULL;
}

/* Starts the server with argv's options (after "serve"), except --model/--host/--port, which the test
 * sets, and --drain-delay (checked by test_server_compat.c; here it would only slow the stop down);
 * returns 0 when it became ready and /ready answered 200. */
static int start_with(char **argv, int argc, rr_ts_server *s) {
    const char *args[64];
    int n = 0;
    for (int i = 0; i < argc && n < 62; i++) {
        if (strcmp(argv[i], "--model") == 0 || strcmp(argv[i], "--host") == 0 || strcmp(argv[i], "--port") == 0 ||
            strcmp(argv[i], "--drain-delay") == 0) {
            i++;
            continue;
        }
        args[n++] = argv[i];
    }
    args[n] = NULL;
    if (rr_ts_start(s, rr_shared_path(MODEL), args) != 0) return -1;
    rr_ts_response r;
    int st = rr_ts_request(s->port, "GET", "/ready", NULL, NULL, &r) == 0 ? r.status : -1;
    if (st > 0) rr_ts_response_free(&r);
    return st == 200 ? 0 : -1;
}

TEST(server_deploy_systemd_unit_matches_the_cli) {
    FILE *f = fopen("deploy/rerank.service", "r");
    REQUIRE(f != NULL, "deploy/rerank.service");
    static char text[16384], exec[4096];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    /* ExecStart with its continuation lines joined */
    const char *p = strstr(text, "\nExecStart=");
    REQUIRE(p != NULL, "no ExecStart");
    p += strlen("\nExecStart=");
    size_t k = 0;
    while (*p && k + 1 < sizeof exec) {
        if (p[0] == '\\' && p[1] == '\n') {
            p += 2;
            exec[k++] = ' ';
            continue;
        }
        if (*p == '\n') break;
        exec[k++] = *p++;
    }
    exec[k] = 0;
    char *argv[64];
    int argc = 0;
    for (char *t = strtok(exec, " \t"); t && argc < 64; t = strtok(NULL, " \t")) argv[argc++] = t;
    REQUIRE(argc >= 4, "ExecStart too short");
    size_t l0 = strlen(argv[0]);
    CHECK(argv[0][0] == '/' && l0 >= 7 && strcmp(argv[0] + l0 - 7, "/rerank") == 0, "ExecStart runs %s", argv[0]);
    CHECK(strcmp(argv[1], "serve") == 0);
    CHECK(opt_value(argv, argc, "--model") != NULL, "the unit names its model");
    const char *port = opt_value(argv, argc, "--port");
    CHECK(port && atoi(port) > 0);
    /* TimeoutStopSec leaves room for the drain: in-flight requests get --timeout-ms + 2 s */
    const char *tss = strstr(text, "\nTimeoutStopSec=");
    const char *tms = opt_value(argv, argc, "--timeout-ms");
    CHECK(tss && tms && atoi(tss + 16) > atoi(tms) / 1000 + 2, "TimeoutStopSec vs --timeout-ms");
    CHECK(strstr(text, "\nKillSignal=SIGTERM") != NULL && strstr(text, "\n[Install]") != NULL);
    rr_ts_server s;
    CHECK(start_with(argv + 2, argc - 2, &s) == 0, "the unit's options do not start the server");
    CHECK(rr_ts_stop(&s) == 0);
}

static json_t *find_kind(json_t *docs, const char *kind) {
    for (size_t i = 0; i < json_array_size(docs); i++) {
        const char *k = json_string_value(json_object_get(json_array_get(docs, i), "kind"));
        if (k && strcmp(k, kind) == 0) return json_array_get(docs, i);
    }
    return NULL;
}

TEST(server_deploy_kubernetes_manifest_parses_and_matches_the_cli) {
    FILE *p = popen("python3 -c 'import json, sys, yaml; json.dump(list(yaml.safe_load_all(open(\"deploy/kubernetes.yaml\"))), "
                    "sys.stdout)' 2>/dev/null", "r");
    REQUIRE(p != NULL);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, p);
    buf[n] = 0;
    int rc = pclose(p);
    if (rc != 0 || n == 0) {
        printf("    skip: python3 with yaml (python3-yaml) is not installed; deploy/kubernetes.yaml not parsed\n");
        FILE *f = fopen("deploy/kubernetes.yaml", "r");
        CHECK(f != NULL, "deploy/kubernetes.yaml exists");
        if (f) fclose(f);
        return;
    }
    json_t *docs = json_loads(buf, 0, NULL);
    REQUIRE(json_is_array(docs), "the manifest is YAML");
    json_t *dep = find_kind(docs, "Deployment"), *svc = find_kind(docs, "Service"),
           *hpa = find_kind(docs, "HorizontalPodAutoscaler");
    REQUIRE(dep && svc && hpa, "Deployment, Service and HorizontalPodAutoscaler");
    const char *name = json_string_value(json_object_get(json_object_get(dep, "metadata"), "name"));
    json_t *tspec = json_object_get(json_object_get(json_object_get(dep, "spec"), "template"), "spec");
    json_t *c = json_array_get(json_object_get(tspec, "containers"), 0);
    json_t *jargs = json_object_get(c, "args");
    REQUIRE(json_is_array(jargs) && json_array_size(jargs) >= 3);
    char *argv[64];
    int argc = 0;
    for (size_t i = 0; i < json_array_size(jargs) && argc < 64; i++) {
        const char *a = json_string_value(json_array_get(jargs, i));
        REQUIRE(a != NULL, "args[%zu] is a string (quote numbers)", i);
        argv[argc++] = (char *)a;
    }
    CHECK(strcmp(argv[0], "serve") == 0);
    const char *port = opt_value(argv, argc, "--port"), *host = opt_value(argv, argc, "--host");
    CHECK(host && strcmp(host, "0.0.0.0") == 0, "a pod listens on all addresses");
    json_t *cport = json_array_get(json_object_get(c, "ports"), 0);
    CHECK(port && json_integer_value(json_object_get(cport, "containerPort")) == atoi(port), "containerPort = --port");
    /* the Service targets the container's port; the autoscaler the Deployment; the selector its pods */
    json_t *sport = json_array_get(json_object_get(json_object_get(svc, "spec"), "ports"), 0);
    json_t *target = json_object_get(sport, "targetPort");
    CHECK((json_is_string(target) && strcmp(json_string_value(target), json_string_value(json_object_get(cport, "name"))) == 0) ||
          (json_is_integer(target) && json_integer_value(target) == atoi(port)), "Service targetPort");
    json_t *ref = json_object_get(json_object_get(hpa, "spec"), "scaleTargetRef");
    CHECK(strcmp(json_string_value(json_object_get(ref, "kind")), "Deployment") == 0 &&
          strcmp(json_string_value(json_object_get(ref, "name")), name) == 0, "HPA targets the Deployment");
    CHECK(json_equal(json_object_get(json_object_get(svc, "spec"), "selector"),
                     json_object_get(json_object_get(json_object_get(dep, "spec"), "selector"), "matchLabels")));
    CHECK(json_is_object(json_object_get(json_object_get(c, "resources"), "requests")), "CPU requests (the HPA needs them)");
    /* the grace period covers --drain-delay + --timeout-ms + 2 s */
    const char *drain = opt_value(argv, argc, "--drain-delay"), *tms = opt_value(argv, argc, "--timeout-ms");
    long grace = (long)json_integer_value(json_object_get(tspec, "terminationGracePeriodSeconds"));
    CHECK(grace > (drain ? atoi(drain) : 0) + (tms ? atoi(tms) : 30000) / 1000 + 2, "terminationGracePeriodSeconds %ld", grace);
    /* the server starts with these arguments, and the probes' paths answer on it */
    rr_ts_server s;
    CHECK(start_with(argv + 1, argc - 1, &s) == 0, "the container's arguments do not start the server");
    const char *probes[] = {"livenessProbe", "readinessProbe", "startupProbe"};
    for (int i = 0; i < 3; i++) {
        const char *path = json_string_value(json_object_get(json_object_get(json_object_get(c, probes[i]), "httpGet"), "path"));
        REQUIRE(path != NULL, "%s has an httpGet path", probes[i]);
        rr_ts_response r;
        CHECK(rr_ts_request(s.port, "GET", path, NULL, NULL, &r) == 0 && r.status == 200, "%s %s", probes[i], path);
        rr_ts_response_free(&r);
    }
    CHECK(rr_ts_stop(&s) == 0);
    json_decref(docs);
}
