// vhost-user messages as the vhost-user-blk device handles them
// (backend/vhost_user_blk/message_dispatch.hpp, QEMU docs/interop/
// vhost-user.rst): one front-end's session, each message given to
// MessageDispatch::handle as VhostUserServer gives it what
// vhost_user::receive_message framed. The harness builds each Message
// itself (header, then a payload of header.size bytes cut to what the
// input holds and to kMaxPayloadSize, as the framing guarantees) so that
// it can attach fds:
//   - each message carries 0 to 3 fds, all of one kind the input chooses:
//     eventfds (what SET_VRING_KICK/CALL/ERR want) or 256 KiB memory files
//     (what SET_MEM_TABLE maps, so regions inside them map and rings in
//     them can start a queue);
//   - fds a handler does not take are closed with the Message, as the
//     server's are.
// Replies go to one end of a socketpair, drained after every message. A
// queue that gets its size, addresses in the table, a kick fd and enable
// starts its QueueWorker (the sync engine, no polling) over a 1 MiB store;
// the session's end stops them. handle() returning false (a protocol
// violation) or throwing ChannelError ends the session, as the server
// closes the connection.
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <system_error>
#include <vector>

#include <spdlog/spdlog.h>

#include "backend/storage/backing_store.hpp"
#include "backend/vhost_user_blk/device_config.hpp"
#include "backend/vhost_user_blk/device_counters.hpp"
#include "backend/vhost_user_blk/message_dispatch.hpp"
#include "backend/vhost_user_blk/queue_worker.hpp"
#include "common/os/unique_fd.hpp"
#include "common/virtio/vhost_user.hpp"
#include "common/virtio/vhost_user_channel.hpp"
#include "tests/fuzz/fuzz_input.hpp"
#include "tests/fuzz/guest_memory.hpp"

namespace vhost_user_fuzz {

namespace storage = pvsim::backend::storage;
namespace vhost_user = pvsim::vhost_user;
using pvsim::backend::vhost_user_blk::DeviceConfig;
using pvsim::backend::vhost_user_blk::DeviceCounters;
using pvsim::backend::vhost_user_blk::DeviceOptions;
using pvsim::backend::vhost_user_blk::MessageDispatch;
using pvsim::backend::vhost_user_blk::QueueContext;
using pvsim::fuzz::FuzzInput;
using pvsim::os::UniqueFd;

constexpr std::size_t kStoreBytes = 1 << 20;
constexpr std::size_t kMemoryFileBytes = 256 * 1024;
constexpr unsigned kMaxMessages = 64;

// The device: its store, configuration and counters, set up once
// (libFuzzer's model: one process, input after input; only the session
// is per input).
struct Device {
    Device()
        : image(pvsim::fuzz::memory_file(kStoreBytes)),
          store(storage::BackingStore::open("/proc/self/fd/" + std::to_string(image.get()))),
          config(DeviceConfig::describe(store, DeviceOptions{.image = {},
                                                             .num_queues = 2,
                                                             .queue_size = 256,
                                                             .poll_max = {},
                                                             .engine = storage::EngineKind::sync})),
          context{.store = store,
                  .config = config,
                  .metrics = metrics,
                  .writeback = writeback,
                  .poll_max = {},
                  .engine = storage::EngineKind::sync} {}

    UniqueFd image;
    storage::BackingStore store;
    DeviceConfig config;
    pvsim::LiveCounters<DeviceCounters> metrics;
    std::atomic<bool> writeback{true};
    QueueContext context;
};

Device& device() {
    static Device instance;
    return instance;
}

UniqueFd make_fd(bool memory) {
    if (memory) {
        return pvsim::fuzz::memory_file(kMemoryFileBytes);
    }
    UniqueFd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!fd) {
        throw std::system_error(errno, std::system_category(), "eventfd");
    }
    return fd;
}

// What the front-end reads back, thrown away.
void drain(int fd) {
    std::array<char, 4096> buffer;
    while (::recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT) > 0) {
    }
}

}  // namespace vhost_user_fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace vhost_user_fuzz;
    static const bool quiet = (spdlog::set_level(spdlog::level::off), true);
    (void)quiet;
    Device& dev = device();
    int sockets[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) != 0) {
        throw std::system_error(errno, std::system_category(), "socketpair");
    }
    const UniqueFd device_end(sockets[0]);
    const UniqueFd frontend_end(sockets[1]);
    FuzzInput input(data, size);
    MessageDispatch session(dev.context, "fuzz");
    for (unsigned n = 0; n < kMaxMessages && !input.empty(); ++n) {
        const auto fd_choice = input.take<std::uint8_t>();
        vhost_user::Message message;
        message.header = input.take<vhost_user::Header>();
        const auto payload = input.take_bytes(
            std::min<std::size_t>(message.header.size, vhost_user::kMaxPayloadSize));
        message.header.size = static_cast<std::uint32_t>(payload.size());
        message.payload.resize(payload.size());
        FuzzInput::copy(message.payload.data(), payload);
        for (unsigned i = 0; i < (fd_choice & 3u); ++i) {
            message.fds.push_back(make_fd((fd_choice & 4u) != 0));
        }
        try {
            if (!session.handle(message, device_end.get())) {
                break;
            }
        } catch (const vhost_user::ChannelError&) {
            break;
        }
        drain(frontend_end.get());
    }
    session.stop_queues();
    return 0;
}
