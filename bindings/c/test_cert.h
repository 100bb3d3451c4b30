/*
 * A self-signed certificate and key for the tests that start an instance
 * serving HTTPS, made by the openssl command line tool in a temporary
 * directory. Included by test_lookupd.c (C11) and test_lookupd.cpp
 * (C++17); test_lookupd.c defines _POSIX_C_SOURCE for mkdtemp.
 */
#ifndef LOOKUPD_TEST_CERT_H
#define LOOKUPD_TEST_CERT_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct test_cert {
    char dir[64];
    char cert[96]; /* dir/cert.pem */
    char key[96];  /* dir/key.pem */
};

/* Makes the pair under a fresh temporary directory. Returns 1 on success,
 * 0 when there is no openssl on PATH (the caller skips, saying so), and
 * -1 when openssl is there but failed (the caller fails). */
static int test_cert_make(struct test_cert *c) {
    if (system("command -v openssl >/dev/null 2>&1") != 0)
        return 0;
    snprintf(c->dir, sizeof c->dir, "/tmp/lookupd-tls-XXXXXX");
    if (mkdtemp(c->dir) == NULL) {
        perror("mkdtemp");
        return -1;
    }
    snprintf(c->cert, sizeof c->cert, "%s/cert.pem", c->dir);
    snprintf(c->key, sizeof c->key, "%s/key.pem", c->dir);
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-subj /CN=localhost -days 1 -keyout %s -out %s >/dev/null 2>&1",
             c->key, c->cert);
    if (system(cmd) != 0) {
        fprintf(stderr, "openssl could not make a certificate: %s\n", cmd);
        return -1;
    }
    return 1;
}

static void test_cert_remove(const struct test_cert *c) {
    unlink(c->cert);
    unlink(c->key);
    rmdir(c->dir);
}

#endif /* LOOKUPD_TEST_CERT_H */
