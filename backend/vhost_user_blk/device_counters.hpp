// The counters of one vhost-user-blk device, for logs and the bench tables
// (the virtio contract's "Device" list; DESIGN.md §10: notification counts
// are what the design controls). Queue threads and the message dispatch
// write them; any thread may read. They belong to the device and survive a
// front-end's reconnection.
#pragma once

#include <array>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "common/counter_set.hpp"

namespace pvsim::backend::vhost_user_blk {

struct DeviceCounters {
    // Requests by type (VIRTIO_BLK_T_*), and those of a type the device does
    // not know or did not offer.
    std::uint64_t reads = 0;
    std::uint64_t writes = 0;
    std::uint64_t flushes = 0;
    std::uint64_t get_ids = 0;
    std::uint64_t discards = 0;
    std::uint64_t write_zeroes = 0;
    std::uint64_t other_types = 0;
    std::uint64_t errors = 0;       // answered VIRTIO_BLK_S_IOERR
    std::uint64_t unsupported = 0;  // answered VIRTIO_BLK_S_UNSUPP
    std::uint64_t bytes_read = 0;
    std::uint64_t bytes_written = 0;
    std::uint64_t indirect_requests = 0;
    // Used-buffer notifications written to the call eventfd, and used-ring
    // updates after which vring_need_event (or NO_INTERRUPT) said none.
    std::uint64_t notifications_sent = 0;
    std::uint64_t notifications_suppressed = 0;
    // Kick eventfd reads that found the counter non-zero.
    std::uint64_t kicks_received = 0;
    // Chains that could not be walked (returned with nothing written), and
    // queues stopped for a bad avail index or head.
    std::uint64_t malformed_chains = 0;
    std::uint64_t broken_queues = 0;
    // vhost-user messages refused, and connections closed for a protocol
    // violation; front-ends served, and those refused because another was.
    std::uint64_t bad_messages = 0;
    std::uint64_t protocol_violations = 0;
    std::uint64_t connections = 0;
    std::uint64_t refused_connections = 0;
    // Adaptive polling: work found while polling, and sleeps.
    std::uint64_t poll_hits = 0;
    std::uint64_t sleeps = 0;
    // Times it enabled the driver's kicks again before sleeping.
    std::uint64_t events_armed = 0;

    std::uint64_t requests() const noexcept {
        return reads + writes + flushes + get_ids + discards + write_zeroes + other_types;
    }
    // Every field by its name, and "requests".
    nlohmann::json to_json() const;

    static constexpr auto kFields = std::to_array<CounterField<DeviceCounters>>({
        {"reads", &DeviceCounters::reads},
        {"writes", &DeviceCounters::writes},
        {"flushes", &DeviceCounters::flushes},
        {"get_ids", &DeviceCounters::get_ids},
        {"discards", &DeviceCounters::discards},
        {"write_zeroes", &DeviceCounters::write_zeroes},
        {"other_types", &DeviceCounters::other_types},
        {"errors", &DeviceCounters::errors},
        {"unsupported", &DeviceCounters::unsupported},
        {"bytes_read", &DeviceCounters::bytes_read},
        {"bytes_written", &DeviceCounters::bytes_written},
        {"indirect_requests", &DeviceCounters::indirect_requests},
        {"notifications_sent", &DeviceCounters::notifications_sent},
        {"notifications_suppressed", &DeviceCounters::notifications_suppressed},
        {"kicks_received", &DeviceCounters::kicks_received},
        {"malformed_chains", &DeviceCounters::malformed_chains},
        {"broken_queues", &DeviceCounters::broken_queues},
        {"bad_messages", &DeviceCounters::bad_messages},
        {"protocol_violations", &DeviceCounters::protocol_violations},
        {"connections", &DeviceCounters::connections},
        {"refused_connections", &DeviceCounters::refused_connections},
        {"poll_hits", &DeviceCounters::poll_hits},
        {"sleeps", &DeviceCounters::sleeps},
        {"events_armed", &DeviceCounters::events_armed},
    });
};

}  // namespace pvsim::backend::vhost_user_blk
