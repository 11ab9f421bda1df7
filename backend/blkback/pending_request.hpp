// The requests a ring has taken and not yet answered (Linux blkback's
// `struct pending_req` and its free list, xen-blkback/common.h): one slot per
// ring slot, so a frontend can never have more in flight than there are
// slots here, and a burst costs no allocation: each slot has room, made
// once, for the most segments a request of the vbd may carry (Linux
// allocates MAX_INDIRECT_SEGMENTS per pending_req the same way). A slot's
// index is the tag its I/O carries through the engine.
#pragma once

#include <sys/uio.h>

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "backend/blkback/request_check.hpp"
#include "common/xen/blkif.hpp"
#include "common/xen/grant_table.hpp"
#include "hypervisor/client/domain_memory.hpp"

namespace pvsim::backend::blkback {

// How the backend reaches one granted page of a request, and so how it gives
// it back.
struct SegmentGrant {
    enum class Kind : std::uint8_t {
        none,
        mapped,      // mapped for this request: unmapped after it
        persistent,  // a persistent grant: stays mapped
        copied,      // copy mode: the data sits in our own page `gfn`
    };
    Kind kind = Kind::none;
    xen::GrantHandle handle = 0;
    xen::GrantRef ref = 0;
    hypervisor::Gfn gfn = 0;
};

struct PendingRequest {
    enum class Stage : std::uint8_t {
        io,     // the read, write, discard or flush itself
        flush,  // a flush or barrier with data: its write is done
    };

    CheckedRequest request;
    Stage stage = Stage::io;
    // A grant of it did not map, or a copy failed: answered BLKIF_RSP_ERROR.
    bool failed = false;
    // The segments, private (the slot's own or read once from the indirect
    // pages), and how each is reached; nr_segments of each are in use.
    std::vector<xen::BlkifRequestSegment> segs;
    std::vector<SegmentGrant> grants;
    std::vector<iovec> iov;
    // The indirect pages while they are read.
    std::array<SegmentGrant, xen::kBlkifMaxIndirectPagesPerRequest> indirect{};
    std::array<void*, xen::kBlkifMaxIndirectPagesPerRequest> indirect_pages{};

    explicit PendingRequest(unsigned max_segments)
        : segs(max_segments), grants(max_segments), iov(max_segments) {}

    // Ready for a new request; keeps the room.
    void reset() noexcept {
        request = CheckedRequest{};
        stage = Stage::io;
        failed = false;
    }
};

class PendingTable {
  public:
    PendingTable(std::uint32_t slots, unsigned max_segments) {
        slots_.reserve(slots);
        free_.reserve(slots);
        for (std::uint32_t i = 0; i < slots; ++i) {
            slots_.emplace_back(max_segments);
        }
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
        slots_[index].reset();
        return index;
    }
    void release(std::uint32_t index) { free_.push_back(index); }

    PendingRequest& operator[](std::uint32_t index) noexcept { return slots_[index]; }

  private:
    std::vector<PendingRequest> slots_;
    std::vector<std::uint32_t> free_;
};

}  // namespace pvsim::backend::blkback
