"""/metrics, parsed by the Prometheus text parser of the prometheus_client
package, follows registrations, disconnects and requests."""

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from conftest import wait_until


def scrape(lookupd):
    with urllib.request.urlopen(lookupd.url + "/metrics") as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_gauges_follow_registrations_and_disconnects(lookupd, nsqd_factory):
    m = scrape(lookupd)
    assert value(m, "nsqlookupd_producers") == 0
    assert value(m, "nsqlookupd_topics") == 0

    a = nsqd_factory(4150, 4151, "orders billing", "orders shipping", "audit")
    nsqd_factory(4160, 4161, "orders billing")
    m = scrape(lookupd)
    assert value(m, "nsqlookupd_producers") == 2
    assert value(m, "nsqlookupd_topics") == 2
    assert value(m, "nsqlookupd_channels") == 2
    assert value(m, "nsqlookupd_registrations", category="client") == 2
    assert value(m, "nsqlookupd_registrations", category="topic") == 3
    assert value(m, "nsqlookupd_registrations", category="channel") == 3
    assert value(m, "nsqlookupd_connections", protocol="tcp") == 2
    assert value(m, "nsqlookupd_tcp_commands_total", command="IDENTIFY") == 2
    assert value(m, "nsqlookupd_tcp_commands_total", command="REGISTER") == 4

    a.close()
    wait_until(lambda: value(scrape(lookupd), "nsqlookupd_producers") == 1)
    m = scrape(lookupd)
    assert value(m, "nsqlookupd_registrations", category="topic") == 1
    assert value(m, "nsqlookupd_registrations", category="channel") == 1
    assert value(m, "nsqlookupd_topics") == 2, "keys outlive their producers"
    assert value(m, "nsqlookupd_connections", protocol="tcp") == 1
    assert value(m, "nsqlookupd_connections_accepted_total", protocol="tcp") == 2


def test_tombstones_errors_and_requests_are_counted(lookupd, nsqd_factory):
    nsqd_factory(4150, 4151, "orders")
    urllib.request.urlopen(urllib.request.Request(
        lookupd.url + "/topic/tombstone?topic=orders&node=127.0.0.1:4151", method="POST")).read()
    for _ in range(3):
        urllib.request.urlopen(lookupd.url + "/lookup?topic=orders").read()
    try:
        urllib.request.urlopen(lookupd.url + "/lookup?topic=missing")
    except urllib.error.HTTPError as e:
        assert e.code == 404
    # An error closes that connection: use another one.
    bad = nsqd_factory(4170, 4171)
    assert bad.command("REGISTER bad$") == b"E_BAD_TOPIC REGISTER topic name 'bad$' is not valid"
    m = scrape(lookupd)
    assert value(m, "nsqlookupd_tombstoned_registrations") == 1
    assert value(m, "nsqlookupd_http_requests_total", route="lookup", code="200") == 3
    assert value(m, "nsqlookupd_http_requests_total", route="lookup", code="404") == 1
    assert value(m, "nsqlookupd_http_requests_total", route="topic_tombstone", code="200") == 1
    assert value(m, "nsqlookupd_http_request_duration_seconds_count", route="lookup") == 4
    assert value(m, "nsqlookupd_http_request_duration_seconds_bucket", route="lookup", le="+Inf") == 4
    assert value(m, "nsqlookupd_tcp_errors_total", code="E_BAD_TOPIC") == 1
