// xs_wire messages over a unix stream socket: how dom0, the toolstack and
// Debian's xenstore-utils reach xenstored (libxenstore's xs_open on
// xs_daemon_socket(): $XENSTORED_PATH, else the daemon's socket; in pvsim
// the run directory's, RunDir::xenstored_socket()).
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>

#include "common/os/unique_fd.hpp"
#include "xenstore/client/transport.hpp"

namespace pvsim::xenstore::client {

class SocketTransport final : public Transport {
  public:
    // Over a connected unix stream socket (e.g. one end of a socketpair).
    explicit SocketTransport(os::UniqueFd socket);

    // Connects to xenstored's socket at `path`. Throws std::system_error
    // naming the path when nothing listens there.
    static std::unique_ptr<SocketTransport> connect(const std::filesystem::path& path);

    void send(const xen::xs::MessageHeader& header, std::string_view payload) override;
    std::optional<Message> receive() override;
    void shutdown() noexcept override;

  private:
    // Fills `buffer`; false at end of stream.
    bool read_exactly(std::span<std::byte> buffer);

    os::UniqueFd socket_;
    std::mutex send_mutex_;  // one message at a time on the stream
    std::atomic<bool> shut_down_{false};
};

}  // namespace pvsim::xenstore::client
