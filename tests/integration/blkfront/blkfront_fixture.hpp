// What the blkfront tests share: I/O buffers in the domain's own memory
// (whole pages, as GuestBuffer wants them) with patterned contents, and a
// collector of completion callbacks to wait on, and one request run to its
// completion.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <vector>

#include "frontend/blkfront/blkfront_ring.hpp"
#include "frontend/block_device.hpp"
#include "hypervisor/client/domain_memory.hpp"

namespace pvsim::test {

// `length` bytes over whole pages of `memory`, freed when destroyed.
class IoBuffer {
  public:
    IoBuffer(hypervisor::DomainMemory& memory, std::size_t length) : memory_(memory) {
        buffer_.length = length;
        const std::size_t pages = (length + xen::kXenPageSize - 1) / xen::kXenPageSize;
        for (std::size_t i = 0; i < pages; ++i) {
            buffer_.pages.push_back(memory_.allocate_page());
        }
    }
    ~IoBuffer() {
        for (hypervisor::Gfn gfn : buffer_.pages) {
            memory_.free_page(gfn);
        }
    }
    IoBuffer(const IoBuffer&) = delete;
    IoBuffer& operator=(const IoBuffer&) = delete;

    const frontend::GuestBuffer& guest() const { return buffer_; }
    frontend::GuestBuffer& guest() { return buffer_; }

    // Byte i of the buffer gets pattern(seed, i).
    void fill(std::uint32_t seed) {
        std::vector<std::byte> bytes = pattern(seed, buffer_.length);
        for (std::size_t i = 0; i < buffer_.pages.size(); ++i) {
            const std::size_t offset = i * xen::kXenPageSize;
            const std::size_t n = std::min(xen::kXenPageSize, buffer_.length - offset);
            std::memcpy(memory_.page(buffer_.pages[i]).data(), bytes.data() + offset, n);
        }
    }
    std::vector<std::byte> bytes() const {
        std::vector<std::byte> out(buffer_.length);
        for (std::size_t i = 0; i < buffer_.pages.size(); ++i) {
            const std::size_t offset = i * xen::kXenPageSize;
            const std::size_t n = std::min(xen::kXenPageSize, buffer_.length - offset);
            std::memcpy(out.data() + offset, memory_.page(buffer_.pages[i]).data(), n);
        }
        return out;
    }

    static std::vector<std::byte> pattern(std::uint32_t seed, std::size_t length) {
        std::vector<std::byte> bytes(length);
        std::uint32_t x = seed * 2654435761u + 1;
        for (std::size_t i = 0; i < length; ++i) {
            x = x * 1103515245u + 12345u;
            bytes[i] = static_cast<std::byte>(x >> 16);
        }
        return bytes;
    }

  private:
    hypervisor::DomainMemory& memory_;
    frontend::GuestBuffer buffer_;
};

// Records completion statuses in the order callbacks ran.
class Completions {
  public:
    frontend::BlockCompletion callback() {
        return [this](int status) {
            std::lock_guard lock(mutex_);
            statuses_.push_back(status);
            changed_.notify_all();
        };
    }
    // Waits until `count` callbacks ran (bounded, to turn a hang into a
    // failure).
    bool wait_for(std::size_t count, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, limit, [&] { return statuses_.size() >= count; });
    }
    std::vector<int> statuses() {
        std::lock_guard lock(mutex_);
        return statuses_;
    }
    std::size_t count() {
        std::lock_guard lock(mutex_);
        return statuses_.size();
    }

  private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<int> statuses_;
};

inline frontend::BlockRequest make_request(frontend::BlockOperation operation, std::uint64_t sector,
                                           const frontend::GuestBuffer* buffer,
                                           frontend::BlockCompletion done) {
    frontend::BlockRequest request;
    request.operation = operation;
    request.sector = sector;
    request.buffer = buffer;
    request.done = std::move(done);
    return request;
}

// The data plane of xvda (51712) served by domain 0: `sectors`, and a
// backend that flushes its cache.
inline frontend::blkfront::DataPlaneConfig xvda_config(std::uint64_t sectors) {
    frontend::blkfront::DataPlaneConfig config;
    config.name = "device/vbd/51712";
    config.backend_id = 0;
    config.handle = 51712;
    config.disk.sectors = sectors;
    config.disk.feature_flush_cache = true;
    return config;
}

// Submits one request of `op` to `device` and waits for its status
// (`buffer` null for a flush or discard).
inline int run_one(frontend::BlockDevice& device, frontend::BlockOperation op, std::uint64_t sector,
                   const IoBuffer* buffer, std::uint64_t discard_sectors = 0) {
    Completions done;
    frontend::BlockRequest request =
        make_request(op, sector, buffer ? &buffer->guest() : nullptr, done.callback());
    request.discard_sectors = discard_sectors;
    device.submit({&request, 1});
    EXPECT_TRUE(done.wait_for(1));
    const std::vector<int> statuses = done.statuses();
    return statuses.empty() ? -ETIMEDOUT : statuses.front();
}

}  // namespace pvsim::test
