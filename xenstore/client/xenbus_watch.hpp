// A watch whose events run on a given executor (Linux's xenbus_watch_path
// with its callbacks on the xenwatch thread, drivers/xen/xenbus/
// xenbus_client.c and xenbus_xs.c): the client's dispatch thread only posts
// each event; the handler runs on the executor, one event at a time when
// the executor is a strand or single-threaded, and may block there on
// xenstore. A handler that throws is logged with the watch's token and the
// path, and the next event is handled as usual. After stop(), handlers of
// events already posted do not run.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>

#include "xenstore/client/client.hpp"

namespace pvsim::xenstore::client {

class XenbusWatch {
  public:
    // Runs on the executor with the path of the node that changed.
    using Handler = std::function<void(const std::string& path)>;

    XenbusWatch() = default;
    // XS_WATCH of `path` with `token`; the first event is the one xenstored
    // fires at registration.
    XenbusWatch(Client& client, boost::asio::any_io_executor executor, std::string path,
                std::string token, Handler handler);
    XenbusWatch(XenbusWatch&&) noexcept = default;
    XenbusWatch& operator=(XenbusWatch&& other) noexcept;
    // stop(), quietly.
    ~XenbusWatch();

    const std::string& path() const noexcept { return watch_.path(); }
    // Watching: started and not stopped.
    explicit operator bool() const noexcept { return static_cast<bool>(watch_); }

    // XS_UNWATCH; no handler runs after it returns, unless called from a
    // handler of another watch running concurrently on a multi-threaded
    // executor. Idempotent; logs (does not throw) an unwatch that fails
    // because the connection is gone.
    void stop() noexcept;

  private:
    struct Shared;
    std::shared_ptr<Shared> shared_;
    Watch watch_;
};

}  // namespace pvsim::xenstore::client
