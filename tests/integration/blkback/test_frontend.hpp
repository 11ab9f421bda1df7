// A blkif frontend that lives in the test process: a dom0 hypervisor
// connection that grants its own pages to the backend domain (dom0 too,
// which Xen allows: a domain may grant to itself and map its own grants),
// so that blkback's data plane can be driven request by request without a
// guest process. It behaves as a real frontend does where the tests count:
// requests are pushed in batches with RING_PUSH_REQUESTS_AND_CHECK_NOTIFY,
// and it sleeps on its event channel only after
// RING_FINAL_CHECK_FOR_RESPONSES. It can also misbehave on purpose (write
// the shared indices directly). It lays its ring out as a 64-bit guest
// does, or as a 32-bit one (x86_32-abi) when asked.
#pragma once

#include <poll.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/xen/blkif.hpp"
#include "common/xen/blkif_rings.hpp"
#include "hypervisor/client/hypervisor.hpp"

namespace pvsim::test {

// The bytes a test writes: they differ by offset and by seed, so a block
// read back from the wrong place or the wrong write does not match.
inline std::vector<std::byte> pattern(std::size_t bytes, unsigned seed) {
    std::vector<std::byte> out(bytes);
    for (std::size_t i = 0; i < bytes; ++i) {
        out[i] = static_cast<std::byte>((i * 31 + seed * 7 + (i >> 9)) & 0xff);
    }
    return out;
}

class TestFrontend {
  public:
    struct Page {
        hypervisor::Gfn gfn = 0;
        xen::GrantRef ref = 0;
        std::byte* data = nullptr;
    };

    // A ring of 2^ring_order pages (ring-ref0..N-1), contiguous in this
    // domain's memory as blkfront allocates it, in `protocol`'s layout.
    TestFrontend(hypervisor::Hypervisor& hypervisor, xen::DomId backend, std::size_t data_pages,
                 unsigned ring_order = 0, xen::BlkifProtocol protocol = xen::BlkifProtocol::x86_64)
        : hv_(hypervisor),
          ring_gfn_(allocate_ring(hypervisor, ring_order)),
          ring_(make_ring(protocol, hypervisor.memory().page(ring_gfn_).data(),
                          xen::kXenPageSize << ring_order)),
          ring_ref_(hypervisor.grant_table().grant_access(backend, ring_gfn_, false)),
          channel_(hypervisor.alloc_unbound(backend)) {
        ring_refs_.push_back(ring_ref_);
        for (unsigned i = 1; i < (1u << ring_order); ++i) {
            ring_refs_.push_back(
                hypervisor.grant_table().grant_access(backend, ring_gfn_ + i, false));
        }
        for (std::size_t i = 0; i < data_pages; ++i) {
            Page page;
            page.gfn = hypervisor.memory().allocate_page();
            page.ref = hypervisor.grant_table().grant_access(backend, page.gfn, false);
            page.data = hypervisor.memory().page(page.gfn).data();
            pages_.push_back(page);
        }
    }

    xen::GrantRef ring_ref() const { return ring_ref_; }
    const std::vector<xen::GrantRef>& ring_refs() const { return ring_refs_; }
    xen::EvtchnPort port() const { return channel_.port(); }
    xen::BlkifFrontRings& ring() { return ring_; }
    xen::SharedRing& shared() { return ring_.shared(); }
    Page& page(std::size_t i) { return pages_.at(i); }
    std::size_t page_count() const { return pages_.size(); }

    std::uint64_t notifications_sent() const { return notifications_sent_; }
    std::uint64_t notifications_received() const { return notifications_received_; }
    std::uint64_t pushes() const { return pushes_; }

    // A read or write of whole pages: segment i covers page pages[i]
    // sectors first..last.
    static xen::BlkifRequest rw(xen::BlkifOp op, std::uint64_t id, std::uint64_t sector,
                                const std::vector<xen::BlkifRequestSegment>& segments) {
        xen::BlkifRequest req{};
        req.operation = op;
        req.id = id;
        req.sector_number = sector;
        req.nr_segments = static_cast<std::uint8_t>(segments.size());
        for (std::size_t i = 0; i < segments.size() && i < xen::kBlkifMaxSegmentsPerRequest; ++i) {
            req.seg[i] = segments[i];
        }
        return req;
    }
    xen::BlkifRequestSegment segment(std::size_t page_index, std::uint8_t first = 0,
                                     std::uint8_t last = 7) {
        return xen::BlkifRequestSegment{page(page_index).ref, first, last, {0, 0}};
    }

    // BLKIF_OP_INDIRECT over `indirect_pages` (pages of this frontend whose
    // first bytes receive the segments).
    xen::BlkifRequest indirect(xen::BlkifOp op, std::uint64_t id, std::uint64_t sector,
                               const std::vector<xen::BlkifRequestSegment>& segments,
                               const std::vector<std::size_t>& indirect_pages) {
        xen::BlkifRequestIndirect req{};
        req.operation = xen::BlkifOp::indirect;
        req.indirect_op = op;
        req.nr_segments = static_cast<std::uint16_t>(segments.size());
        req.id = id;
        req.sector_number = sector;
        for (std::size_t i = 0; i < segments.size(); ++i) {
            Page& p = page(indirect_pages.at(i / xen::kBlkifSegmentsPerIndirectFrame));
            std::memcpy(p.data + (i % xen::kBlkifSegmentsPerIndirectFrame) * sizeof(segments[i]),
                        &segments[i], sizeof(segments[i]));
        }
        for (std::size_t i = 0; i < indirect_pages.size(); ++i) {
            req.indirect_grefs[i] = page(indirect_pages[i]).ref;
        }
        return xen::blkif_request_slot(req);
    }
    static xen::BlkifRequest discard(std::uint64_t id, std::uint64_t sector, std::uint64_t sectors,
                                     bool secure = false) {
        xen::BlkifRequestDiscard req{};
        req.operation = xen::BlkifOp::discard;
        req.flag = secure ? xen::kBlkifDiscardSecure : 0;
        req.id = id;
        req.sector_number = sector;
        req.nr_sectors = sectors;
        return xen::blkif_request_slot(req);
    }

    void queue(const xen::BlkifRequest& request) { ring_.produce_request(request); }

    // RING_PUSH_REQUESTS_AND_CHECK_NOTIFY; returns whether it notified.
    bool push() {
        ++pushes_;
        if (ring_.push_requests_and_check_notify()) {
            channel_.notify();
            ++notifications_sent_;
            return true;
        }
        return false;
    }
    // Sends an event whatever the ring says (a frontend kicking a backend).
    void kick() { channel_.notify(); }

    // Takes responses until `count` have arrived (sleeping on the event
    // channel as a frontend does); throws after `limit` without progress.
    std::vector<xen::BlkifResponse> wait_responses(
        std::size_t count, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
        std::vector<xen::BlkifResponse> out;
        while (out.size() < count) {
            while (ring_.unconsumed_responses() != 0 && out.size() < count) {
                out.push_back(ring_.consume_response());
            }
            if (out.size() >= count) {
                break;
            }
            if (ring_.final_check_for_responses()) {
                continue;
            }
            pollfd entry{channel_.fd(), POLLIN, 0};
            if (::poll(&entry, 1, static_cast<int>(limit.count())) <= 0) {
                throw std::runtime_error("no response after " + std::to_string(out.size()) +
                                         " of " + std::to_string(count));
            }
            if (channel_.poll()) {
                ++notifications_received_;
            }
        }
        return out;
    }

    // Takes `count` responses by polling rsp_prod, never arming rsp_event (a
    // frontend polling its ring). It yields the CPU between looks, so that
    // on a small machine it does not starve the backend it waits for.
    std::vector<xen::BlkifResponse> spin_responses(
        std::size_t count, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
        std::vector<xen::BlkifResponse> out;
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (out.size() < count) {
            if (ring_.unconsumed_responses() != 0) {
                out.push_back(ring_.consume_response());
            } else if (std::chrono::steady_clock::now() > deadline) {
                throw std::runtime_error("no response after " + std::to_string(out.size()) +
                                         " of " + std::to_string(count));
            } else {
                std::this_thread::yield();
            }
        }
        return out;
    }

    // Whether the backend has put responses on the ring that this frontend
    // has not taken (for "nothing was answered", once the backend stopped).
    bool has_responses() const { return ring_.unconsumed_responses() != 0; }

    // Responses by request id.
    static std::map<std::uint64_t, xen::BlkifResponse> by_id(
        const std::vector<xen::BlkifResponse>& responses) {
        std::map<std::uint64_t, xen::BlkifResponse> out;
        for (const auto& r : responses) {
            out[r.id] = r;
        }
        return out;
    }

  private:
    static xen::BlkifFrontRings make_ring(xen::BlkifProtocol protocol, std::byte* area,
                                          std::size_t bytes) {
        xen::BlkifFrontRing native = xen::BlkifFrontRing::init_shared(area, bytes);
        if (protocol == xen::BlkifProtocol::x86_32) {
            return xen::BlkifX86_32FrontRing(area, bytes);
        }
        return native;
    }

    static hypervisor::Gfn allocate_ring(hypervisor::Hypervisor& hypervisor, unsigned order) {
        // Fresh frames come in order from the allocator; check they did.
        const hypervisor::Gfn first = hypervisor.memory().allocate_page();
        for (unsigned i = 1; i < (1u << order); ++i) {
            if (hypervisor.memory().allocate_page() != first + i) {
                throw std::runtime_error("ring pages are not contiguous");
            }
        }
        return first;
    }

    hypervisor::Hypervisor& hv_;
    hypervisor::Gfn ring_gfn_;
    xen::BlkifFrontRings ring_;
    xen::GrantRef ring_ref_;
    std::vector<xen::GrantRef> ring_refs_;
    hypervisor::EventChannel channel_;
    std::vector<Page> pages_;
    std::uint64_t notifications_sent_ = 0;
    std::uint64_t notifications_received_ = 0;
    std::uint64_t pushes_ = 0;
};

}  // namespace pvsim::test
