// How the data plane reaches the guest's pages of a burst (Linux
// xen-blkback/blkback.c: xen_blkbk_map, xen_blkbk_map_seg,
// xen_blkbk_parse_indirect's map of the indirect pages, xen_blkbk_unmap, and
// the persistent-grant calls around them): kept apart from the ring loop so
// that the loop reads as intake, dispatch and answers, and the three ways a
// segment's data is reached live in one place:
//   - map mode: every grant of a burst mapped in one batched
//     GNTTABOP_map_grant_ref (read-only unless the backend writes into it),
//     unmapped in one batch before the responses go;
//   - persistent grants (persistent_grants.hpp): found in the ring's table,
//     or mapped read/write and kept there;
//   - grant copy mode: nothing mapped; the data goes through pages of our own
//     memory with one batched GNTTABOP_copy per burst and direction.
// The indirect pages of a burst are reached the same way and read once.
//
// A concrete member of the DataPlane, owned by its ring thread: no virtual
// call and, once its batches have grown to a burst's size, no allocation per
// request. It marks a request `failed` when a grant of it cannot be reached;
// answering it stays the data plane's.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "backend/blkback/pending_request.hpp"
#include "backend/blkback/persistent_grants.hpp"
#include "backend/blkback/vbd_counters.hpp"
#include "common/xen/blkif_features.hpp"
#include "common/xen/grant_table.hpp"
#include "hypervisor/client/hypervisor.hpp"

namespace pvsim::backend::blkback {

// xen_blkbk_parse_indirect's read: the request.nr_segments segments of a
// checked indirect request (check_request) copied once out of its
// request.nr_indirect_pages mapped pages, kBlkifSegmentsPerIndirectFrame to
// a page, into `segs` (at least nr_segments long). The frontend may rewrite
// its pages from then on: only the copy is checked (check_segments) and used.
void read_indirect_pages(const CheckedRequest& request, std::span<void* const> pages,
                         std::span<xen::BlkifRequestSegment> segs) noexcept;

class SegmentAccess {
  public:
    struct Options {
        xen::BlkifGrantMode grant_mode = xen::BlkifGrantMode::map;
        // Both ends said feature-persistent=1 (ignored in copy mode).
        bool persistent = false;
        std::size_t max_persistent_grants = PersistentGrants::kDefaultMax;
        std::chrono::milliseconds persistent_timeout = PersistentGrants::kDefaultTimeout;
    };

    // `hypervisor`, `metrics` and `name` (the log prefix) must outlive it.
    SegmentAccess(hypervisor::Hypervisor& hypervisor, xen::DomId frontend,
                  LiveCounters<VbdCounters>& metrics, const std::string& name, Options options);
    SegmentAccess(const SegmentAccess&) = delete;
    SegmentAccess& operator=(const SegmentAccess&) = delete;

    // xen_blkbk_parse_indirect, first half: the indirect pages of the
    // indirect requests of `burst` mapped (or copied into pages of our own),
    // batched; a request whose page cannot be reached is marked failed.
    void map_indirect_pages(PendingTable& pending, std::span<const std::uint32_t> burst);
    // Second half, per request: its segments read once from the indirect
    // pages into its private array (unless failed), then the pages given back.
    void read_indirect_segments(PendingRequest& pending);

    // xen_blkbk_map: the data segments of the requests of `burst` reached
    // (persistent grants found, the rest mapped in batches; or in copy mode
    // own pages, filled from the guest for writes in one GNTTABOP_copy
    // batch), their iovecs set. A request with a segment not reached is
    // marked failed.
    void map_segments(PendingTable& pending, std::span<const std::uint32_t> burst);

    // The request's segments given back: onto the unmap batch, to the
    // persistent table, or to the copy pages. With `copy_out` (copy mode, a
    // read answered okay) its data is first queued for the guest; a failed
    // copy then turns response `response` (its place among the responses
    // waiting for flush) into an error.
    void release_segments(PendingRequest& pending, bool copy_out, std::size_t response);

    // The queued read data copied to the guest in one batch; the responses
    // (as given to release_segments) whose copy failed. Valid until the next
    // call.
    std::span<const std::size_t> copy_reads_to_guest();
    // xen_blkbk_unmap: one unmap hypercall (per kMaxBatch) for everything
    // given back.
    void unmap();
    bool unmap_pending() const noexcept { return !unmap_batch_.empty(); }

    // purge_persistent_gnt, when due: the purged grants go onto the unmap
    // batch.
    void purge_persistent();
    // While grants are kept: the purge interval (LRU_INTERVAL), for the
    // loop's sleep; -1 without any.
    int persistent_purge_timeout_ms() const noexcept;
    // free_persistent_gnts, unmapped, and the copy pages freed: once nothing
    // is in flight any more. Never throws.
    void release_all() noexcept;

  private:
    // One grant a request needs: where the page is to be recorded.
    struct GrantUse {
        std::uint32_t index;
        xen::GrantRef ref;
        bool readonly;
        SegmentGrant* grant;
        void** page;
    };

    bool copy_mode() const noexcept { return grant_mode_ == xen::BlkifGrantMode::copy; }
    // Persistent grants found, the rest mapped in batches. A use that fails
    // leaves *page null and its request failed.
    void map_grants(PendingTable& pending, std::vector<GrantUse>& uses);
    // Copy mode: own pages for the data segments of `burst`, filled from the
    // guest for writes.
    void copy_in_segments(PendingTable& pending, std::span<const std::uint32_t> burst);
    void batch_copies(std::span<const hypervisor::GrantCopyRequest> copies,
                      std::vector<xen::GntSt>& statuses);
    hypervisor::Gfn take_copy_page();
    // Gives one page back: unmap batch, persistent table or copy pages.
    void give_back(SegmentGrant& grant);
    static void set_segment_iov(PendingRequest& pending, unsigned s, std::byte* page);

    hypervisor::Hypervisor& hypervisor_;
    const xen::DomId frontend_;
    LiveCounters<VbdCounters>& metrics_;
    const std::string& name_;
    const xen::BlkifGrantMode grant_mode_;
    const bool persistent_;

    PersistentGrants persistent_grants_;
    std::vector<GrantUse> uses_;
    std::vector<hypervisor::GrantMapRequest> map_batch_;
    std::vector<xen::GrantHandle> unmap_batch_;
    std::vector<hypervisor::GrantCopyRequest> copy_batch_;
    std::vector<xen::GntSt> copy_statuses_;
    // Copy mode: pages of our memory for the data, kept for reuse.
    std::vector<hypervisor::Gfn> free_copy_pages_;
    std::vector<hypervisor::Gfn> all_copy_pages_;
    // Copy mode: read data going to the guest, whose response each is, and
    // the responses whose copy failed.
    std::vector<hypervisor::GrantCopyRequest> copy_out_;
    std::vector<std::size_t> copy_out_responses_;
    std::vector<hypervisor::Gfn> copy_pages_done_;
    std::vector<std::size_t> copy_out_failed_;
};

}  // namespace pvsim::backend::blkback
