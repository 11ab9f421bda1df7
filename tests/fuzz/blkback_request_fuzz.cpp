// blkif requests as blkback takes them off a ring a hostile frontend
// writes (Linux xen-blkback/blkback.c __do_block_io_op,
// dispatch_rw_block_io, xen_blkbk_parse_indirect; XSA-155): the shared
// ring is an in-process page (or 2^order pages) holding the input's bytes,
// header indices included, in either ABI (x86_64 or x86_32, BlkifBackRings),
// attached from index 0 or live at the published rsp_prod as a restarted
// backend does. Each pass follows DataPlane::take_requests: the producer
// index checked (RING_REQUEST_PROD_OVERFLOW halts the ring), each slot
// copied once (RING_COPY_REQUEST) and checked (check_request); an indirect
// request's segments read once from its indirect pages (read_indirect_pages:
// the pages are more of the input, a gref past them does not map) and
// checked (check_segments); every request answered in the ring's layout.
// Between passes the frontend may move req_prod anywhere.
//
// What must hold besides no crash: a request passed as valid that covers
// sectors stays inside the disk, its segments and indirect pages stay
// within blkif.h's bounds, and nothing is written to a read-only vbd.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>
#include <vector>

#include "backend/blkback/request_check.hpp"
#include "backend/blkback/segment_access.hpp"
#include "common/xen/blkif_features.hpp"
#include "common/xen/blkif_rings.hpp"
#include "tests/fuzz/fuzz_input.hpp"

namespace blkback_request_fuzz {

namespace xen = pvsim::xen;
using pvsim::backend::blkback::check_request;
using pvsim::backend::blkback::check_segments;
using pvsim::backend::blkback::CheckedRequest;
using pvsim::backend::blkback::IoKind;
using pvsim::backend::blkback::read_indirect_pages;
using pvsim::backend::blkback::VbdLimits;
using pvsim::fuzz::FuzzInput;
using pvsim::fuzz::require;

// Orders up to 3: order 4's 64 KiB would be mostly zeros the fuzzer pays
// to copy; the index arithmetic is the same.
constexpr unsigned kMaxOrder = 3;
// The frontend's granted pages an indirect gref can name.
constexpr unsigned kGrantedPages = xen::kBlkifMaxIndirectPagesPerRequest;
constexpr unsigned kPasses = 4;

// What the request promises once checked (request_check.hpp).
void check_promise(const CheckedRequest& request, const VbdLimits& limits) {
    // A request that covers no sector (a flush or barrier without data, an
    // empty discard) may name any sector: nothing is read or written there,
    // and Linux's xen_vbd_translate checks the range only when nr_sects != 0.
    require(request.nr_sectors == 0 ||
            (request.sector_number <= limits.sectors &&
             request.nr_sectors <= limits.sectors - request.sector_number));
    require(!limits.read_only || request.kind == IoKind::read);
    if (request.indirect) {
        require(request.nr_segments != 0 && request.nr_segments <= limits.max_indirect_segments);
        require(request.nr_indirect_pages == xen::blkif_indirect_frames(request.nr_segments));
        require(request.nr_indirect_pages <= xen::kBlkifMaxIndirectPagesPerRequest);
    } else {
        require(request.nr_segments <= xen::kBlkifMaxSegmentsPerRequest);
    }
}

class Backend {
  public:
    Backend(FuzzInput& input) : input_(input) {
        const auto config = input.take<std::uint8_t>();
        const auto features = input.take<std::uint8_t>();
        limits_.sectors = input.take<std::uint64_t>();
        limits_.read_only = (config & 0x10) != 0;
        limits_.flush = (config & 0x20) != 0;
        limits_.barrier = (config & 0x40) != 0;
        limits_.discard = (config & 0x80) != 0;
        limits_.discard_secure = (features & 1) != 0;
        limits_.logical_sector_size = xen::kBlkifSectorSize << ((features >> 1) & 3);
        limits_.max_indirect_segments =
            (features & 0x8) != 0
                ? input.take<std::uint16_t>() % (xen::kBlkifBackendMaxIndirectSegments + 1)
                : 0;
        const unsigned order = (config >> 1) & kMaxOrder;
        area_.assign(xen::ring_bytes_for_order(order) / sizeof(std::uint64_t), 0);
        const auto ring_bytes = input.take_bytes(xen::ring_bytes_for_order(order));
        FuzzInput::copy(area_.data(), ring_bytes);
        const auto granted = input.take_bytes(sizeof pages_);
        FuzzInput::copy(pages_.data(), granted);
        const bool x86_32 = (config & 1) != 0;
        const bool live = (config & 8) != 0;
        ring_ = attach(x86_32, live);
    }

    void run() {
        if (!ring_) {
            return;  // attach_live refused the indices
        }
        for (unsigned pass = 0; pass < kPasses && !halted_; ++pass) {
            if (pass != 0) {
                if (input_.empty()) {
                    break;
                }
                ring_->shared().req_prod = input_.take<xen::RingIdx>();
            }
            take_requests();
        }
    }

  private:
    std::optional<xen::BlkifBackRings> attach(bool x86_32, bool live) {
        void* area = area_.data();
        const std::size_t bytes = area_.size() * sizeof(std::uint64_t);
        try {
            if (x86_32) {
                using Ring = xen::BlkifBackRings::X86_32;
                return xen::BlkifBackRings(live ? Ring::attach_live(area, bytes)
                                                : Ring(area, bytes));
            }
            using Ring = xen::BlkifBackRings::Native;
            return xen::BlkifBackRings(live ? Ring::attach_live(area, bytes) : Ring(area, bytes));
        } catch (const std::invalid_argument&) {
            return std::nullopt;
        }
    }

    void take_requests() {
        xen::BlkifBackRings& ring = *ring_;
        const xen::RingIdx rp = ring.req_prod();
        if (ring.request_prod_overflow(rp)) {
            halted_ = true;
            return;
        }
        while (ring.req_cons() != rp) {
            if (ring.request_cons_overflow(ring.req_cons())) {
                break;
            }
            const xen::BlkifRequest copy = ring.consume_request();
            auto check = check_request(copy, limits_);
            if (check.ok() && check.request.indirect) {
                check.status = read_indirect(check.request, check.reason);
            }
            if (check.ok()) {
                check_promise(check.request, limits_);
            }
            xen::BlkifResponse response{};
            response.id = check.request.id;
            response.operation = check.request.operation;
            response.status = check.status;
            ring.produce_response(response);
        }
        (void)ring.push_responses_and_check_notify();
    }

    // The data plane's read_indirect_segments for one request: its pages
    // reached (or not), read once, checked.
    xen::BlkifStatus read_indirect(CheckedRequest& request, std::string_view& reason) {
        std::array<void*, xen::kBlkifMaxIndirectPagesPerRequest> pages{};
        for (unsigned p = 0; p < request.nr_indirect_pages; ++p) {
            const xen::GrantRef ref = request.indirect_grefs[p];
            if (ref >= kGrantedPages) {
                return xen::BlkifStatus::error;  // the grant does not map
            }
            pages[p] = pages_[ref].data();
        }
        segs_.assign(limits_.max_segments(), xen::BlkifRequestSegment{});
        read_indirect_pages(request, pages, segs_);
        return check_segments(request, segs_, limits_, reason);
    }

    FuzzInput& input_;
    VbdLimits limits_;
    std::vector<std::uint64_t> area_;  // the ring's pages, 8-byte aligned
    std::array<std::array<std::byte, xen::kXenPageSize>, kGrantedPages> pages_{};
    std::vector<xen::BlkifRequestSegment> segs_;
    std::optional<xen::BlkifBackRings> ring_;
    bool halted_ = false;
};

}  // namespace blkback_request_fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    pvsim::fuzz::FuzzInput input(data, size);
    blkback_request_fuzz::Backend backend(input);
    backend.run();
    return 0;
}
