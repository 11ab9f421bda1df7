// The block verbs of pvsim_test_domain: a guest running blkfront through the
// frontend library's public API (frontend/blkfront/blkfront.hpp, the
// BlockDevice of frontend/block_device.hpp) over its own xenstore ring, so
// that an integration test drives a real guest's disk end to end against
// pvsim-backend. Replies as the domain's other verbs give them ("ok ..." or
// "error ...", an exception becoming "error ...").
//
//   blk-open DEVID            -> ok          open_blkfront on device/vbd/DEVID;
//                                            returns once Connected
//   blk-write SECTOR COUNT SEED -> ok        COUNT sectors of blk_pattern(SEED)
//                                            from SECTOR, one page per request,
//                                            up to kBlkDepth requests in each
//                                            submit batch, waited for
//   blk-read SECTOR COUNT SEED -> ok match | error mismatch at sector N
//   blk-flush                 -> ok
//   blk-info                  -> ok SECTORS SECTOR_SIZE RO   (RO: 0 or 1)
//   blk-counters              -> ok JSON     the frontend's counters
//   blk-states                -> ok S...     the states the frontend took, in
//                                            order (BlkfrontOptions::on_state)
//   blk-close                 -> ok          destroys the device: an orderly
//                                            close when still Connected
//
// blk_pattern_byte() is the data written: the test computes it too, to
// compare the backing store's bytes read directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <istream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/os/io_threads.hpp"
#include "hypervisor/client/domain_memory.hpp"
#include "hypervisor/client/hypervisor.hpp"
#include "tests/support/test_domain_xenstore.hpp"

namespace pvsim::frontend::blkfront {
class Blkfront;
}

namespace pvsim::test {

// The most requests one blk-write or blk-read submit batch carries: a full
// ring (32 slots in one page, DESIGN.md §5).
inline constexpr std::size_t kBlkDepth = 32;

// Byte `offset` (0..511) of sector `sector` in the pattern of `seed`: the
// sector number and the seed in the first 16 bytes (so that a misplaced
// sector is told from a wrong one), a mix of the three after.
inline std::uint8_t blk_pattern_byte(std::uint64_t seed, std::uint64_t sector, std::size_t offset) {
    if (offset < 8) {
        return static_cast<std::uint8_t>(sector >> (8 * offset));
    }
    if (offset < 16) {
        return static_cast<std::uint8_t>(seed >> (8 * (offset - 8)));
    }
    std::uint64_t x = (seed + 1) * 0x9e3779b97f4a7c15ull ^ (sector * 0xbf58476d1ce4e5b9ull) ^
                      (offset * 0x94d049bb133111ebull);
    x ^= x >> 31;
    x *= 0xd6e9e1a6b0e3b5d5ull;
    x ^= x >> 29;
    return static_cast<std::uint8_t>(x);
}

class TestDomainBlk {
  public:
    TestDomainBlk(hypervisor::Hypervisor& hypervisor, TestDomainXenstore& xenstore);
    ~TestDomainBlk();
    TestDomainBlk(const TestDomainBlk&) = delete;
    TestDomainBlk& operator=(const TestDomainBlk&) = delete;

    // The reply to `verb` (the rest of the line in `in`), or nullopt when the
    // verb is not a block one.
    std::optional<std::string> run(const std::string& verb, std::istream& in);

  private:
    frontend::blkfront::Blkfront& device();
    // Writes, or reads and checks, COUNT sectors of the pattern of `seed`
    // from SECTOR through the data pages, in batches of at most kBlkDepth
    // one-page requests, each batch waited for before the next.
    std::string transfer(bool write, std::uint64_t sector, std::uint64_t count, std::uint64_t seed);
    std::string flush();

    hypervisor::Hypervisor& hv_;
    TestDomainXenstore& xenstore_;
    // One page per request of a batch, allocated once and kept.
    std::vector<hypervisor::Gfn> pages_;
    std::mutex states_mutex_;  // on_state runs on blkfront's control strand
    std::vector<int> states_;
    // The control plane blkfront keeps its strand on; outlives the device.
    os::IoThreads control_{"blkfront control"};
    std::unique_ptr<frontend::blkfront::Blkfront> device_;
};

}  // namespace pvsim::test
