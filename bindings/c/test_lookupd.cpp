// Tests of the C++17 wrapper include/lookupd.hpp, under AddressSanitizer
// and UBSan: RAII start and stop, the default constructor (loopback, free
// ports), move semantics, exceptions (code and message), queries against a
// fake nsqd registered over TCP, the HTTPS port, and waits (a registration
// from another thread, a timeout, a cancel token, a stop). No test sleeps
// to let another thread get somewhere: await_waiting() waits until the
// instance counts the waits blocked on it.

#include "lookupd.hpp"
#include "test_cert.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>

namespace {

std::atomic<int> failures{0};

void check(bool ok, const char *what, int line) {
    if (!ok) {
        std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, line, what);
        ++failures;
    }
}
#define CHECK(cond) check(static_cast<bool>(cond), #cond, __LINE__)

const char *const CONFIG =
    R"({"tcp_address":"127.0.0.1:0","http_address":"127.0.0.1:0",)"
    R"("broadcast_address":"127.0.0.1","log_level":"fatal","threads":2})";

using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

double seconds_since(clock_type::time_point t) {
    return std::chrono::duration<double>(clock_type::now() - t).count();
}

// Returns once `count` waits are blocked on l (instance::waiting()),
// yielding between looks; false if that did not happen within 10 s. A
// wait counted there is inside its call, listening: a registration, a
// shutdown or a token fired from then on reaches it.
bool await_waiting(const lookupd_cpp::instance &l, std::uint32_t count) {
    const auto deadline = clock_type::now() + std::chrono::seconds(10);
    while (l.waiting() != count) {
        if (clock_type::now() > deadline) {
            return false;
        }
        std::this_thread::yield();
    }
    return true;
}

// Runs f and checks that it throws E whose code() is `code` and whose
// what() contains `text`.
template <class E>
void check_throws(const std::function<void()> &f, lookupd_result code, const char *text,
                  int line) {
    try {
        f();
        check(false, "an exception was thrown", line);
    } catch (const E &e) {
        check(e.code() == code, "the exception carries the expected code", line);
        if (std::strstr(e.what(), text) == nullptr) {
            std::fprintf(stderr, "  what(): %s (expected to contain \"%s\")\n", e.what(), text);
            check(false, "what() has the expected text", line);
        }
    } catch (const std::exception &e) {
        std::fprintf(stderr, "  unexpected exception: %s\n", e.what());
        check(false, "the exception has the expected type", line);
    }
}
#define CHECK_THROWS(E, expr, code, text) \
    check_throws<E>([&] { (void)(expr); }, code, text, __LINE__)

// ---- A fake nsqd over the raw V1 protocol -------------------------------

// A connected TCP socket to 127.0.0.1:port, closed on destruction. Reads
// give up after 10 s, so a connection lookupd fails to close makes a check
// fail instead of hanging the test.
class socket_fd {
  public:
    explicit socket_fd(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        const timeval limit{10, 0};
        if (fd_ < 0 || ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit) != 0 ||
            ::connect(fd_, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0) {
            std::perror("connect");
            std::exit(2);
        }
    }
    ~socket_fd() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    socket_fd(const socket_fd &) = delete;
    socket_fd &operator=(const socket_fd &) = delete;
    socket_fd(socket_fd &&o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    socket_fd &operator=(socket_fd &&) = delete;

    void send(const std::string &s) const {
        std::size_t done = 0;
        while (done < s.size()) {
            ssize_t n = ::write(fd_, s.data() + done, s.size() - done);
            if (n <= 0) {
                std::perror("write");
                std::exit(2);
            }
            done += static_cast<std::size_t>(n);
        }
    }

    // Reads exactly n bytes; false on end of stream first.
    bool recv(char *buf, std::size_t n) const {
        while (n > 0) {
            ssize_t r = ::read(fd_, buf, n);
            if (r <= 0) {
                return false;
            }
            buf += r;
            n -= static_cast<std::size_t>(r);
        }
        return true;
    }

    // One V1 reply frame (size, then the frame).
    std::string frame() const {
        std::uint32_t be = 0;
        if (!recv(reinterpret_cast<char *>(&be), 4)) {
            std::fprintf(stderr, "connection closed\n");
            std::exit(2);
        }
        std::string body(ntohl(be), '\0');
        if (!recv(&body[0], body.size())) {
            std::fprintf(stderr, "connection closed\n");
            std::exit(2);
        }
        return body;
    }

    // Whether the peer closed the connection (a read sees its end).
    bool closed_by_peer() const {
        char byte = 0;
        return ::read(fd_, &byte, 1) == 0;
    }

  private:
    int fd_;
};

// IDENTIFY as an nsqd on TCP 4150, then REGISTER each "topic [channel]".
socket_fd fake_nsqd(std::uint16_t port, std::initializer_list<const char *> regs) {
    socket_fd s(port);
    const std::string body = R"({"broadcast_address":"127.0.0.1","hostname":"cpp-host",)"
                             R"("tcp_port":4150,"http_port":4151,"version":"1.3.0"})";
    const std::uint32_t be = htonl(static_cast<std::uint32_t>(body.size()));
    s.send("  V1IDENTIFY\n" + std::string(reinterpret_cast<const char *>(&be), 4) + body);
    CHECK(s.frame().find(R"("version":"1.3.0")") != std::string::npos);
    for (const char *r : regs) {
        s.send(std::string("REGISTER ") + r + "\n");
        CHECK(s.frame() == "OK");
    }
    return s;
}

// ---- Tests ---------------------------------------------------------------

static_assert(!std::is_copy_constructible<lookupd_cpp::instance>::value, "move-only");
static_assert(!std::is_copy_assignable<lookupd_cpp::instance>::value, "move-only");
static_assert(std::is_nothrow_move_constructible<lookupd_cpp::instance>::value, "");
static_assert(std::is_nothrow_move_assignable<lookupd_cpp::instance>::value, "");
static_assert(!std::is_copy_constructible<lookupd_cpp::cancel_token>::value, "move-only");
static_assert(std::is_nothrow_move_constructible<lookupd_cpp::cancel_token>::value, "");
static_assert(std::is_base_of<lookupd_cpp::error, lookupd_cpp::topic_not_found>::value, "");
static_assert(std::is_base_of<std::runtime_error, lookupd_cpp::error>::value, "");
static_assert(std::is_default_constructible<lookupd_cpp::instance>::value, "");
// A C string converts only explicitly (no instance from a stray pointer).
static_assert(!std::is_convertible<const char *, lookupd_cpp::instance>::value, "");

// Whether a listener on 127.0.0.1:port would keep this process from
// binding 127.0.0.2:port: it would not, but one on 0.0.0.0:port would
// (127.0.0.0/8 is all loopback on Linux).
bool wildcard_holds(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(0x7f000002); // 127.0.0.2
    const bool refused = ::bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0;
    ::close(fd);
    return refused;
}

void test_default_constructor_is_loopback_on_free_ports() {
    // Neither Go's ports nor every interface: tests and hosts beside
    // another lookupd (or each other) do not collide.
    lookupd_cpp::instance a;
    lookupd_cpp::instance b;
    for (const auto *l : {&a, &b}) {
        CHECK(static_cast<bool>(*l));
        CHECK(l->tcp_port() != 0 && l->tcp_port() != 4160);
        CHECK(l->http_port() != 0 && l->http_port() != 4161);
        CHECK(l->https_port() == 0);
        CHECK(!wildcard_holds(l->tcp_port()));
        CHECK(!wildcard_holds(l->http_port()));
    }
    CHECK(a.tcp_port() != b.tcp_port() && a.http_port() != b.http_port());
    // It serves on 127.0.0.1.
    socket_fd nsqd = fake_nsqd(a.tcp_port(), {"orders"});
    CHECK(a.topics() == R"({"topics":["orders"]})");
    CHECK(std::string(lookupd_cpp::loopback_config).find("127.0.0.1:0") != std::string::npos);

    // The check above can tell: a listener on every interface holds the
    // port on 127.0.0.2 too.
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in any{};
    any.sin_family = AF_INET;
    socklen_t len = sizeof any;
    CHECK(::bind(fd, reinterpret_cast<sockaddr *>(&any), sizeof any) == 0 && ::listen(fd, 1) == 0 &&
          ::getsockname(fd, reinterpret_cast<sockaddr *>(&any), &len) == 0);
    CHECK(wildcard_holds(ntohs(any.sin_port)));
    ::close(fd);
}

void test_https_port() {
    // No https_address: no HTTPS, port 0.
    lookupd_cpp::instance plain(CONFIG);
    CHECK(plain.https_port() == 0);

    test_cert cert;
    const int made = test_cert_make(&cert);
    if (made == 0) {
        std::printf("SKIP test_https_port with HTTPS: no openssl on PATH to make a certificate\n");
        return;
    }
    CHECK(made == 1);
    if (made != 1) {
        return;
    }
    const std::string config = std::string(R"({"tcp_address":"127.0.0.1:0","http_address":"127.0.0.1:0",)") +
                               R"("https_address":"127.0.0.1:0","tls_cert":")" + cert.cert +
                               R"(","tls_key":")" + cert.key + R"(","log_level":"fatal"})";
    {
        lookupd_cpp::instance l(config);
        const std::uint16_t https = l.https_port();
        CHECK(https != 0 && https != l.http_port() && https != l.tcp_port());
        socket_fd listening(https); // something accepts there
    }
    test_cert_remove(&cert);
    lookupd_cpp::instance moved(CONFIG);
    lookupd_cpp::instance taker(std::move(moved));
    CHECK_THROWS(lookupd_cpp::error, moved.https_port(), LOOKUPD_ERR_NULL, "handle");
    CHECK_THROWS(lookupd_cpp::error, moved.waiting(), LOOKUPD_ERR_NULL, "handle");
}

void test_raii_start_and_stop() {
    CHECK(lookupd_cpp::version().find("nsq 1.3.0") != std::string::npos);
    std::uint16_t tcp = 0;
    {
        lookupd_cpp::instance l(CONFIG);
        CHECK(static_cast<bool>(l));
        CHECK(l.native_handle() != nullptr);
        tcp = l.tcp_port();
        CHECK(tcp != 0);
        CHECK(l.http_port() != 0 && l.http_port() != tcp);
        socket_fd nsqd = fake_nsqd(tcp, {"orders"});
        CHECK(l.topics() == R"({"topics":["orders"]})");
    }
    {
        lookupd_cpp::instance l{std::string(CONFIG)};
        socket_fd nsqd = fake_nsqd(l.tcp_port(), {"orders"});
        l.stop();
        CHECK(!l);
        CHECK(nsqd.closed_by_peer());
        l.stop(); // again: nothing to do
        CHECK_THROWS(lookupd_cpp::error, l.topics(), LOOKUPD_ERR_NULL, "handle");
    }
    {
        // The destructor stops it: its nsqd connection is closed.
        auto *l = new lookupd_cpp::instance(CONFIG);
        socket_fd nsqd = fake_nsqd(l->tcp_port(), {"orders"});
        delete l;
        CHECK(nsqd.closed_by_peer());
    }
}

void test_move_semantics() {
    lookupd_cpp::instance a(CONFIG);
    const std::uint16_t port = a.tcp_port();
    socket_fd a_nsqd = fake_nsqd(port, {"from_a"});

    // Move construction: b takes the running instance, a is inert.
    lookupd_cpp::instance b(std::move(a));
    CHECK(!a); // the moved-from state is what is tested
    CHECK(a.native_handle() == nullptr);
    CHECK_THROWS(lookupd_cpp::error, a.tcp_port(), LOOKUPD_ERR_NULL, "handle");
    CHECK_THROWS(lookupd_cpp::error, a.lookup("from_a"), LOOKUPD_ERR_NULL, "handle");
    a.stop(); // nothing to stop
    CHECK(b.tcp_port() == port);
    CHECK(b.topics() == R"({"topics":["from_a"]})");

    // Move assignment stops the instance the target held.
    lookupd_cpp::instance c(CONFIG);
    socket_fd c_nsqd = fake_nsqd(c.tcp_port(), {"from_c"});
    c = std::move(b);
    CHECK(c_nsqd.closed_by_peer()); // c's first instance is gone
    CHECK(!b);
    CHECK(c.tcp_port() == port);
    CHECK(c.topics() == R"({"topics":["from_a"]})");

    // Assigning to a moved-from object revives it.
    a = std::move(c);
    CHECK(a.tcp_port() == port);
    CHECK(!c);
    a.stop();
    CHECK(a_nsqd.closed_by_peer());
}

void test_exceptions() {
    CHECK_THROWS(lookupd_cpp::error, lookupd_cpp::instance("{"), LOOKUPD_ERR_CONFIG, "");
    CHECK_THROWS(lookupd_cpp::error, lookupd_cpp::instance(R"({"bogus":1})"), LOOKUPD_ERR_CONFIG,
                 "bogus");
    CHECK_THROWS(lookupd_cpp::error, lookupd_cpp::instance(R"({"tombstone_lifetime":"soon"})"),
                 LOOKUPD_ERR_CONFIG, "tombstone_lifetime");
    CHECK_THROWS(lookupd_cpp::error, lookupd_cpp::instance(std::string("{}\0x", 4)),
                 LOOKUPD_ERR_INVALID_ARG, "NUL");

    lookupd_cpp::instance l(CONFIG);
    // The port is taken: LOOKUPD_ERR_BIND.
    const std::string taken = R"({"tcp_address":"127.0.0.1:)" + std::to_string(l.tcp_port()) +
                              R"(","http_address":"127.0.0.1:0"})";
    CHECK_THROWS(lookupd_cpp::error, lookupd_cpp::instance(taken), LOOKUPD_ERR_BIND, "failed");

    // TOPIC_NOT_FOUND is its own type, and still an error.
    CHECK_THROWS(lookupd_cpp::topic_not_found, l.lookup("missing"), LOOKUPD_ERR_TOPIC_NOT_FOUND,
                 "missing");
    CHECK_THROWS(lookupd_cpp::error, l.lookup("missing"), LOOKUPD_ERR_TOPIC_NOT_FOUND,
                 "not found");
    CHECK_THROWS(lookupd_cpp::error, l.lookup("bad\xff"), LOOKUPD_ERR_UTF8, "UTF-8");
    CHECK_THROWS(lookupd_cpp::error, l.lookup(std::string("orders\0x", 8)),
                 LOOKUPD_ERR_INVALID_ARG, "NUL");
    CHECK_THROWS(lookupd_cpp::error, l.wait_lookup("not a topic!", 1, milliseconds(60000)),
                 LOOKUPD_ERR_INVALID_ARG, "not a valid name");

    // The message is copied when the call fails: later failures, which
    // replace lookupd_last_error()'s text, do not change it.
    try {
        l.lookup("first");
        CHECK(false);
    } catch (const lookupd_cpp::topic_not_found &e) {
        CHECK_THROWS(lookupd_cpp::topic_not_found, l.lookup("second"),
                     LOOKUPD_ERR_TOPIC_NOT_FOUND, "second");
        CHECK(std::strstr(lookupd_last_error(), "\"second\"") != nullptr);
        CHECK(std::strstr(e.what(), "\"first\"") != nullptr);
    }
}

void test_queries() {
    lookupd_cpp::instance l(CONFIG);
    socket_fd nsqd = fake_nsqd(l.tcp_port(), {"orders billing", "audit"});

    const std::string body = l.lookup("orders");
    CHECK(body.find(R"("tcp_port":4150)") != std::string::npos);
    CHECK(body.find(R"("channels":["billing"])") != std::string::npos);
    // Exactly what the C ABI returns.
    char *raw = nullptr;
    CHECK(lookupd_query_lookup(l.native_handle(), "orders", &raw) == LOOKUPD_OK);
    CHECK(raw != nullptr && body == raw);
    lookupd_string_free(raw);

    CHECK(l.topics() == R"({"topics":["audit","orders"]})");
    CHECK(l.channels("orders") == R"({"channels":["billing"]})");
    CHECK(l.channels("unknown") == R"({"channels":[]})");
    const std::string nodes = l.nodes();
    CHECK(nodes.find(R"("hostname":"cpp-host")") != std::string::npos);
    CHECK(nodes.find(R"("topics":["audit","orders"])") != std::string::npos);
}

void test_wait_sees_a_later_registration() {
    lookupd_cpp::instance l(CONFIG);
    const std::uint16_t tcp = l.tcp_port();
    CHECK_THROWS(lookupd_cpp::topic_not_found, l.lookup("orders"), LOOKUPD_ERR_TOPIC_NOT_FOUND,
                 "orders");

    // The fake nsqd registers once the wait is blocked.
    CHECK(l.waiting() == 0);
    const auto started = clock_type::now();
    std::unique_ptr<socket_fd> nsqd;
    bool waited = false;
    std::thread registrar([&] {
        waited = await_waiting(l, 1);
        nsqd = std::make_unique<socket_fd>(fake_nsqd(tcp, {"orders billing"}));
    });
    std::string body;
    try {
        body = l.wait_lookup("orders", 1, std::chrono::seconds(10));
    } catch (const lookupd_cpp::error &e) {
        std::fprintf(stderr, "  wait_lookup: %s\n", e.what());
        CHECK(false);
    }
    const double elapsed = seconds_since(started);
    registrar.join();
    // Blocked until the registration, which woke it well before its timeout.
    CHECK(waited);
    CHECK(elapsed < 10.0);
    CHECK(l.waiting() == 0);
    CHECK(body == l.lookup("orders"));
    CHECK(body.find(R"("tcp_port":4150)") != std::string::npos);

    // One producer does not satisfy two.
    CHECK_THROWS(lookupd_cpp::wait_timeout, l.wait_lookup("orders", 2, milliseconds(100)),
                 LOOKUPD_ERR_TIMEOUT, "within 100 ms");
}

void test_wait_times_out() {
    lookupd_cpp::instance l(CONFIG);
    const auto started = clock_type::now();
    CHECK_THROWS(lookupd_cpp::wait_timeout, l.wait_lookup("never", 1, milliseconds(300)),
                 LOOKUPD_ERR_TIMEOUT, "within 300 ms");
    const double waited = seconds_since(started);
    CHECK(waited >= 0.3);
    CHECK(waited < 10.0);
    // A negative timeout is no time at all.
    CHECK_THROWS(lookupd_cpp::wait_timeout, l.wait_lookup("never", 1, milliseconds(-5)),
                 LOOKUPD_ERR_TIMEOUT, "within 0 ms");
}

void test_cancel_token() {
    lookupd_cpp::instance l(CONFIG);
    lookupd_cpp::cancel_token token;
    CHECK(static_cast<bool>(token));

    lookupd_result code = LOOKUPD_OK;
    std::thread waiter([&] {
        try {
            l.wait_lookup("never", 1, std::chrono::seconds(60), token);
        } catch (const lookupd_cpp::cancelled &e) {
            code = e.code();
        }
    });
    // Fired during the wait (a token fired before it ends it too, which
    // is tested next).
    CHECK(await_waiting(l, 1));
    const auto fired = clock_type::now();
    token.fire();
    waiter.join();
    CHECK(code == LOOKUPD_ERR_CANCELLED);
    CHECK(seconds_since(fired) < 5.0);

    // Fired before: the next wait ends at once.
    CHECK_THROWS(lookupd_cpp::cancelled, l.wait_lookup("never", 1, std::chrono::seconds(60), token),
                 LOOKUPD_ERR_CANCELLED, "cancelled");

    // A moved-from token is refused rather than meaning "no token".
    lookupd_cpp::cancel_token moved(std::move(token));
    CHECK(!token);
    CHECK_THROWS(lookupd_cpp::error, l.wait_lookup("never", 1, milliseconds(10), token),
                 LOOKUPD_ERR_NULL, "moved from");
    CHECK_THROWS(lookupd_cpp::error, token.fire(), LOOKUPD_ERR_NULL, "cancel");
    // A fresh token does not cancel: the wait times out.
    lookupd_cpp::cancel_token fresh;
    CHECK_THROWS(lookupd_cpp::wait_timeout, l.wait_lookup("never", 1, milliseconds(50), fresh),
                 LOOKUPD_ERR_TIMEOUT, "within 50 ms");
    moved = std::move(fresh); // frees the fired token
}

void test_stop_ends_a_wait_in_progress() {
    for (int round = 0; round < 10; round++) {
        lookupd_cpp::instance l(CONFIG);
        std::atomic<bool> calling{false};
        lookupd_result code = LOOKUPD_OK;
        clock_type::time_point returned;
        std::thread waiter([&] {
            calling = true;
            try {
                l.wait_lookup("never", 1, std::chrono::seconds(60));
            } catch (const lookupd_cpp::stopped &e) {
                code = e.code();
            }
            returned = clock_type::now();
        });
        while (!calling) {
            std::this_thread::yield();
        }
        // No sleep: shutdown() frees nothing, so the wait may begin before
        // or after it, and ends either way; the destructor frees the
        // instance once the waiter is joined.
        const auto stopping = clock_type::now();
        l.shutdown();
        waiter.join();
        CHECK(code == LOOKUPD_ERR_STOPPED);
        CHECK(std::chrono::duration<double>(returned - stopping).count() < 5.0);
        // Queries keep answering after shutdown(), until stop().
        CHECK(l.topics() == "{\"topics\":[]}");
        l.stop();
        CHECK(!l);
    }
}

} // namespace

int main() {
    test_raii_start_and_stop();
    test_default_constructor_is_loopback_on_free_ports();
    test_https_port();
    test_move_semantics();
    test_exceptions();
    test_queries();
    test_wait_sees_a_later_registration();
    test_wait_times_out();
    test_cancel_token();
    test_stop_ends_a_wait_in_progress();
    if (failures != 0) {
        std::fprintf(stderr, "%d check(s) failed\n", failures.load());
        return 1;
    }
    std::printf("C++ wrapper tests passed\n");
    return 0;
}
