#include "xenstore/client/xswait.hpp"

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>

namespace pvsim::xenstore::client {

XswaitResult xswait(Client& client, const std::string& path,
                    const std::function<bool(const std::optional<std::string>&)>& accept,
                    std::chrono::milliseconds timeout) {
    struct Shared {
        std::mutex mutex;
        std::condition_variable changed;
        std::uint64_t events = 0;
    };
    auto shared = std::make_shared<Shared>();
    // xenstored refuses a second watch of one path with the same token on
    // a connection (EEXIST), and callers may wait on one node from several
    // threads: the token names this wait.
    const std::string token =
        "pvsim-xswait:" + std::to_string(reinterpret_cast<std::uintptr_t>(shared.get()));
    // The watch fires at registration and at every write of the node.
    Watch watch = client.watch(path, token, [shared](const WatchEvent&) {
        std::lock_guard lock(shared->mutex);
        ++shared->events;
        shared->changed.notify_all();
    });
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    XswaitResult result;
    for (;;) {
        std::uint64_t before = 0;
        {
            std::lock_guard lock(shared->mutex);
            before = shared->events;
        }
        result.value = client.try_read(path);
        if (accept(result.value)) {
            result.accepted = true;
            return result;
        }
        std::unique_lock lock(shared->mutex);
        if (!shared->changed.wait_until(lock, deadline, [&] { return shared->events != before; })) {
            return result;
        }
    }
}

}  // namespace pvsim::xenstore::client
