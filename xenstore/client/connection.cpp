#include "xenstore/client/connection.hpp"

#include <cerrno>
#include <exception>
#include <stdexcept>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

namespace pvsim::xenstore::client {
namespace {

using xen::xs::MessageType;

// Whether an event on `fired` belongs to a watch on `watched`: the node
// itself or a node below it (libxenstore's xs_path_is_subpath; a watch on
// "/" covers every absolute path).
bool covers(std::string_view watched, std::string_view fired) {
    if (!fired.starts_with(watched)) {
        return false;
    }
    return fired.size() == watched.size() || watched.ends_with('/') || fired[watched.size()] == '/';
}

}  // namespace

Connection::Connection(std::unique_ptr<Transport> transport) : transport_(std::move(transport)) {
    if (!transport_) {
        throw std::invalid_argument("xenstore client: no transport");
    }
    reader_ = std::thread([this] { read_loop(); });
    try {
        dispatcher_ = std::thread([this] { dispatch_loop(); });
    } catch (...) {
        lose("the client could not start");
        reader_.join();
        throw;
    }
}

Connection::~Connection() {
    try {
        close();
    } catch (const std::exception& e) {
        // Only a close from a watch callback gets here; the threads cannot
        // be joined and would outlive this object.
        spdlog::critical("xenstore client destroyed from its own watch callback: {}", e.what());
        std::terminate();
    }
}

std::string Connection::call(MessageType type, std::uint32_t tx_id, std::string_view payload,
                             std::string_view subject) {
    if (payload.size() > xen::xs::kPayloadMax) {
        throw Error(type, subject, E2BIG, "E2BIG",
                    "payload of " + std::to_string(payload.size()) + " bytes, at most " +
                        std::to_string(xen::xs::kPayloadMax));
    }
    xen::xs::MessageHeader header{static_cast<std::uint32_t>(type), 0, tx_id,
                                  static_cast<std::uint32_t>(payload.size())};
    std::future<std::optional<Message>> reply_future;
    {
        const std::lock_guard lock(mutex_);
        if (lost_) {
            throw lost_error(type, subject);
        }
        do {
            header.req_id = next_req_id_++;
        } while (pending_.contains(header.req_id));
        reply_future = pending_[header.req_id].get_future();
    }
    try {
        transport_->send(header, payload);
    } catch (const std::exception& e) {
        // Part of a frame may have gone out: the stream is unusable. The
        // reader fails every waiting call, this one included.
        lose(std::string("sending failed: ") + e.what());
    }
    std::optional<Message> reply = reply_future.get();
    if (!reply) {
        const std::lock_guard lock(mutex_);
        throw lost_error(type, subject);
    }
    if (reply->type() == MessageType::error) {
        // The payload is the errno's name, nul-terminated (xsd_errors).
        std::string name = reply->payload.substr(0, reply->payload.find('\0'));
        const int errnum = xen::xs::error_number(name).value_or(EINVAL);
        if (name.empty()) {
            name = "EINVAL";
        }
        throw Error(type, subject, errnum, std::move(name));
    }
    if (reply->type() != type) {
        throw Error(type, subject, EPROTO, "EPROTO",
                    "xenstored answered with " + std::string(xen::xs::name(reply->type())));
    }
    return std::move(reply->payload);
}

Error Connection::lost_error(MessageType type, std::string_view subject) const {
    return Error(type, subject, ECONNRESET, "ECONNRESET", lost_.value_or("connection lost"));
}

void Connection::lose(std::string reason) {
    {
        const std::lock_guard lock(mutex_);
        if (!lost_) {
            lost_ = std::move(reason);
        }
    }
    transport_->shutdown();
}

bool Connection::connected() const {
    const std::lock_guard lock(mutex_);
    return !lost_;
}

void Connection::read_loop() {
    std::string reason = "xenstored closed the connection";
    try {
        while (std::optional<Message> message = transport_->receive()) {
            if (message->type() == MessageType::watch_event) {
                // "path\0token\0" (xs_wire.h: XS_WATCH_PATH, XS_WATCH_TOKEN).
                const std::string& payload = message->payload;
                const std::size_t path_end = payload.find('\0');
                if (path_end == std::string::npos) {
                    spdlog::warn("xenstore client: dropped a watch event without a token");
                    continue;
                }
                const std::size_t token_end = payload.find('\0', path_end + 1);
                WatchEvent event{payload.substr(0, path_end),
                                 payload.substr(path_end + 1, token_end == std::string::npos
                                                                  ? std::string::npos
                                                                  : token_end - path_end - 1)};
                {
                    const std::lock_guard lock(queue_mutex_);
                    queue_.push_back(std::move(event));
                }
                queue_changed_.notify_one();
                continue;
            }
            std::promise<std::optional<Message>> waiter;
            {
                const std::lock_guard lock(mutex_);
                auto node = pending_.extract(message->header.req_id);
                if (node.empty()) {
                    spdlog::warn(
                        "xenstore client: dropped a {} reply to req_id {}, which no "
                        "call is waiting for",
                        xen::xs::name(message->type()), message->header.req_id);
                    continue;
                }
                waiter = std::move(node.mapped());
            }
            waiter.set_value(std::move(message));
        }
    } catch (const std::exception& e) {
        reason = std::string("connection broken: ") + e.what();
    }
    lose(std::move(reason));
    std::map<std::uint32_t, std::promise<std::optional<Message>>> waiting;
    {
        const std::lock_guard lock(mutex_);
        waiting.swap(pending_);
    }
    for (auto& [req_id, waiter] : waiting) {
        waiter.set_value(std::nullopt);
    }
}

void Connection::dispatch_loop() {
    for (;;) {
        WatchEvent event;
        {
            std::unique_lock lock(queue_mutex_);
            queue_changed_.wait(lock, [&] { return stop_dispatch_ || !queue_.empty(); });
            if (stop_dispatch_) {
                return;
            }
            event = std::move(queue_.front());
            queue_.pop_front();
        }
        dispatch(event);
    }
}

void Connection::dispatch(const WatchEvent& event) {
    // Held while callbacks run, and looked up under it, so that a watch
    // removed from another thread is either waited for or not called.
    const std::lock_guard running(callback_mutex_);
    std::vector<std::shared_ptr<WatchEntry>> targets;
    {
        const std::lock_guard lock(watch_mutex_);
        for (const auto& [id, entry] : watches_) {
            if (entry->token == event.token && covers(entry->path, event.path)) {
                targets.push_back(entry);
            }
        }
    }
    if (targets.empty()) {
        // Normal after an unwatch: events already on their way still come.
        spdlog::debug("xenstore client: no watch for event {} (token {})", event.path, event.token);
    }
    for (const std::shared_ptr<WatchEntry>& entry : targets) {
        {
            // An earlier callback of this event may have removed it.
            const std::lock_guard lock(watch_mutex_);
            if (!entry->registered) {
                continue;
            }
        }
        try {
            entry->callback(event);
        } catch (const std::exception& e) {
            spdlog::error("xenstore watch callback for {} (token {}) failed: {}", event.path,
                          event.token, e.what());
        } catch (...) {
            spdlog::error("xenstore watch callback for {} (token {}) failed", event.path,
                          event.token);
        }
    }
}

Connection::WatchId Connection::add_watch(std::string path, std::string token,
                                          WatchCallback callback) {
    if (!callback) {
        throw std::invalid_argument("xenstore watch on " + path + ": no callback");
    }
    auto entry = std::make_shared<WatchEntry>(
        WatchEntry{std::move(path), std::move(token), std::move(callback), true});
    const std::lock_guard lock(watch_mutex_);
    const WatchId id = next_watch_id_++;
    watches_.emplace(id, std::move(entry));
    return id;
}

void Connection::wait_for_callbacks() {
    if (std::this_thread::get_id() != dispatcher_.get_id()) {
        const std::lock_guard running(callback_mutex_);
    }
}

bool Connection::remove_watch(WatchId id) {
    bool removed = false;
    {
        const std::lock_guard lock(watch_mutex_);
        if (auto it = watches_.find(id); it != watches_.end()) {
            it->second->registered = false;
            watches_.erase(it);
            removed = true;
        }
    }
    wait_for_callbacks();
    return removed;
}

void Connection::remove_watches(std::string_view path, std::string_view token) {
    {
        const std::lock_guard lock(watch_mutex_);
        std::erase_if(watches_, [&](const auto& item) {
            const auto& entry = item.second;
            if (entry->path != path || entry->token != token) {
                return false;
            }
            entry->registered = false;
            return true;
        });
    }
    wait_for_callbacks();
}

void Connection::remove_all_watches() {
    {
        const std::lock_guard lock(watch_mutex_);
        for (auto& [id, entry] : watches_) {
            entry->registered = false;
        }
        watches_.clear();
    }
    wait_for_callbacks();
}

void Connection::close() {
    if (std::this_thread::get_id() == dispatcher_.get_id()) {
        throw std::logic_error("a xenstore client cannot be closed from its own watch callback");
    }
    const std::lock_guard lock(close_mutex_);
    lose("the client closed the connection");
    if (reader_.joinable()) {
        reader_.join();
    }
    {
        const std::lock_guard queue_lock(queue_mutex_);
        stop_dispatch_ = true;
    }
    queue_changed_.notify_all();
    if (dispatcher_.joinable()) {
        dispatcher_.join();
    }
}

}  // namespace pvsim::xenstore::client
