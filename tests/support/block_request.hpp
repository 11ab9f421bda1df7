// Requests through a BlockDevice (frontend/block_device.hpp) for tests:
// one without a completion, for tests that check how requests are checked
// or split (frontend/request_check.hpp, the drivers' request_builder.hpp),
// and one submitted and waited for.
#pragma once

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>

#include <gtest/gtest.h>

#include "frontend/block_device.hpp"

namespace pvsim::test {

inline frontend::BlockRequest request_of(frontend::BlockOperation operation, std::uint64_t sector,
                                         const frontend::GuestBuffer* buffer,
                                         std::uint64_t discard_sectors = 0) {
    frontend::BlockRequest request;
    request.operation = operation;
    request.sector = sector;
    request.buffer = buffer;
    request.discard_sectors = discard_sectors;
    return request;
}

// Submits one request and waits for its status (bounded: a hang fails the
// test and returns -ETIMEDOUT).
inline int run_one(frontend::BlockDevice& device, frontend::BlockOperation operation,
                   std::uint64_t sector, const frontend::GuestBuffer* buffer,
                   std::uint64_t discard_sectors = 0) {
    std::mutex mutex;
    std::condition_variable done;
    std::optional<int> status;
    frontend::BlockRequest request = request_of(operation, sector, buffer, discard_sectors);
    request.done = [&](int s) {
        std::lock_guard lock(mutex);
        status = s;
        done.notify_all();
    };
    device.submit({&request, 1});
    std::unique_lock lock(mutex);
    if (!done.wait_for(lock, std::chrono::seconds(30), [&] { return status.has_value(); })) {
        ADD_FAILURE() << "request never completed";
        return -ETIMEDOUT;
    }
    return *status;
}

}  // namespace pvsim::test
