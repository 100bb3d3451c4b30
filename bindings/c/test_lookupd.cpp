// Tests of the C++17 wrapper include/lookupd.hpp, under AddressSanitizer
// and UBSan: RAII start and stop, move semantics, exceptions (code and
// message), queries against a fake nsqd registered over TCP, and waits
// (a registration from another thread, a timeout, a cancel token, a stop).

#include "lookupd.hpp"

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

    const auto started = clock_type::now();
    std::unique_ptr<socket_fd> nsqd;
    std::thread registrar([&] {
        std::this_thread::sleep_for(milliseconds(200));
        nsqd = std::make_unique<socket_fd>(fake_nsqd(tcp, {"orders billing"}));
    });
    std::string body;
    try {
        body = l.wait_lookup("orders", 1, std::chrono::seconds(10));
    } catch (const lookupd_cpp::error &e) {
        std::fprintf(stderr, "  wait_lookup: %s\n", e.what());
        CHECK(false);
    }
    const double waited = seconds_since(started);
    registrar.join();
    CHECK(waited >= 0.2);
    CHECK(waited < 10.0);
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

// How long a thread about to call wait_lookup is given to get inside it
// before the token is fired, so that the firing most likely lands during
// the wait (a token fired before the wait begins ends it too).
constexpr milliseconds settle{50};

void test_cancel_token() {
    lookupd_cpp::instance l(CONFIG);
    lookupd_cpp::cancel_token token;
    CHECK(static_cast<bool>(token));

    std::atomic<bool> calling{false};
    lookupd_result code = LOOKUPD_OK;
    std::thread waiter([&] {
        calling = true;
        try {
            l.wait_lookup("never", 1, std::chrono::seconds(60), token);
        } catch (const lookupd_cpp::cancelled &e) {
            code = e.code();
        }
    });
    while (!calling) {
        std::this_thread::yield();
    }
    std::this_thread::sleep_for(settle);
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
