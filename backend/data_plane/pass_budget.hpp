// How much one pass of the data-plane loop (service_loop.hpp) takes off its
// ring before it answers what it has served.
//
// Linux blkback answers each request when its bio ends (end_block_io_op ->
// make_response), and QEMU's virtio-blk each when its aio completes, so the
// other end may copy out and reuse a slot while the rest of a batch is still
// being read. pvsim's engines run a page-cached read in the call that starts
// it (the sync engine's preadv, an io_uring submission the page cache
// serves inline), so a pass that took a whole ring of large requests would
// answer none of them until it had read them all: with 32 requests of
// 128 KiB that is 4 MiB, most of a millisecond, while the frontend waits
// idle and then copies while the backend waits idle. A pass therefore stops
// taking once it has taken kBytes of data, answers, and goes round again.
// The request that crosses the budget is still taken, so every pass takes
// at least one. Small requests never reach it: a full ring of 4 KiB reads
// is 128 KiB. A blkif indirect request is counted at a page per segment
// (CheckedRequest::bytes_at_most), its segments being read only after the
// pass took it.
//
// Pure logic, one per pass, on the loop's thread.
#pragma once

#include <cstdint>

namespace pvsim::backend::data_plane {

class PassBudget {
  public:
    // Two blkif requests of 32 segments (Linux blkfront's default
    // max_indirect_segments), one eighth of a single-page ring of them.
    static constexpr std::uint64_t kBytes = 256 * 1024;

    void spend(std::uint64_t bytes) noexcept { spent_ += bytes; }
    bool spent() const noexcept { return spent_ >= kBytes; }

  private:
    std::uint64_t spent_ = 0;
};

}  // namespace pvsim::backend::data_plane
