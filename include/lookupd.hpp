/*
 * lookupd.hpp: a header-only C++17 wrapper over the C ABI in lookupd.h.
 *
 * Written by hand (unlike lookupd.h, which cbindgen generates); it uses
 * only the functions lookupd.h declares, so it links against the shared
 * or the static library alike.
 *
 *   lookupd_cpp::instance l;   // TCP and HTTP on 127.0.0.1, free ports
 *   std::string body = l.wait_lookup("orders", 1, std::chrono::seconds(5));
 *   // l's destructor stops the instance
 *
 * A default-constructed instance listens on loopback only, on ports the
 * system picks (loopback_config); the C library's own defaults, Go
 * nsqlookupd's 0.0.0.0:4160 and :4161 on every interface, are asked for
 * explicitly: instance(nullptr) or instance("{}").
 *
 * Failures throw lookupd_cpp::error (or a subclass for the results a host
 * usually handles: topic_not_found, wait_timeout, stopped, cancelled),
 * carrying the lookupd_result code and lookupd_last_error()'s text, read
 * on the failing thread right after the failing call.
 *
 * Stopping and waiting (the rule of lookupd.h, in C++ terms):
 * - An instance may be used from many threads at once: every const member
 *   function is safe to call concurrently.
 * - stop(), the destructor and move-assigning over an instance stop it.
 *   That may happen while other threads are INSIDE a call on it (blocked
 *   in wait_lookup(), say): their waits throw lookupd_cpp::stopped at
 *   once, and stop() returns only after every call in progress has
 *   returned.
 * - But no call may BEGIN once stopping has begun: the host must order
 *   that, e.g. by joining its threads before the instance goes out of
 *   scope. A thread that is only about to call wait_lookup() when another
 *   stops the instance races with the free. When you cannot order it,
 *   call shutdown() (it ends every wait, in progress or begun later, and
 *   frees nothing), join the waiting threads, then stop.
 * - A cancel_token ends the waits given it alone, and must outlive them.
 */
#ifndef LOOKUPD_HPP
#define LOOKUPD_HPP

#include <chrono>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "lookupd.h"

/*
 * The namespace is lookupd_cpp, not lookupd: lookupd.h declares
 * `typedef struct lookupd lookupd;` in the global namespace, and C++ does
 * not allow a namespace and a type of the same name in one scope (the
 * header could then not be included at all).
 */
namespace lookupd_cpp {

/// Any failure of a lookupd call: the C result code and the message
/// lookupd_last_error() gave for it.
class error : public std::runtime_error {
  public:
    error(lookupd_result code, const std::string &message)
        : std::runtime_error(message), code_(code) {}

    /// The lookupd_result the C function returned (never LOOKUPD_OK).
    lookupd_result code() const noexcept { return code_; }

  private:
    lookupd_result code_;
};

/// LOOKUPD_ERR_TOPIC_NOT_FOUND: lookup() of a topic nobody registered
/// (HTTP's 404).
class topic_not_found : public error {
  public:
    explicit topic_not_found(const std::string &message)
        : error(LOOKUPD_ERR_TOPIC_NOT_FOUND, message) {}
};

/// LOOKUPD_ERR_TIMEOUT: a wait's time ran out first.
class wait_timeout : public error {
  public:
    explicit wait_timeout(const std::string &message) : error(LOOKUPD_ERR_TIMEOUT, message) {}
};

/// LOOKUPD_ERR_STOPPED: the instance was shut down or stopped while the
/// wait was in progress, or shut down before it began.
class stopped : public error {
  public:
    explicit stopped(const std::string &message) : error(LOOKUPD_ERR_STOPPED, message) {}
};

/// LOOKUPD_ERR_CANCELLED: the wait's cancel_token was fired.
class cancelled : public error {
  public:
    explicit cancelled(const std::string &message) : error(LOOKUPD_ERR_CANCELLED, message) {}
};

namespace detail {

/// Throws the exception for a failed call. Must run on the thread that
/// made the call, before any other lookupd call on it, so that
/// lookupd_last_error() still describes this failure.
[[noreturn]] inline void throw_result(lookupd_result code) {
    const char *last = lookupd_last_error();
    std::string message = last != nullptr ? last : "lookupd call failed";
    switch (code) {
    case LOOKUPD_ERR_TOPIC_NOT_FOUND:
        throw topic_not_found(message);
    case LOOKUPD_ERR_TIMEOUT:
        throw wait_timeout(message);
    case LOOKUPD_ERR_STOPPED:
        throw stopped(message);
    case LOOKUPD_ERR_CANCELLED:
        throw cancelled(message);
    default:
        throw error(code, message);
    }
}

inline void check(lookupd_result code) {
    if (code != LOOKUPD_OK) {
        throw_result(code);
    }
}

/// Frees a string lookupd returned.
struct string_deleter {
    void operator()(char *s) const noexcept { lookupd_string_free(s); }
};

using string_ptr = std::unique_ptr<char, string_deleter>;

/// Calls `f(out)` where `out` is a `char **` out-parameter, and returns
/// the string it wrote as a std::string (the lookupd copy is freed even
/// if the copy throws).
template <class F> std::string take_string(F &&f) {
    char *raw = nullptr;
    check(std::forward<F>(f)(&raw));
    string_ptr owned(raw);
    return std::string(owned.get());
}

/// A std::string as a C string argument. lookupd reads NUL-terminated
/// strings, so an embedded NUL would silently cut the argument short:
/// refuse it instead.
inline const char *c_arg(const std::string &s, const char *what) {
    if (s.find('\0') != std::string::npos) {
        throw error(LOOKUPD_ERR_INVALID_ARG, std::string(what) + " contains a NUL byte");
    }
    return s.c_str();
}

/// A timeout in whole milliseconds as the C ABI takes it: negative is 0,
/// and anything beyond what uint32_t holds (about 49.7 days) is clamped.
inline std::uint32_t timeout_ms(std::chrono::milliseconds timeout) noexcept {
    using limits = std::numeric_limits<std::uint32_t>;
    if (timeout.count() <= 0) {
        return 0;
    }
    if (static_cast<unsigned long long>(timeout.count()) > limits::max()) {
        return limits::max();
    }
    return static_cast<std::uint32_t>(timeout.count());
}

} // namespace detail

/// The library's version, e.g. "0.1.0 (nsq 1.3.0)".
inline std::string version() { return lookupd_version(); }

/// What a default-constructed instance is started with: TCP and HTTP on
/// 127.0.0.1, ports the system picks (read them with tcp_port() and
/// http_port()). Reachable from this machine only, and never in the way
/// of another lookupd (or a test running beside it) on the usual ports.
inline constexpr const char *loopback_config =
    R"({"tcp_address":"127.0.0.1:0","http_address":"127.0.0.1:0"})";

/// A cancel token (lookupd_cancel) for wait_lookup(): fire() it, from any
/// thread, to end every wait given it with lookupd_cpp::cancelled, those
/// in progress and those begun later. Move-only; a moved-from token is
/// empty and cannot be fired or waited with. The token must outlive every
/// wait that uses it.
class cancel_token {
  public:
    cancel_token() { detail::check(lookupd_cancel_new(&token_)); }
    ~cancel_token() { lookupd_cancel_free(token_); }

    cancel_token(const cancel_token &) = delete;
    cancel_token &operator=(const cancel_token &) = delete;
    cancel_token(cancel_token &&other) noexcept : token_(std::exchange(other.token_, nullptr)) {}
    cancel_token &operator=(cancel_token &&other) noexcept {
        if (this != &other) {
            lookupd_cancel_free(token_);
            token_ = std::exchange(other.token_, nullptr);
        }
        return *this;
    }

    /// Ends every wait given this token. Any number of times.
    void fire() const { detail::check(lookupd_cancel_fire(token_)); }

    /// Whether this object holds a token (false once moved from).
    explicit operator bool() const noexcept { return token_ != nullptr; }

    /// The C token, for lookupd_wait_lookup_cancellable().
    const lookupd_cancel *get() const noexcept { return token_; }

  private:
    lookupd_cancel *token_ = nullptr;
};

/// A running lookupd (the C `lookupd *`), started by the constructor and
/// stopped by the destructor. Move-only: a moved-from instance is empty
/// (its calls throw error with code LOOKUPD_ERR_NULL), and moving into an
/// instance stops the one it held. See the header comment for when stop
/// may run while other threads use the instance.
class instance {
  public:
    /// Starts an instance on loopback_config: TCP and HTTP on 127.0.0.1,
    /// ports the system picks. Throws error if it cannot start.
    instance() : instance(loopback_config) {}

    /// Starts an instance. `config_json` is a JSON object with the config
    /// file's keys, e.g.
    /// {"tcp_address":"127.0.0.1:0","http_address":"127.0.0.1:0"}; NULL or
    /// "{}" means the library's defaults, Go nsqlookupd's: 0.0.0.0:4160 and
    /// 0.0.0.0:4161, every interface. Throws error (LOOKUPD_ERR_CONFIG,
    /// _BIND, ...) if it cannot start.
    explicit instance(const char *config_json) {
        detail::check(lookupd_start(config_json, &handle_));
    }
    explicit instance(const std::string &config_json)
        : instance(detail::c_arg(config_json, "config_json")) {}

    ~instance() { reset(); }

    instance(const instance &) = delete;
    instance &operator=(const instance &) = delete;
    instance(instance &&other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    /// Stops the instance this one held, then takes over `other`'s.
    instance &operator=(instance &&other) noexcept {
        if (this != &other) {
            reset();
            handle_ = std::exchange(other.handle_, nullptr);
        }
        return *this;
    }

    /// Stops now (the destructor then has nothing to do): closes every
    /// connection, ends waits in progress with lookupd_cpp::stopped, joins
    /// the instance's threads. Does nothing on an empty instance. Throws
    /// error only for LOOKUPD_ERR_PANIC (the instance is freed anyway).
    void stop() { detail::check(lookupd_stop(std::exchange(handle_, nullptr))); }

    /// Stops serving and ends every wait on the instance (in progress or
    /// later) with lookupd_cpp::stopped, without freeing it: safe while
    /// other threads use the instance. Join those threads, then let the
    /// destructor (or stop()) free it.
    void shutdown() const { detail::check(lookupd_shutdown(handle_)); }

    /// Whether this object holds a running instance (false once stopped or
    /// moved from).
    explicit operator bool() const noexcept { return handle_ != nullptr; }

    /// The C handle, for calls this wrapper does not cover. Still owned by
    /// this object: never pass it to lookupd_stop().
    ::lookupd *native_handle() const noexcept { return handle_; }

    /// The bound TCP port (the one nsqd connects to).
    std::uint16_t tcp_port() const {
        std::uint16_t port = 0;
        detail::check(lookupd_tcp_port(handle_, &port));
        return port;
    }

    /// The bound HTTP port.
    std::uint16_t http_port() const {
        std::uint16_t port = 0;
        detail::check(lookupd_http_port(handle_, &port));
        return port;
    }

    /// The bound HTTPS port, or 0 when the instance serves no HTTPS (no
    /// "https_address" in its configuration).
    std::uint16_t https_port() const {
        std::uint16_t port = 0;
        detail::check(lookupd_https_port(handle_, &port));
        return port;
    }

    /// How many wait_lookup() calls are blocked on the instance now: those
    /// that did not find enough producers at their first look and have not
    /// returned. A host (or a test) learns from it that its waiting
    /// threads are inside their wait, without sleeping.
    std::uint32_t waiting() const {
        std::uint32_t count = 0;
        detail::check(lookupd_waiting(handle_, &count));
        return count;
    }

    /// Exactly the body of GET /lookup?topic=<topic>. Throws
    /// topic_not_found for a topic nobody registered.
    std::string lookup(const std::string &topic) const {
        const char *t = detail::c_arg(topic, "topic");
        return detail::take_string([&](char **out) { return lookupd_query_lookup(handle_, t, out); });
    }

    /// Exactly the body of GET /topics.
    std::string topics() const {
        return detail::take_string([&](char **out) { return lookupd_query_topics(handle_, out); });
    }

    /// Exactly the body of GET /channels?topic=<topic>.
    std::string channels(const std::string &topic) const {
        const char *t = detail::c_arg(topic, "topic");
        return detail::take_string(
            [&](char **out) { return lookupd_query_channels(handle_, t, out); });
    }

    /// Exactly the body of GET /nodes.
    std::string nodes() const {
        return detail::take_string([&](char **out) { return lookupd_query_nodes(handle_, out); });
    }

    /// Blocks until GET /lookup?topic=<topic> lists at least
    /// `min_producers` producers (0: until the topic exists) and returns
    /// that body. Woken by registry changes, never by polling. Throws
    /// wait_timeout when `timeout` passes first (it is clamped to
    /// [0, 2^32-1] ms), stopped when the instance is stopped meanwhile,
    /// and error with LOOKUPD_ERR_INVALID_ARG for a topic that is not a
    /// valid name.
    std::string wait_lookup(const std::string &topic, std::uint32_t min_producers,
                            std::chrono::milliseconds timeout) const {
        const char *t = detail::c_arg(topic, "topic");
        const std::uint32_t ms = detail::timeout_ms(timeout);
        return detail::take_string([&](char **out) {
            return lookupd_wait_lookup(handle_, t, min_producers, ms, out);
        });
    }

    /// wait_lookup() that also throws cancelled once `cancel` is fired
    /// (before or during the wait). `cancel` must outlive the call.
    std::string wait_lookup(const std::string &topic, std::uint32_t min_producers,
                            std::chrono::milliseconds timeout, const cancel_token &cancel) const {
        if (!cancel) {
            // A NULL token would silently mean "not cancellable".
            throw error(LOOKUPD_ERR_NULL, "cancel token is empty (moved from)");
        }
        const char *t = detail::c_arg(topic, "topic");
        const std::uint32_t ms = detail::timeout_ms(timeout);
        return detail::take_string([&](char **out) {
            return lookupd_wait_lookup_cancellable(handle_, t, min_producers, ms, cancel.get(),
                                                   out);
        });
    }

  private:
    void reset() noexcept {
        // The only possible failure is LOOKUPD_ERR_PANIC, after which the
        // handle is freed anyway; a destructor has nobody to tell.
        (void)lookupd_stop(std::exchange(handle_, nullptr));
    }

    ::lookupd *handle_ = nullptr;
};

} // namespace lookupd_cpp

#endif /* LOOKUPD_HPP */
