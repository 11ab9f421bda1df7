// The moving parts under a xenstore client: one reader thread takes every
// message off the transport and hands each reply to the caller waiting for
// its req_id, while XS_WATCH_EVENT messages go to a queue that one dispatch
// thread empties into the watch callbacks. Callbacks therefore never run on
// the reader thread, and may themselves call xenstore (libxenstore's reader
// thread likewise keeps watch events apart from replies, xs.c read_thread).
//
// Callers block for their reply; any number of threads may call at once.
// When the connection is lost (xenstored closed it, the stream broke, or
// close()), every waiting call fails with ECONNRESET naming why, and later
// calls fail at once.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "common/xen/xs_wire.hpp"
#include "xenstore/client/error.hpp"
#include "xenstore/client/transport.hpp"

namespace pvsim::xenstore::client {

// One XS_WATCH_EVENT: the node that changed (relative when the watch was
// registered with a relative path, as xenstored reports it) and the token
// the watch was registered with.
struct WatchEvent {
    std::string path;
    std::string token;
};
using WatchCallback = std::function<void(const WatchEvent&)>;

class Connection {
  public:
    using WatchId = std::uint64_t;

    explicit Connection(std::unique_ptr<Transport> transport);
    ~Connection();  // close()
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // Sends `type` with `payload` in transaction `tx_id` (0: none) and
    // blocks for the reply's payload. Throws Error with xenstored's errno
    // for an XS_ERROR reply, E2BIG before sending a payload over
    // XENSTORE_PAYLOAD_MAX, ECONNRESET when the connection is lost, EPROTO
    // for a reply of another type. `subject` names what the call is about
    // in error messages (a path, a domid).
    std::string call(xen::xs::MessageType type, std::uint32_t tx_id, std::string_view payload,
                     std::string_view subject);

    // Registers a callback for events carrying `token` on `path` or below.
    // Register before sending XS_WATCH: the event the watch fires with at
    // registration may arrive before its reply.
    WatchId add_watch(std::string path, std::string token, WatchCallback callback);
    // Forgets callbacks; when these return, none of them is running or will
    // run again, unless called from a callback itself (which is allowed).
    // remove_watch says whether `id` was still registered.
    bool remove_watch(WatchId id);
    void remove_watches(std::string_view path, std::string_view token);
    void remove_all_watches();

    bool connected() const;

    // Shuts the transport down, fails the calls waiting for replies and
    // stops both threads. Idempotent. Must not be called from a watch
    // callback (std::logic_error): the dispatch thread cannot join itself.
    void close();

  private:
    struct WatchEntry {
        std::string path;
        std::string token;
        WatchCallback callback;
        bool registered = true;  // guarded by watch_mutex_
    };

    void read_loop();
    void dispatch_loop();
    void dispatch(const WatchEvent& event);
    // Records why the connection is gone (the first reason wins) and shuts
    // the transport down, so that the reader fails every waiting call.
    void lose(std::string reason);
    Error lost_error(xen::xs::MessageType type, std::string_view subject) const;
    // Returns once no callback is running, unless on the dispatch thread.
    void wait_for_callbacks();

    std::unique_ptr<Transport> transport_;

    mutable std::mutex mutex_;  // guards the calls' state below
    std::map<std::uint32_t, std::promise<std::optional<Message>>> pending_;  // by req_id
    std::uint32_t next_req_id_ = 1;
    std::optional<std::string> lost_;  // why the connection is gone

    std::mutex watch_mutex_;  // guards the watch table
    std::map<WatchId, std::shared_ptr<WatchEntry>> watches_;
    WatchId next_watch_id_ = 1;
    std::mutex callback_mutex_;  // held by the dispatch thread while callbacks run

    std::mutex queue_mutex_;  // guards the event queue
    std::condition_variable queue_changed_;
    std::deque<WatchEvent> queue_;
    bool stop_dispatch_ = false;

    std::mutex close_mutex_;  // one close() at a time
    std::thread reader_;
    std::thread dispatcher_;
};

}  // namespace pvsim::xenstore::client
