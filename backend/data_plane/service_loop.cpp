#include "backend/data_plane/service_loop.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include <spdlog/spdlog.h>

#include "common/os/unique_fd.hpp"

namespace pvsim::backend::data_plane {

void wait_for_events(pollfd* fds, nfds_t count, int timeout_ms) {
    while (::poll(fds, count, timeout_ms) < 0) {
        if (errno != EINTR) {
            os::throw_system_error("poll");
        }
    }
}

void warn_io_failed(std::string_view name, const std::string& what, std::int64_t result,
                    std::int64_t expected) {
    if (result < 0) {
        spdlog::warn("{}: {}: {}", name, what, std::strerror(static_cast<int>(-result)));
    } else {
        spdlog::warn("{}: {}: {} of {} bytes", name, what, result, expected);
    }
}

void wait_for_completion(const storage::IoEngine& engine, std::string_view name) {
    pollfd entry{engine.completion_fd(), POLLIN, 0};
    if (::poll(&entry, 1, -1) >= 0 || errno == EINTR) {
        return;
    }
    const int err = errno;
    spdlog::error("{}: poll while draining: {}; looking again in 1 ms", name, std::strerror(err));
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void log_error(std::string_view name, std::string_view what) noexcept {
    spdlog::error("{}: {}", name, what);
}

void report_late_events(std::string_view name, unsigned spurious, bool first) {
    spdlog::log(first ? spdlog::level::warn : spdlog::level::debug,
                "{}: notified {} times in a row with no new request on the ring: its events are "
                "taken late, up to {} ms, until one brings a request (XSA-332)",
                name, spurious, (LateEoi::kHz * LateEoi::kJiffy).count());
}

std::unique_ptr<storage::IoEngine> make_loop_engine(const storage::BackingStore& store,
                                                    const LoopOptions& options) {
    storage::EngineOptions engine_options;
    engine_options.kind = options.engine;
    engine_options.queue_depth = options.queue_depth;
    return storage::make_engine(store.io_target(), engine_options);
}

}  // namespace pvsim::backend::data_plane
