/*
 * A C host embedding lookupd: start it, report where it listens, serve
 * until Enter is pressed (or once, with --once), print what it knows, stop.
 *
 *   ./build/example                      # defaults: 0.0.0.0:4160 / 4161
 *   ./build/example '{"tcp_address":"127.0.0.1:0","http_address":"127.0.0.1:0"}'
 */
#include <stdio.h>
#include <string.h>

#include "lookupd.h"

int main(int argc, char **argv) {
    const char *config = NULL;
    int once = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--once") == 0) {
            once = 1;
            config = "{\"tcp_address\":\"127.0.0.1:0\",\"http_address\":\"127.0.0.1:0\",\"log_level\":\"warn\"}";
        } else {
            config = argv[i];
        }
    }

    lookupd *l = NULL;
    if (lookupd_start(config, &l) != LOOKUPD_OK) {
        fprintf(stderr, "lookupd_start: %s\n", lookupd_last_error());
        return 1;
    }
    uint16_t tcp = 0, http = 0;
    lookupd_tcp_port(l, &tcp);
    lookupd_http_port(l, &http);
    printf("lookupd %s: nsqd connects to TCP %u, clients ask HTTP %u\n",
           lookupd_version(), (unsigned)tcp, (unsigned)http);

    if (!once) {
        printf("press Enter to stop\n");
        (void)getchar();
    }

    char *topics = NULL;
    if (lookupd_query_topics(l, &topics) == LOOKUPD_OK) {
        printf("topics: %s\n", topics);
        lookupd_string_free(topics);
    }
    char *lookup = NULL;
    lookupd_result rc = lookupd_query_lookup(l, "orders", &lookup);
    if (rc == LOOKUPD_OK) {
        printf("orders: %s\n", lookup);
        lookupd_string_free(lookup);
    } else if (rc == LOOKUPD_ERR_TOPIC_NOT_FOUND) {
        printf("orders: not registered\n");
    }
    return lookupd_stop(l) == LOOKUPD_OK ? 0 : 1;
}
