// A vhost-user-blk device written in the test, in a thread of its own, so
// the driver's handshake and its reaction to a device that misbehaves can
// be checked request by request: it records what it is sent, answers the
// handshake as told (features, a refused request, a hang-up after an ack)
// and serves virtio-blk requests on queue 0 from a RAM disk, or answers
// them with a used element that names no chain.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "common/os/event_fd.hpp"
#include "common/os/shared_memory.hpp"
#include "common/os/unique_fd.hpp"
#include "common/virtio/vhost_user.hpp"
#include "common/virtio/virtio_blk.hpp"
#include "common/virtio/virtqueue_view.hpp"
#include "frontend/virtio_blk/vhost_user_socket.hpp"

namespace pvsim::test {

using vhost_user::Request;

struct ScriptedDeviceOptions {
    std::uint64_t features = virtio::feature_mask(virtio::Feature::version_1) |
                             virtio::feature_mask(virtio::Feature::event_idx) |
                             virtio::feature_mask(virtio::Feature::indirect_desc) |
                             virtio::feature_mask(virtio::BlkFeature::seg_max) |
                             virtio::feature_mask(vhost_user::kFProtocolFeatures);
    std::uint64_t protocol_features =
        vhost_user::protocol_feature_mask(vhost_user::ProtocolFeature::reply_ack) |
        vhost_user::protocol_feature_mask(vhost_user::ProtocolFeature::config);
    std::uint64_t capacity = 2048;  // sectors
    std::uint32_t seg_max = 8;
    std::optional<Request> refuse{};         // ack this one with 1
    std::optional<Request> hang_up_after{};  // close the socket after answering this one
    // GET_CONFIG of more than this is answered with nothing, as
    // qemu-storage-daemon 7.2 answers one of a larger virtio_blk_config.
    std::uint32_t max_config_size = sizeof(virtio::VirtioBlkConfig);
    bool bad_used_id = false;  // answer requests with a used id no chain has
};

class ScriptedDevice {
  public:
    ScriptedDevice(const std::filesystem::path& path, ScriptedDeviceOptions options)
        : options_(options), disk_(options.capacity * 512) {
        listener_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
        if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
            ::listen(listener_.get(), 1) != 0) {
            throw std::runtime_error("scripted device: bind/listen failed");
        }
        thread_ = std::thread([this] { run(); });
    }
    ~ScriptedDevice() {
        stop_.signal();
        thread_.join();
    }

    std::vector<Request> requests() {
        std::lock_guard lock(mutex_);
        return requests_;
    }
    bool saw_eof() const { return eof_.load(); }

  private:
    void record(Request request) {
        std::lock_guard lock(mutex_);
        requests_.push_back(request);
    }
    static std::vector<std::byte> u64(std::uint64_t value) {
        std::vector<std::byte> out(8);
        std::memcpy(out.data(), &value, 8);
        return out;
    }
    void reply(Request request, std::span<const std::byte> payload) {
        frontend::virtio_blk::send_vhost_user(connection_.get(), request, vhost_user::reply_flags(),
                                              payload);
    }

    void run() {
        pollfd accept_fds[2] = {{listener_.get(), POLLIN, 0}, {stop_.fd(), POLLIN, 0}};
        ::poll(accept_fds, 2, -1);
        if ((accept_fds[1].revents & POLLIN) != 0) {
            return;
        }
        connection_.reset(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        for (;;) {
            pollfd fds[3] = {{connection_.get(), POLLIN, 0},
                             {stop_.fd(), POLLIN, 0},
                             {kick_ ? kick_->fd() : -1, POLLIN, 0}};
            ::poll(fds, 3, -1);
            if ((fds[1].revents & POLLIN) != 0) {
                return;
            }
            if ((fds[2].revents & POLLIN) != 0) {
                kick_->try_consume();
                serve();
            }
            if ((fds[0].revents & (POLLIN | POLLHUP)) != 0 && !handle_message()) {
                return;
            }
        }
    }

    // One message; false once the connection is over.
    bool handle_message() {
        vhost_user::Message message;
        try {
            message = frontend::virtio_blk::receive_vhost_user(connection_.get(),
                                                               std::chrono::seconds(5));
        } catch (const frontend::virtio_blk::VhostUserError&) {
            eof_ = true;
            return false;
        }
        const auto request = static_cast<Request>(message.header.request);
        record(request);
        std::uint64_t value = 0;
        if (message.payload.size() >= 8) {
            std::memcpy(&value, message.payload.data(), 8);
        }
        switch (request) {
            case Request::get_features:
                reply(request, u64(options_.features));
                break;
            case Request::get_protocol_features:
                reply(request, u64(options_.protocol_features));
                break;
            case Request::set_protocol_features:
                acked_protocol_ = value;
                break;
            case Request::get_queue_num:
                reply(request, u64(1));
                break;
            case Request::get_config: {
                virtio::VirtioBlkConfig config{};
                config.capacity = options_.capacity;
                config.seg_max = options_.seg_max;
                std::vector<std::byte> answer = message.payload;
                if (answer.size() - vhost_user::kConfigHeaderSize > options_.max_config_size) {
                    reply(request, {});
                    break;
                }
                std::memcpy(answer.data() + vhost_user::kConfigHeaderSize, &config,
                            answer.size() - vhost_user::kConfigHeaderSize);
                reply(request, answer);
                break;
            }
            case Request::set_mem_table: {
                vhost_user::MemoryRegion region{};
                std::memcpy(&region, message.payload.data() + vhost_user::kMemoryRegionsOffset,
                            sizeof(region));
                memory_.emplace(os::SharedMemory::map_fd(std::move(message.fds.at(0))));
                userspace_addr_ = region.userspace_addr;
                break;
            }
            case Request::set_vring_num:
                std::memcpy(&queue_size_, message.payload.data() + 4, 4);
                break;
            case Request::set_vring_addr: {
                vhost_user::VringAddr addr{};
                std::memcpy(&addr, message.payload.data(), sizeof(addr));
                auto at = [&](std::uint64_t user, std::size_t size) {
                    return std::span<std::byte>(memory_->data() + (user - userspace_addr_), size);
                };
                view_ = virtio::SplitVirtqView::from_parts(
                    queue_size_, at(addr.desc_user_addr, virtio::desc_table_size(queue_size_)),
                    at(addr.avail_user_addr, virtio::avail_ring_size(queue_size_)),
                    at(addr.used_user_addr, virtio::used_ring_size(queue_size_)));
                break;
            }
            case Request::set_vring_kick:
                kick_.emplace(std::move(message.fds.at(0)));
                break;
            case Request::set_vring_call:
                call_.emplace(std::move(message.fds.at(0)));
                call_->signal();  // as libvhost-user does
                break;
            case Request::get_vring_base: {
                const vhost_user::VringState state{.index = 0, .num = last_avail_};
                reply(request, std::as_bytes(std::span(&state, 1)));
                break;
            }
            default:
                break;
        }
        if (vhost_user::needs_reply(message.header.flags)) {
            reply(request, u64(options_.refuse == request ? 1 : 0));
        }
        if (options_.hang_up_after == request) {
            connection_.reset();
            return false;
        }
        return true;
    }

    std::byte* guest(std::uint64_t gpa) { return memory_->data() + gpa; }

    // Takes every available request and answers it; then, as EVENT_IDX
    // asks, wants a kick for the next one (and looks once more).
    void serve() {
        for (;;) {
            serve_available();
            view_->arm_avail_event(last_avail_);
            if (view_->avail_idx() == last_avail_) {
                break;
            }
        }
        call_->signal();
    }

    void serve_available() {
        while (view_->avail_idx() != last_avail_) {
            const std::uint16_t head = view_->avail_ring(last_avail_++);
            std::vector<virtio::VirtqDesc> chain;
            virtio::VirtqDesc desc = view_->desc(head);
            if ((desc.flags & virtio::kDescFIndirect) != 0) {
                for (std::size_t i = 0; i < desc.len / sizeof(desc); ++i) {
                    virtio::VirtqDesc entry;
                    std::memcpy(&entry, guest(desc.addr) + i * sizeof(entry), sizeof(entry));
                    chain.push_back(entry);
                }
            } else {
                for (;;) {
                    chain.push_back(desc);
                    if ((desc.flags & virtio::kDescFNext) == 0) {
                        break;
                    }
                    desc = view_->desc(desc.next);
                }
            }
            virtio::VirtioBlkOutHdr header;
            std::memcpy(&header, guest(chain.front().addr), sizeof(header));
            std::uint64_t offset = header.sector * 512;
            std::uint8_t status = 0;
            for (std::size_t i = 1; i + 1 < chain.size(); ++i) {
                const auto type = static_cast<virtio::BlkReqType>(header.type);
                if (type == virtio::BlkReqType::in) {
                    std::memcpy(guest(chain[i].addr), disk_.data() + offset, chain[i].len);
                } else if (type == virtio::BlkReqType::out) {
                    std::memcpy(disk_.data() + offset, guest(chain[i].addr), chain[i].len);
                } else {
                    status = static_cast<std::uint8_t>(virtio::BlkStatus::unsupp);
                }
                offset += chain[i].len;
            }
            std::memcpy(guest(chain.back().addr), &status, 1);
            const std::uint32_t id = options_.bad_used_id ? 999 : head;
            view_->set_used_elem(used_, {.id = id, .len = 1});
            view_->publish_used_idx(++used_);
        }
    }

    ScriptedDeviceOptions options_;
    std::vector<std::byte> disk_;
    os::UniqueFd listener_;
    os::UniqueFd connection_;
    os::EventFd stop_;
    std::optional<os::SharedMemory> memory_;
    std::uint64_t userspace_addr_ = 0;
    std::uint64_t acked_protocol_ = 0;
    std::uint32_t queue_size_ = 0;
    std::optional<virtio::SplitVirtqView> view_;
    std::optional<os::EventFd> kick_;
    std::optional<os::EventFd> call_;
    std::uint16_t last_avail_ = 0;
    std::uint16_t used_ = 0;
    std::mutex mutex_;
    std::vector<Request> requests_;
    std::atomic<bool> eof_{false};
    std::thread thread_;
};

}  // namespace pvsim::test
