/*
 * Tests of the lookupd C ABI from C, under AddressSanitizer and UBSan:
 * lifecycle, queries against a fake nsqd registered over TCP (compared
 * with the HTTP bodies), the HTTPS port, every error path, concurrent
 * queries, and waits for producers (woken by a registration, timed out,
 * ended by lookupd_stop or by a cancel token).
 *
 * No test sleeps to let another thread get somewhere: a thread that must
 * be blocked in a wait before the test goes on is waited for through
 * lookupd_waiting (await_waiting).
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lookupd.h"
#include "test_cert.h"

/* Atomic: checks also fail on helper threads. */
static _Atomic int failures = 0;

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s (last error: %s)\n",    \
                    __FILE__, __LINE__, #cond,                               \
                    lookupd_last_error() ? lookupd_last_error() : "none");   \
            failures++;                                                      \
        }                                                                    \
    } while (0)

static const char *CONFIG =
    "{\"tcp_address\":\"127.0.0.1:0\",\"http_address\":\"127.0.0.1:0\","
    "\"broadcast_address\":\"127.0.0.1\",\"log_level\":\"fatal\",\"threads\":2}";

static int connect_to(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("connect");
        exit(2);
    }
    return fd;
}

static void send_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n <= 0) {
            perror("write");
            exit(2);
        }
        p += n;
        len -= (size_t)n;
    }
}

static void read_all(int fd, void *buf, size_t len) {
    char *p = buf;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n <= 0) {
            perror("read");
            exit(2);
        }
        p += n;
        len -= (size_t)n;
    }
}

/* Reads one V1 reply frame into buf (NUL-terminated). */
static void read_frame(int fd, char *buf, size_t cap) {
    uint32_t be;
    read_all(fd, &be, 4);
    uint32_t len = ntohl(be);
    if (len + 1 > cap) {
        fprintf(stderr, "frame too long\n");
        exit(2);
    }
    read_all(fd, buf, len);
    buf[len] = '\0';
}

/* A fake nsqd: IDENTIFY, then REGISTER each "topic [channel]" line. */
static int fake_nsqd(uint16_t tcp_port, int nsqd_tcp, int nsqd_http, const char **regs, int n) {
    int fd = connect_to(tcp_port);
    char body[256], reply[512];
    int blen = snprintf(body, sizeof body,
                        "{\"broadcast_address\":\"127.0.0.1\",\"hostname\":\"c-host\","
                        "\"tcp_port\":%d,\"http_port\":%d,\"version\":\"1.3.0\"}",
                        nsqd_tcp, nsqd_http);
    uint32_t be = htonl((uint32_t)blen);
    send_all(fd, "  V1IDENTIFY\n", 13);
    send_all(fd, &be, 4);
    send_all(fd, body, (size_t)blen);
    read_frame(fd, reply, sizeof reply);
    CHECK(strstr(reply, "\"version\":\"1.3.0\"") != NULL);
    for (int i = 0; i < n; i++) {
        char line[160];
        int llen = snprintf(line, sizeof line, "REGISTER %s\n", regs[i]);
        send_all(fd, line, (size_t)llen);
        read_frame(fd, reply, sizeof reply);
        CHECK(strcmp(reply, "OK") == 0);
    }
    return fd;
}

/* GET path over HTTP/1.0; returns the body (caller frees). */
static char *http_get(uint16_t port, const char *path) {
    int fd = connect_to(port);
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\n\r\n", path);
    send_all(fd, req, (size_t)n);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    ssize_t r;
    while ((r = read(fd, buf + len, cap - len - 1)) > 0)
        len += (size_t)r;
    buf[len] = '\0';
    close(fd);
    char *body = strstr(buf, "\r\n\r\n");
    char *out = strdup(body ? body + 4 : "");
    free(buf);
    return out;
}

static void test_version_and_null_arguments(void) {
    CHECK(lookupd_version() != NULL && strstr(lookupd_version(), "nsq 1.3.0") != NULL);
    CHECK(lookupd_start(NULL, NULL) == LOOKUPD_ERR_NULL);
    CHECK(lookupd_last_error() != NULL && strstr(lookupd_last_error(), "out") != NULL);
    uint16_t port = 7;
    CHECK(lookupd_tcp_port(NULL, &port) == LOOKUPD_ERR_NULL);
    CHECK(port == 7);
    char *out = (char *)0x1;
    CHECK(lookupd_query_topics(NULL, &out) == LOOKUPD_ERR_NULL);
    CHECK(out == (char *)0x1);
    CHECK(lookupd_stop(NULL) == LOOKUPD_OK);
    lookupd_string_free(NULL);
}

static void test_bad_configs(void) {
    lookupd *l = NULL;
    CHECK(lookupd_start("{", &l) == LOOKUPD_ERR_CONFIG);
    CHECK(l == NULL);
    CHECK(lookupd_start("{\"bogus\":1}", &l) == LOOKUPD_ERR_CONFIG);
    CHECK(strstr(lookupd_last_error(), "bogus") != NULL);
    CHECK(lookupd_start("{\"tombstone_lifetime\":\"soon\"}", &l) == LOOKUPD_ERR_CONFIG);
    CHECK(strstr(lookupd_last_error(), "tombstone_lifetime") != NULL);
    CHECK(lookupd_start("{\"log_prefix\":\"\xff\"}", &l) == LOOKUPD_ERR_UTF8);
    CHECK(l == NULL);
}

static void test_queries_match_http(void) {
    lookupd *l = NULL;
    CHECK(lookupd_start(CONFIG, &l) == LOOKUPD_OK);
    uint16_t tcp = 0, http = 0;
    CHECK(lookupd_tcp_port(l, &tcp) == LOOKUPD_OK && tcp != 0);
    CHECK(lookupd_http_port(l, &http) == LOOKUPD_OK && http != 0);

    const char *regs[] = {"orders billing", "audit"};
    int fd = fake_nsqd(tcp, 4150, 4151, regs, 2);

    char *json = NULL;
    CHECK(lookupd_query_lookup(l, "orders", &json) == LOOKUPD_OK);
    char *body = http_get(http, "/lookup?topic=orders");
    CHECK(json != NULL && strcmp(json, body) == 0);
    CHECK(strstr(json, "\"tcp_port\":4150") != NULL);
    lookupd_string_free(json);
    free(body);

    CHECK(lookupd_query_topics(l, &json) == LOOKUPD_OK);
    CHECK(strcmp(json, "{\"topics\":[\"audit\",\"orders\"]}") == 0);
    lookupd_string_free(json);

    CHECK(lookupd_query_channels(l, "orders", &json) == LOOKUPD_OK);
    CHECK(strcmp(json, "{\"channels\":[\"billing\"]}") == 0);
    lookupd_string_free(json);

    CHECK(lookupd_query_nodes(l, &json) == LOOKUPD_OK);
    body = http_get(http, "/nodes");
    CHECK(strcmp(json, body) == 0);
    lookupd_string_free(json);
    free(body);

    json = NULL;
    CHECK(lookupd_query_lookup(l, "missing", &json) == LOOKUPD_ERR_TOPIC_NOT_FOUND);
    CHECK(json == NULL);
    CHECK(lookupd_query_lookup(l, "bad\xff", &json) == LOOKUPD_ERR_UTF8);
    CHECK(lookupd_query_lookup(l, NULL, &json) == LOOKUPD_ERR_NULL);
    CHECK(lookupd_query_lookup(l, "orders", NULL) == LOOKUPD_ERR_NULL);

    /* Stopping closes the nsqd connection. */
    CHECK(lookupd_stop(l) == LOOKUPD_OK);
    char byte;
    CHECK(read(fd, &byte, 1) == 0);
    close(fd);
}

static void test_https_port(void) {
    /* Without https_address: no HTTPS, port 0. */
    lookupd *l = NULL;
    CHECK(lookupd_start(CONFIG, &l) == LOOKUPD_OK);
    uint16_t https = 7;
    CHECK(lookupd_https_port(l, &https) == LOOKUPD_OK && https == 0);
    CHECK(lookupd_https_port(l, NULL) == LOOKUPD_ERR_NULL);
    CHECK(lookupd_https_port(NULL, &https) == LOOKUPD_ERR_NULL);
    CHECK(lookupd_stop(l) == LOOKUPD_OK);

    struct test_cert cert;
    int made = test_cert_make(&cert);
    if (made == 0) {
        printf("SKIP test_https_port with HTTPS: no openssl on PATH to make a certificate\n");
        return;
    }
    CHECK(made == 1);
    if (made != 1)
        return;
    char config[512];
    snprintf(config, sizeof config,
             "{\"tcp_address\":\"127.0.0.1:0\",\"http_address\":\"127.0.0.1:0\","
             "\"https_address\":\"127.0.0.1:0\",\"tls_cert\":\"%s\",\"tls_key\":\"%s\","
             "\"log_level\":\"fatal\"}",
             cert.cert, cert.key);
    l = NULL;
    CHECK(lookupd_start(config, &l) == LOOKUPD_OK);
    uint16_t http = 0;
    https = 0;
    CHECK(lookupd_http_port(l, &http) == LOOKUPD_OK);
    CHECK(lookupd_https_port(l, &https) == LOOKUPD_OK);
    CHECK(https != 0 && https != http);
    /* Something listens there. */
    close(connect_to(https));
    CHECK(lookupd_stop(l) == LOOKUPD_OK);
    test_cert_remove(&cert);
}

static void test_port_in_use(void) {
    lookupd *a = NULL, *b = NULL;
    CHECK(lookupd_start(CONFIG, &a) == LOOKUPD_OK);
    uint16_t tcp = 0;
    lookupd_tcp_port(a, &tcp);
    char config[256];
    snprintf(config, sizeof config,
             "{\"tcp_address\":\"127.0.0.1:%u\",\"http_address\":\"127.0.0.1:0\"}", (unsigned)tcp);
    CHECK(lookupd_start(config, &b) == LOOKUPD_ERR_BIND);
    CHECK(b == NULL);
    CHECK(strstr(lookupd_last_error(), "failed") != NULL);
    CHECK(lookupd_stop(a) == LOOKUPD_OK);
}

struct worker {
    lookupd *l;
    int errors;
};

static void *query_loop(void *arg) {
    struct worker *w = arg;
    for (int i = 0; i < 500; i++) {
        char *json = NULL;
        if (lookupd_query_lookup(w->l, "orders", &json) != LOOKUPD_OK || !strstr(json, "billing"))
            w->errors++;
        lookupd_string_free(json);
        if (lookupd_query_nodes(w->l, &json) != LOOKUPD_OK)
            w->errors++;
        lookupd_string_free(json);
        /* Errors on one thread do not disturb the others. */
        if (lookupd_query_lookup(w->l, "missing", &json) != LOOKUPD_ERR_TOPIC_NOT_FOUND)
            w->errors++;
    }
    return NULL;
}

static void test_concurrent_queries(void) {
    lookupd *l = NULL;
    CHECK(lookupd_start(CONFIG, &l) == LOOKUPD_OK);
    uint16_t tcp = 0;
    lookupd_tcp_port(l, &tcp);
    const char *regs[] = {"orders billing"};
    int fd = fake_nsqd(tcp, 4150, 4151, regs, 1);
    pthread_t threads[8];
    struct worker workers[8];
    for (int i = 0; i < 8; i++) {
        workers[i].l = l;
        workers[i].errors = 0;
        pthread_create(&threads[i], NULL, query_loop, &workers[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(threads[i], NULL);
        CHECK(workers[i].errors == 0);
    }
    CHECK(lookupd_stop(l) == LOOKUPD_OK);
    close(fd);
}

/* ---- Waits for producers ------------------------------------------- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Returns once `count` waits are blocked on l (lookupd_waiting), yielding
 * between looks; 1, or 0 if that did not happen within 10 s (a failed
 * check). A wait counted there is inside its call, listening for changes:
 * a registration, a stop or a token fired from then on reaches it. */
static int await_waiting(lookupd *l, uint32_t count) {
    double deadline = now_s() + 10.0;
    uint32_t now = 0;
    while (lookupd_waiting(l, &now) == LOOKUPD_OK && now != count && now_s() < deadline)
        sched_yield();
    CHECK(now == count);
    return now == count;
}

/* A fake nsqd that connects and registers one "topic [channel]" line, on
 * a thread of its own, once a wait is blocked on the handle. */
struct registrar {
    lookupd *l;
    uint16_t tcp_port;
    const char *reg;
    int waited; /* a wait was blocked before the registration */
    int fd;     /* the nsqd connection, once registered */
    pthread_t thread;
};

static void *register_when_waited_for(void *arg) {
    struct registrar *r = arg;
    r->waited = await_waiting(r->l, 1);
    r->fd = fake_nsqd(r->tcp_port, 4150, 4151, &r->reg, 1);
    return NULL;
}

static void registrar_start(struct registrar *r, lookupd *l, uint16_t tcp_port, const char *reg) {
    r->l = l;
    r->tcp_port = tcp_port;
    r->reg = reg;
    r->waited = 0;
    r->fd = -1;
    CHECK(pthread_create(&r->thread, NULL, register_when_waited_for, r) == 0);
}

/* A thread blocked in lookupd_wait_lookup[_cancellable]. */
struct waiter {
    lookupd *l;
    const char *topic;
    uint32_t min_producers, timeout_ms;
    const lookupd_cancel *cancel; /* NULL: lookupd_wait_lookup */
    lookupd_result rc;
    char *json;
    double returned_at;
    int calling; /* set, under mu, just before the wait is called */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
};

static void *wait_thread(void *arg) {
    struct waiter *w = arg;
    pthread_mutex_lock(&w->mu);
    w->calling = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (w->cancel)
        w->rc = lookupd_wait_lookup_cancellable(w->l, w->topic, w->min_producers, w->timeout_ms,
                                                w->cancel, &w->json);
    else
        w->rc = lookupd_wait_lookup(w->l, w->topic, w->min_producers, w->timeout_ms, &w->json);
    w->returned_at = now_s();
    return NULL;
}

static void waiter_start(struct waiter *w, lookupd *l, const char *topic, uint32_t timeout_ms,
                         const lookupd_cancel *cancel) {
    w->l = l;
    w->topic = topic;
    w->min_producers = 1;
    w->timeout_ms = timeout_ms;
    w->cancel = cancel;
    w->rc = LOOKUPD_OK;
    w->json = NULL;
    w->returned_at = 0;
    w->calling = 0;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    CHECK(pthread_create(&w->thread, NULL, wait_thread, w) == 0);
}

/* Returns once the waiter is about to call its wait. Not yet inside it:
 * a stop that overtakes a call not yet begun frees the handle under it
 * (a use after free inside the library, which is not instrumented), so
 * the tests that stop or fire during waits then await_waiting() for the
 * waits to be blocked inside their calls. */
static void waiter_calling(struct waiter *w) {
    pthread_mutex_lock(&w->mu);
    while (!w->calling)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

static void waiter_join(struct waiter *w) {
    CHECK(pthread_join(w->thread, NULL) == 0);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
}

static void test_wait_sees_a_later_registration(void) {
    lookupd *l = NULL;
    CHECK(lookupd_start(CONFIG, &l) == LOOKUPD_OK);
    uint16_t tcp = 0;
    CHECK(lookupd_tcp_port(l, &tcp) == LOOKUPD_OK);

    /* Nothing is registered when the wait begins; the fake nsqd
     * registers, on another thread, once the wait is blocked. */
    char *json = NULL;
    uint32_t waiting = 7;
    CHECK(lookupd_waiting(l, &waiting) == LOOKUPD_OK && waiting == 0);
    CHECK(lookupd_query_lookup(l, "orders", &json) == LOOKUPD_ERR_TOPIC_NOT_FOUND);
    double started = now_s();
    struct registrar r;
    registrar_start(&r, l, tcp, "orders billing");
    CHECK(lookupd_wait_lookup(l, "orders", 1, 10000, &json) == LOOKUPD_OK);
    double waited = now_s() - started;
    CHECK(pthread_join(r.thread, NULL) == 0);
    /* It blocked until the registration (the registrar saw it blocked
     * first), and was woken by it, well before its timeout. */
    CHECK(r.waited);
    CHECK(waited < 10.0);
    CHECK(lookupd_waiting(l, &waiting) == LOOKUPD_OK && waiting == 0);

    /* Exactly the body lookupd_query_lookup (and so HTTP) returns. */
    char *queried = NULL;
    CHECK(lookupd_query_lookup(l, "orders", &queried) == LOOKUPD_OK);
    CHECK(json != NULL && queried != NULL && strcmp(json, queried) == 0);
    CHECK(json != NULL && strstr(json, "\"tcp_port\":4150") != NULL);
    CHECK(json != NULL && strstr(json, "\"billing\"") != NULL);
    lookupd_string_free(json);
    lookupd_string_free(queried);

    /* Already satisfied: returns at once with the same body. */
    json = NULL;
    CHECK(lookupd_wait_lookup(l, "orders", 1, 0, &json) == LOOKUPD_OK);
    CHECK(json != NULL && strstr(json, "\"tcp_port\":4150") != NULL);
    lookupd_string_free(json);

    /* min_producers 0: the topic exists, which is enough. */
    json = NULL;
    CHECK(lookupd_wait_lookup(l, "orders", 0, 0, &json) == LOOKUPD_OK);
    lookupd_string_free(json);

    /* min_producers counts: one producer does not satisfy two. */
    json = NULL;
    CHECK(lookupd_wait_lookup(l, "orders", 2, 100, &json) == LOOKUPD_ERR_TIMEOUT);
    CHECK(json == NULL);

    CHECK(lookupd_stop(l) == LOOKUPD_OK);
    if (r.fd >= 0)
        close(r.fd);
}

static void test_wait_times_out(void) {
    lookupd *l = NULL;
    CHECK(lookupd_start(CONFIG, &l) == LOOKUPD_OK);
    char *json = NULL;
    uint32_t waiting = 0;
    double started = now_s();
    CHECK(lookupd_wait_lookup(l, "never", 1, 300, &json) == LOOKUPD_ERR_TIMEOUT);
    double waited = now_s() - started;
    CHECK(waited >= 0.3);
    CHECK(waited < 10.0);
    CHECK(json == NULL);
    CHECK(strstr(lookupd_last_error(), "within 300 ms") != NULL);

    /* Argument errors come before any waiting; so do those of
     * lookupd_waiting. */
    CHECK(lookupd_waiting(NULL, &waiting) == LOOKUPD_ERR_NULL);
    CHECK(lookupd_waiting(l, NULL) == LOOKUPD_ERR_NULL);
    CHECK(lookupd_wait_lookup(l, "not a topic!", 1, 60000, &json) == LOOKUPD_ERR_INVALID_ARG);
    CHECK(lookupd_wait_lookup(l, "never", 1, 60000, NULL) == LOOKUPD_ERR_NULL);
    CHECK(lookupd_wait_lookup(l, NULL, 1, 60000, &json) == LOOKUPD_ERR_NULL);
    CHECK(lookupd_wait_lookup(NULL, "never", 1, 60000, &json) == LOOKUPD_ERR_NULL);
    CHECK(lookupd_wait_lookup(l, "bad\xff", 1, 60000, &json) == LOOKUPD_ERR_UTF8);
    CHECK(json == NULL);
    CHECK(lookupd_stop(l) == LOOKUPD_OK);
}

static void test_stop_ends_waits_in_progress(void) {
    lookupd *l = NULL;
    CHECK(lookupd_start(CONFIG, &l) == LOOKUPD_OK);
    struct waiter w[3];
    for (int i = 0; i < 3; i++)
        waiter_start(&w[i], l, "never", 60000, NULL);
    for (int i = 0; i < 3; i++)
        waiter_calling(&w[i]);
    /* All three inside their calls: only then may lookupd_stop run. */
    if (!await_waiting(l, 3))
        exit(1);
    double stopping = now_s();
    CHECK(lookupd_stop(l) == LOOKUPD_OK);
    CHECK(now_s() - stopping < 5.0);
    for (int i = 0; i < 3; i++) {
        waiter_join(&w[i]);
        CHECK(w[i].rc == LOOKUPD_ERR_STOPPED);
        CHECK(w[i].json == NULL);
        /* Promptly: well before its 60 s timeout. */
        CHECK(w[i].returned_at - stopping < 5.0);
    }
}

static void test_cancel_token_ends_waits(void) {
    lookupd *l = NULL;
    CHECK(lookupd_start(CONFIG, &l) == LOOKUPD_OK);
    lookupd_cancel *token = NULL;
    CHECK(lookupd_cancel_new(&token) == LOOKUPD_OK && token != NULL);

    /* Fired during two waits on other threads. */
    struct waiter w[2];
    for (int i = 0; i < 2; i++)
        waiter_start(&w[i], l, "never", 60000, token);
    for (int i = 0; i < 2; i++)
        waiter_calling(&w[i]);
    /* Fired during the waits, not before them. */
    await_waiting(l, 2);
    double firing = now_s();
    CHECK(lookupd_cancel_fire(token) == LOOKUPD_OK);
    for (int i = 0; i < 2; i++) {
        waiter_join(&w[i]);
        CHECK(w[i].rc == LOOKUPD_ERR_CANCELLED);
        CHECK(w[i].json == NULL);
        CHECK(w[i].returned_at - firing < 5.0);
    }

    /* Fired before the wait begins: it ends at once. */
    char *json = NULL;
    double started = now_s();
    CHECK(lookupd_wait_lookup_cancellable(l, "never", 1, 60000, token, &json) ==
          LOOKUPD_ERR_CANCELLED);
    CHECK(now_s() - started < 5.0);
    CHECK(json == NULL);
    CHECK(lookupd_cancel_fire(token) == LOOKUPD_OK); /* again: fine */

    /* A NULL token is no token: the wait times out as usual. */
    CHECK(lookupd_wait_lookup_cancellable(l, "never", 1, 50, NULL, &json) == LOOKUPD_ERR_TIMEOUT);
    CHECK(lookupd_cancel_fire(NULL) == LOOKUPD_ERR_NULL);
    CHECK(lookupd_cancel_new(NULL) == LOOKUPD_ERR_NULL);
    lookupd_cancel_free(token);
    lookupd_cancel_free(NULL);

    /* A fresh token does not cancel. */
    CHECK(lookupd_cancel_new(&token) == LOOKUPD_OK);
    CHECK(lookupd_wait_lookup_cancellable(l, "never", 1, 50, token, &json) == LOOKUPD_ERR_TIMEOUT);
    lookupd_cancel_free(token);
    CHECK(lookupd_stop(l) == LOOKUPD_OK);
}

/* 50 rounds of start, a waiter blocks, shutdown, the waiter returns
 * STOPPED and is joined, stop. lookupd_shutdown frees nothing, so no
 * sleep is needed: the wait ends whether it began before or after it.
 * LeakSanitizer checks at exit that nothing leaked. */
static void test_start_stop_cycles(void) {
    for (int i = 0; i < 50; i++) {
        lookupd *l = NULL;
        CHECK(lookupd_start(CONFIG, &l) == LOOKUPD_OK);
        struct waiter w;
        waiter_start(&w, l, "never", 60000, NULL);
        waiter_calling(&w);
        CHECK(lookupd_shutdown(l) == LOOKUPD_OK);
        waiter_join(&w);
        CHECK(w.rc == LOOKUPD_ERR_STOPPED);
        CHECK(w.json == NULL);
        CHECK(lookupd_stop(l) == LOOKUPD_OK);
    }
    CHECK(lookupd_shutdown(NULL) == LOOKUPD_ERR_NULL);
}

int main(void) {
    test_version_and_null_arguments();
    test_bad_configs();
    test_queries_match_http();
    test_https_port();
    test_port_in_use();
    test_concurrent_queries();
    test_wait_sees_a_later_registration();
    test_wait_times_out();
    test_stop_ends_waits_in_progress();
    test_cancel_token_ends_waits();
    test_start_stop_cycles();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("C ABI tests passed\n");
    return 0;
}
