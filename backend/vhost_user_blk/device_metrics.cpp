#include "backend/vhost_user_blk/device_metrics.hpp"

namespace pvsim::backend::vhost_user_blk {

DeviceCounters DeviceMetrics::snapshot() const noexcept {
    auto get = [](const Counter& c) { return c.load(std::memory_order_relaxed); };
    DeviceCounters s;
    s.reads = get(reads);
    s.writes = get(writes);
    s.flushes = get(flushes);
    s.get_ids = get(get_ids);
    s.discards = get(discards);
    s.write_zeroes = get(write_zeroes);
    s.other_types = get(other_types);
    s.errors = get(errors);
    s.unsupported = get(unsupported);
    s.bytes_read = get(bytes_read);
    s.bytes_written = get(bytes_written);
    s.indirect_requests = get(indirect_requests);
    s.notifications_sent = get(notifications_sent);
    s.notifications_suppressed = get(notifications_suppressed);
    s.kicks_received = get(kicks_received);
    s.malformed_chains = get(malformed_chains);
    s.broken_queues = get(broken_queues);
    s.bad_messages = get(bad_messages);
    s.protocol_violations = get(protocol_violations);
    s.connections = get(connections);
    s.poll_hits = get(poll_hits);
    s.sleeps = get(sleeps);
    return s;
}

nlohmann::json DeviceCounters::to_json() const {
    return nlohmann::json{
        {"requests", requests()},
        {"reads", reads},
        {"writes", writes},
        {"flushes", flushes},
        {"get_ids", get_ids},
        {"discards", discards},
        {"write_zeroes", write_zeroes},
        {"other_types", other_types},
        {"errors", errors},
        {"unsupported", unsupported},
        {"bytes_read", bytes_read},
        {"bytes_written", bytes_written},
        {"indirect_requests", indirect_requests},
        {"notifications_sent", notifications_sent},
        {"notifications_suppressed", notifications_suppressed},
        {"kicks_received", kicks_received},
        {"malformed_chains", malformed_chains},
        {"broken_queues", broken_queues},
        {"bad_messages", bad_messages},
        {"protocol_violations", protocol_violations},
        {"connections", connections},
        {"poll_hits", poll_hits},
        {"sleeps", sleeps},
    };
}

}  // namespace pvsim::backend::vhost_user_blk
