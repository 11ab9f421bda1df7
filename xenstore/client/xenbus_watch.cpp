#include "xenstore/client/xenbus_watch.hpp"

#include <atomic>
#include <exception>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

namespace pvsim::xenstore::client {

struct XenbusWatch::Shared {
    std::string token;
    Handler handler;
    std::atomic<bool> stopped = false;
};

XenbusWatch::XenbusWatch(Client& client, boost::asio::any_io_executor executor, std::string path,
                         std::string token, Handler handler)
    : shared_(std::make_shared<Shared>()) {
    shared_->token = token;
    shared_->handler = std::move(handler);
    watch_ =
        client.watch(std::move(path), std::move(token),
                     [shared = shared_, executor = std::move(executor)](const WatchEvent& event) {
                         boost::asio::post(executor, [shared, changed = event.path] {
                             if (shared->stopped) {
                                 return;
                             }
                             try {
                                 shared->handler(changed);
                             } catch (const std::exception& e) {
                                 spdlog::error("{}: handling a change of {}: {}", shared->token,
                                               changed, e.what());
                             }
                         });
                     });
}

XenbusWatch& XenbusWatch::operator=(XenbusWatch&& other) noexcept {
    if (this != &other) {
        stop();
        shared_ = std::move(other.shared_);
        watch_ = std::move(other.watch_);
    }
    return *this;
}

XenbusWatch::~XenbusWatch() {
    stop();
}

void XenbusWatch::stop() noexcept {
    if (shared_) {
        shared_->stopped = true;
    }
    try {
        watch_.unwatch();
    } catch (const std::exception& e) {
        spdlog::debug("unwatch {}: {}", watch_.path(), e.what());
    }
}

}  // namespace pvsim::xenstore::client
