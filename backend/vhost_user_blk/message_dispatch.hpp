// One front-end's vhost-user session with the device: every request of the
// front-end handled in one place, in the manner of libvhost-user's
// vu_process_message (QEMU docs/interop/vhost-user.rst for the semantics):
// feature and protocol-feature negotiation, SET_OWNER, GET/SET_CONFIG,
// SET_MEM_TABLE, the SET_VRING_* family and GET_VRING_BASE, with a
// QueueWorker started for each queue once it has its size, addresses, kick
// fd and (with VHOST_USER_F_PROTOCOL_FEATURES) SET_VRING_ENABLE 1.
//
// A request that is wrong (unknown, wrong payload size, missing fd, values
// out of range, SET_VRING_ADDR outside the memory table, too many memory
// regions...) is logged and refused: with REPLY_ACK asked, the ack is
// nonzero; the session goes on. A request whose answer the front-end waits
// for and cannot be given (GET_VRING_BASE of no queue) and a header with a
// bad version are protocol violations: handle() returns false and the
// server closes the connection; the device serves the next front-end.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "backend/vhost_user_blk/device_config.hpp"
#include "backend/vhost_user_blk/device_counters.hpp"
#include "backend/vhost_user_blk/memory_table.hpp"
#include "backend/vhost_user_blk/queue_worker.hpp"
#include "common/os/event_fd.hpp"
#include "common/virtio/vhost_user_channel.hpp"

namespace pvsim::backend::vhost_user_blk {

class MessageDispatch {
  public:
    // `context` outlives the session. `name` prefixes log lines.
    MessageDispatch(const QueueContext& context, std::string name);
    // Stops every queue (their I/O finishes first).
    ~MessageDispatch();
    MessageDispatch(const MessageDispatch&) = delete;
    MessageDispatch& operator=(const MessageDispatch&) = delete;

    // Handles one message, writing its reply (or REPLY_ACK answer) to
    // `socket_fd`. False when the connection must be closed.
    bool handle(vhost_user::Message& message, int socket_fd);

    // Stops every running queue, keeping their state. Idempotent.
    void stop_queues();

    std::uint64_t acked_features() const noexcept { return features_; }
    bool queue_running(unsigned index) const noexcept;

  private:
    // What a handler decided.
    struct Result {
        enum class Kind { ok, error, violation } kind = Kind::ok;
        std::string reason;
        // The handler has sent the request's own reply (GET_*).
        bool replied = false;
    };
    static Result ok() { return {}; }
    static Result replied() { return Result{Result::Kind::ok, {}, true}; }
    static Result error(std::string reason) {
        return Result{Result::Kind::error, std::move(reason)};
    }
    static Result violation(std::string reason) {
        return Result{Result::Kind::violation, std::move(reason)};
    }

    struct VringState {
        std::uint32_t num = 0;  // 0: SET_VRING_NUM not seen
        std::optional<vhost_user::VringAddr> addr;
        std::uint16_t base = 0;  // next avail index (SET/GET_VRING_BASE)
        std::shared_ptr<os::EventFd> kick;
        std::shared_ptr<CallNotifier> call = std::make_shared<CallNotifier>();
        bool enabled = false;
        std::unique_ptr<QueueWorker> worker;
    };

    Result dispatch(vhost_user::Message& message, int socket_fd);
    Result get_features(int socket_fd);
    Result set_features(const vhost_user::Message& message);
    Result get_protocol_features(int socket_fd);
    Result set_protocol_features(const vhost_user::Message& message);
    Result set_owner(const vhost_user::Message& message);
    Result get_queue_num(int socket_fd);
    Result get_config(const vhost_user::Message& message, int socket_fd);
    Result set_config(const vhost_user::Message& message);
    Result set_mem_table(vhost_user::Message& message);
    Result set_vring_num(const vhost_user::Message& message);
    Result set_vring_addr(const vhost_user::Message& message);
    Result set_vring_base(const vhost_user::Message& message);
    Result get_vring_base(const vhost_user::Message& message, int socket_fd);
    Result set_vring_fd(vhost_user::Message& message);  // KICK, CALL, ERR
    Result set_vring_enable(const vhost_user::Message& message);

    // Index check shared by the SET_VRING_* family.
    std::optional<std::string> bad_index(std::uint32_t index) const;
    // The three parts of queue `index` in this process, checked; or why not.
    std::optional<virtio::SplitVirtqView> ring_view(unsigned index, std::string& why) const;
    // Starts the queue if it has everything it needs and is not running.
    void maybe_start(unsigned index);
    void stop_queue(unsigned index);
    bool any_queue_running() const noexcept;
    // VHOST_USER_F_PROTOCOL_FEATURES acked in SET_FEATURES: rings then start
    // disabled, until SET_VRING_ENABLE.
    bool protocol_features_acked() const noexcept {
        return (features_ & virtio::feature_mask(vhost_user::kFProtocolFeatures)) != 0;
    }
    bool reply_ack() const noexcept;

    const QueueContext& context_;
    const std::string name_;
    std::uint64_t features_ = 0;
    bool features_set_ = false;
    std::uint64_t protocol_features_ = 0;
    bool protocol_features_set_ = false;
    bool owner_ = false;
    std::shared_ptr<const MemoryTable> memory_;
    std::array<VringState, kMaxQueues> vrings_;
};

}  // namespace pvsim::backend::vhost_user_blk
