// A vhost-user-blk device reachable at a unix socket (DESIGN.md §6; QEMU
// docs/interop/vhost-user.rst, the back-end being the socket's server, as
// qemu-storage-daemon's `--export type=vhost-user-blk,addr.type=unix`):
// the backing store opened once, the socket listened on, and one front-end
// served at a time by a MessageDispatch on the server's own thread. A second
// front-end that connects while one is served is accepted and closed at once
// with a warning, as QEMU's util/vhost-user-server.c vu_accept drops it
// ("Only one vhost-user client is allowed to connect the server one time"):
// it learns at once that the device is taken instead of waiting in the
// listen backlog for a session that may never end.
//
// When a front-end goes (end of stream, a broken message, a protocol
// violation), its queues stop, their I/O finishes, and the server listens
// for the next: the process and the other devices carry on.
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "backend/storage/backing_store.hpp"
#include "backend/vhost_user_blk/device_config.hpp"
#include "backend/vhost_user_blk/device_counters.hpp"
#include "backend/vhost_user_blk/queue_worker.hpp"
#include "common/os/event_fd.hpp"
#include "common/os/unique_fd.hpp"

namespace pvsim::backend::vhost_user_blk {

struct ServerOptions {
    // Where to listen. A stale socket file left there is replaced.
    std::filesystem::path socket_path;
    DeviceOptions device;
    // Prefixes log lines (e.g. the device's xenstore directory).
    std::string name = "vhost-user-blk";
};

class VhostUserBlkServer {
  public:
    // Opens the image (throws std::system_error / std::runtime_error naming
    // it), validates the options (std::invalid_argument), listens on the
    // socket (std::system_error), and starts serving.
    explicit VhostUserBlkServer(ServerOptions options);
    // stop()
    ~VhostUserBlkServer();
    VhostUserBlkServer(const VhostUserBlkServer&) = delete;
    VhostUserBlkServer& operator=(const VhostUserBlkServer&) = delete;

    // Closes the front-end's connection (its queues stop after their I/O),
    // stops listening and removes the socket file. Idempotent.
    void stop();

    const std::filesystem::path& socket_path() const noexcept { return options_.socket_path; }
    const storage::BackingStore& store() const noexcept { return store_; }
    const DeviceConfig& config() const noexcept { return config_; }
    DeviceCounters counters() const noexcept { return metrics_.snapshot(); }
    // Whether a front-end is connected now.
    bool connected() const noexcept { return connected_.load(std::memory_order_acquire); }

  private:
    void run() noexcept;
    void serve(os::UniqueFd connection);
    // Accepts a front-end that connected while another is served, and
    // closes it (vu_accept's refusal).
    void refuse_second_front_end() noexcept;

    const ServerOptions options_;
    storage::BackingStore store_;
    const DeviceConfig config_;
    LiveCounters<DeviceCounters> metrics_;
    std::atomic<bool> writeback_;
    QueueContext context_;
    os::UniqueFd listener_;

    std::atomic<bool> stop_requested_{false};
    std::atomic<bool> connected_{false};
    os::EventFd stop_event_{os::EventFd::Options{.nonblocking = true}};
    std::mutex connection_mutex_;
    int connection_fd_ = -1;  // the one being served, for stop() to shut down
    std::thread thread_;
};

}  // namespace pvsim::backend::vhost_user_blk
