#include "backend/vhost_user_blk/vhost_user_server.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <system_error>
#include <utility>

#include <spdlog/spdlog.h>

#include "backend/vhost_user_blk/message_dispatch.hpp"
#include "common/virtio/vhost_user_channel.hpp"

namespace pvsim::backend::vhost_user_blk {
namespace {

storage::BackingStore open_store(const DeviceOptions& options) {
    validate(options);
    return storage::BackingStore::open(
        options.image,
        storage::OpenOptions{
            .access = options.read_only ? storage::Access::read_only : storage::Access::read_write,
            .direct = options.direct});
}

// Listens at `path` for this user only (whoever connects reaches the guest's
// disk): bound under umask 0177, as os::listen_private does. A socket file
// left by a dead device is removed first; any other file there is an error.
os::UniqueFd listen_at(const std::filesystem::path& path) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const std::string text = path.string();
    if (text.empty() || text.size() >= sizeof(address.sun_path)) {
        throw std::system_error(ENAMETOOLONG, std::system_category(),
                                "vhost-user socket path " + text);
    }
    std::memcpy(address.sun_path, text.c_str(), text.size() + 1);
    struct stat st {};
    if (::lstat(text.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            throw std::system_error(EEXIST, std::system_category(),
                                    "vhost-user socket path " + text + " is not a socket");
        }
        ::unlink(text.c_str());
    }
    os::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) {
        os::throw_system_error("socket for " + text);
    }
    const mode_t old_mask = ::umask(0177);
    const int bound =
        ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address));
    const int bind_errno = errno;
    ::umask(old_mask);
    if (bound != 0) {
        os::throw_system_error("bind " + text, bind_errno);
    }
    if (::listen(fd.get(), 4) != 0) {
        os::throw_system_error("listen " + text);
    }
    return fd;
}

// Whether `fd` has something to read (a message or the end of the stream)
// now, without waiting.
bool readable_now(int fd) {
    pollfd entry{fd, POLLIN, 0};
    return ::poll(&entry, 1, 0) > 0;
}

}  // namespace

VhostUserBlkServer::VhostUserBlkServer(ServerOptions options)
    : options_(std::move(options)),
      store_(open_store(options_.device)),
      config_(DeviceConfig::describe(store_, options_.device)),
      writeback_(config_.config_space().wce != 0),
      context_{.store = store_,
               .config = config_,
               .metrics = metrics_,
               .writeback = writeback_,
               .poll_max = options_.device.poll_max,
               .engine = options_.device.engine},
      listener_(listen_at(options_.socket_path)) {
    spdlog::info("{}: serving {} ({} sectors{}) at {}", options_.name, store_.path().string(),
                 store_.sectors(), config_.limits().read_only ? ", read-only" : "",
                 options_.socket_path.string());
    thread_ = std::thread([this] { run(); });
}

VhostUserBlkServer::~VhostUserBlkServer() {
    stop();
}

void VhostUserBlkServer::stop() {
    if (!thread_.joinable()) {
        return;
    }
    stop_requested_.store(true, std::memory_order_release);
    stop_event_.signal();
    {
        // A front-end in the middle of a message would hold the thread in a
        // read: end the stream under it.
        std::lock_guard lock(connection_mutex_);
        if (connection_fd_ >= 0) {
            ::shutdown(connection_fd_, SHUT_RDWR);
        }
    }
    thread_.join();
    listener_.reset();
    std::error_code ignored;
    std::filesystem::remove(options_.socket_path, ignored);
    spdlog::info("{}: stopped", options_.name);
}

void VhostUserBlkServer::run() noexcept {
    while (!stop_requested_.load(std::memory_order_acquire)) {
        pollfd fds[2] = {{listener_.get(), POLLIN, 0}, {stop_event_.fd(), POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            spdlog::error("{}: poll: {}", options_.name, std::strerror(errno));
            return;
        }
        if ((fds[1].revents & POLLIN) != 0) {
            return;
        }
        os::UniqueFd connection(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (!connection) {
            spdlog::warn("{}: accept: {}", options_.name, std::strerror(errno));
            continue;
        }
        try {
            serve(std::move(connection));
        } catch (const std::exception& e) {
            spdlog::error("{}: the front-end's session failed: {}", options_.name, e.what());
        }
    }
}

void VhostUserBlkServer::serve(os::UniqueFd connection) {
    metrics_.add(&DeviceCounters::connections);
    {
        std::lock_guard lock(connection_mutex_);
        connection_fd_ = connection.get();
    }
    connected_.store(true, std::memory_order_release);
    spdlog::info("{}: a front-end connected", options_.name);
    struct Detach {
        VhostUserBlkServer& server;
        ~Detach() {
            std::lock_guard lock(server.connection_mutex_);
            server.connection_fd_ = -1;
            server.connected_.store(false, std::memory_order_release);
        }
    } detach{*this};
    // Destroyed before `connection` (a parameter): the queues stop before
    // the socket closes.
    MessageDispatch dispatch(context_, options_.name);
    while (!stop_requested_.load(std::memory_order_acquire)) {
        pollfd fds[3] = {{connection.get(), POLLIN, 0},
                         {stop_event_.fd(), POLLIN, 0},
                         {listener_.get(), POLLIN, 0}};
        if (::poll(fds, 3, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            os::throw_system_error("poll (vhost-user connection)");
        }
        if ((fds[1].revents & POLLIN) != 0) {
            break;
        }
        if (fds[0].revents == 0) {
            // Only a front-end that connects while this one is still here is
            // refused: one that replaces it (this end of stream came first)
            // waits, level-triggered, for run() to accept it.
            if ((fds[2].revents & POLLIN) != 0 && !readable_now(connection.get())) {
                refuse_second_front_end();
            }
            continue;
        }
        vhost_user::Message message;
        try {
            message = vhost_user::receive_message(connection.get());
        } catch (const vhost_user::ChannelClosed&) {
            spdlog::info("{}: the front-end disconnected", options_.name);
            break;
        } catch (const vhost_user::ChannelError& e) {
            metrics_.add(&DeviceCounters::protocol_violations);
            spdlog::error("{}: {}: closing the connection", options_.name, e.what());
            break;
        }
        try {
            if (!dispatch.handle(message, connection.get())) {
                break;
            }
        } catch (const vhost_user::ChannelError& e) {
            spdlog::warn("{}: replying to the front-end: {}", options_.name, e.what());
            break;
        }
    }
    dispatch.stop_queues();
}

void VhostUserBlkServer::refuse_second_front_end() noexcept {
    const os::UniqueFd refused(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!refused) {
        spdlog::warn("{}: accept: {}", options_.name, std::strerror(errno));
        return;
    }
    metrics_.add(&DeviceCounters::refused_connections);
    spdlog::warn(
        "{}: refused a second front-end: only one vhost-user front-end is served at a "
        "time, and one is connected",
        options_.name);
}

}  // namespace pvsim::backend::vhost_user_blk
