// The requests a ring has taken and not yet answered (Linux blkback's
// `struct pending_req` and its free list, xen-blkback/common.h): one slot per
// ring slot, so a frontend can never have more in flight than there are
// slots here, and a burst costs no allocation. A slot's index is the tag its
// I/O carries through the engine.
#pragma once

#include <sys/uio.h>

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "backend/blkback/request_check.hpp"
#include "common/xen/blkif.hpp"
#include "common/xen/grant_table.hpp"

namespace pvsim::backend::blkback {

struct PendingRequest {
    enum class Stage : std::uint8_t {
        io,     // the read, write or flush itself
        flush,  // a BLKIF_OP_FLUSH_DISKCACHE with data: its write is done
    };

    CheckedRequest request;
    Stage stage = Stage::io;
    // Where its segments' grants went in the burst's batched map.
    std::size_t first_map = 0;
    // Grant handles still mapped, in segment order.
    std::array<xen::GrantHandle, xen::kBlkifMaxSegmentsPerRequest> handles{};
    std::uint8_t mapped = 0;
    // The segments in this process's address space.
    std::array<iovec, xen::kBlkifMaxSegmentsPerRequest> iov{};
};

class PendingTable {
  public:
    explicit PendingTable(std::uint32_t slots) : slots_(slots) {
        free_.reserve(slots);
        for (std::uint32_t i = slots; i > 0; --i) {
            free_.push_back(i - 1);
        }
    }

    std::uint32_t size() const noexcept { return static_cast<std::uint32_t>(slots_.size()); }
    std::uint32_t in_use() const noexcept {
        return size() - static_cast<std::uint32_t>(free_.size());
    }
    bool full() const noexcept { return free_.empty(); }

    // A free slot, reset; nullopt when every slot is taken.
    std::optional<std::uint32_t> take() {
        if (free_.empty()) {
            return std::nullopt;
        }
        const std::uint32_t index = free_.back();
        free_.pop_back();
        slots_[index] = PendingRequest{};
        return index;
    }
    void release(std::uint32_t index) { free_.push_back(index); }

    PendingRequest& operator[](std::uint32_t index) noexcept { return slots_[index]; }

  private:
    std::vector<PendingRequest> slots_;
    std::vector<std::uint32_t> free_;
};

}  // namespace pvsim::backend::blkback
