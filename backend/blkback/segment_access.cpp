#include "backend/blkback/segment_access.hpp"

#include <algorithm>
#include <cstring>
#include <exception>
#include <utility>

#include <spdlog/spdlog.h>

#include "hypervisor/protocol/hypercall.hpp"

namespace pvsim::backend::blkback {

SegmentAccess::SegmentAccess(hypervisor::Hypervisor& hypervisor, xen::DomId frontend,
                             LiveCounters<VbdCounters>& metrics, const std::string& name,
                             Options options)
    : hypervisor_(hypervisor),
      frontend_(frontend),
      metrics_(metrics),
      name_(name),
      grant_mode_(options.grant_mode),
      persistent_(options.persistent && options.grant_mode == xen::BlkifGrantMode::map),
      persistent_grants_(options.max_persistent_grants, options.persistent_timeout) {
    map_batch_.reserve(hypervisor::wire::kMaxBatch);
    unmap_batch_.reserve(hypervisor::wire::kMaxBatch);
}

void SegmentAccess::release_all() noexcept {
    try {
        // free_persistent_gnts: nothing is in flight any more.
        const std::vector<xen::GrantHandle> handles = persistent_grants_.take_all();
        metrics_.sub(&VbdCounters::persistent_grants, handles.size());
        unmap_batch_.insert(unmap_batch_.end(), handles.begin(), handles.end());
        unmap();
    } catch (const std::exception& e) {
        spdlog::error("{}: unmapping the persistent grants: {}", name_, e.what());
    }
    for (const hypervisor::Gfn gfn : all_copy_pages_) {
        try {
            hypervisor_.memory().free_page(gfn);
        } catch (const std::exception& e) {
            spdlog::error("{}: freeing copy page {}: {}", name_, gfn, e.what());
        }
    }
    all_copy_pages_.clear();
    free_copy_pages_.clear();
}

void SegmentAccess::map_segments(PendingTable& pending_table,
                                 std::span<const std::uint32_t> burst) {
    if (copy_mode()) {
        copy_in_segments(pending_table, burst);
        return;
    }
    uses_.clear();
    for (const std::uint32_t index : burst) {
        PendingRequest& pending = pending_table[index];
        const CheckedRequest& request = pending.request;
        if (!request.has_data()) {
            continue;
        }
        metrics_.add(&VbdCounters::segments, request.nr_segments);
        for (unsigned s = 0; s < request.nr_segments; ++s) {
            uses_.push_back({index, pending.segs[s].gref, request.maps_readonly(),
                             &pending.grants[s], &pending.iov[s].iov_base});
        }
    }
    map_grants(pending_table, uses_);
    for (const std::uint32_t index : burst) {
        PendingRequest& pending = pending_table[index];
        for (unsigned s = 0; s < pending.request.nr_segments && pending.request.has_data(); ++s) {
            if (pending.grants[s].kind != SegmentGrant::Kind::none) {
                set_segment_iov(pending, s, static_cast<std::byte*>(pending.iov[s].iov_base));
            }
        }
    }
}

void SegmentAccess::set_segment_iov(PendingRequest& pending, unsigned s, std::byte* page) {
    const xen::BlkifRequestSegment& seg = pending.segs[s];
    pending.iov[s].iov_base = page + std::size_t{seg.first_sect} * xen::kBlkifSectorSize;
    pending.iov[s].iov_len =
        (std::size_t{seg.last_sect} - seg.first_sect + 1) * xen::kBlkifSectorSize;
}

void SegmentAccess::map_indirect_pages(PendingTable& pending_table,
                                       std::span<const std::uint32_t> burst) {
    if (copy_mode()) {
        // Linux's choice for copy mode too: the indirect pages are read with
        // a grant copy into pages of our own.
        copy_batch_.clear();
        std::vector<std::pair<std::uint32_t, unsigned>> owners;
        for (const std::uint32_t index : burst) {
            PendingRequest& pending = pending_table[index];
            const CheckedRequest& request = pending.request;
            if (!request.indirect) {
                continue;
            }
            for (unsigned p = 0; p < request.nr_indirect_pages; ++p) {
                const hypervisor::Gfn gfn = take_copy_page();
                pending.indirect[p] =
                    SegmentGrant{SegmentGrant::Kind::copied, 0, request.indirect_grefs[p], gfn};
                pending.indirect_pages[p] = hypervisor_.memory().page(gfn).data();
                const unsigned first = p * xen::kBlkifSegmentsPerIndirectFrame;
                const unsigned count =
                    std::min(request.nr_segments - first, xen::kBlkifSegmentsPerIndirectFrame);
                copy_batch_.push_back(
                    {{true, request.indirect_grefs[p], frontend_, 0},
                     {false, gfn, xen::kDomidSelf, 0},
                     static_cast<std::uint16_t>(count * sizeof(xen::BlkifRequestSegment))});
                owners.emplace_back(index, p);
            }
        }
        batch_copies(copy_batch_, copy_statuses_);
        for (std::size_t i = 0; i < owners.size(); ++i) {
            if (copy_statuses_[i] != xen::GntSt::okay) {
                pending_table[owners[i].first].failed = true;
            }
        }
        return;
    }
    uses_.clear();
    for (const std::uint32_t index : burst) {
        PendingRequest& pending = pending_table[index];
        const CheckedRequest& request = pending.request;
        if (!request.indirect) {
            continue;
        }
        for (unsigned p = 0; p < request.nr_indirect_pages; ++p) {
            pending.indirect_pages[p] = nullptr;
            uses_.push_back({index, request.indirect_grefs[p], true, &pending.indirect[p],
                             &pending.indirect_pages[p]});
        }
    }
    map_grants(pending_table, uses_);
}

void read_indirect_pages(const CheckedRequest& request, std::span<void* const> pages,
                         std::span<xen::BlkifRequestSegment> segs) noexcept {
    for (unsigned p = 0; p < request.nr_indirect_pages; ++p) {
        const unsigned first = p * xen::kBlkifSegmentsPerIndirectFrame;
        const unsigned count =
            std::min(request.nr_segments - first, xen::kBlkifSegmentsPerIndirectFrame);
        std::memcpy(&segs[first], pages[p], count * sizeof(xen::BlkifRequestSegment));
    }
}

void SegmentAccess::read_indirect_segments(PendingRequest& pending) {
    const CheckedRequest& request = pending.request;
    if (!pending.failed) {
        // Read once: the frontend may scribble on its pages from now on.
        read_indirect_pages(request, std::span(pending.indirect_pages), pending.segs);
    }
    for (unsigned p = 0; p < request.nr_indirect_pages; ++p) {
        give_back(pending.indirect[p]);
    }
}

void SegmentAccess::map_grants(PendingTable& pending_table, std::vector<GrantUse>& uses) {
    const xen::DomId frontend = frontend_;
    map_batch_.clear();
    std::vector<std::size_t> to_map;
    for (std::size_t i = 0; i < uses.size(); ++i) {
        GrantUse& use = uses[i];
        if (persistent_) {
            std::byte* page = nullptr;
            if (persistent_grants_.get(use.ref, &page) == PersistentGrants::Lookup::found) {
                *use.grant = SegmentGrant{SegmentGrant::Kind::persistent, 0, use.ref, 0};
                *use.page = page;
                continue;
            }
        }
        // Persistent grants are mapped read/write whatever the request
        // (Linux: "if (!use_persistent_gnts && ro) flags |= GNTMAP_readonly").
        to_map.push_back(i);
    }
    std::vector<hypervisor::GrantMapping> mappings;
    for (std::size_t first = 0; first < to_map.size(); first += hypervisor::wire::kMaxBatch) {
        const std::size_t count =
            std::min<std::size_t>(hypervisor::wire::kMaxBatch, to_map.size() - first);
        map_batch_.clear();
        for (std::size_t i = first; i < first + count; ++i) {
            const GrantUse& use = uses[to_map[i]];
            map_batch_.push_back({frontend, use.ref, use.readonly && !persistent_});
        }
        try {
            std::vector<hypervisor::GrantMapping> part = hypervisor_.map_grant_refs(map_batch_);
            metrics_.add(&VbdCounters::map_hypercalls);
            mappings.insert(mappings.end(), part.begin(), part.end());
        } catch (const hypervisor::HypercallError& e) {
            spdlog::warn("{}: mapping {} grants: {}", name_, map_batch_.size(), e.what());
            mappings.resize(mappings.size() + count, hypervisor::GrantMapping{});
        }
    }
    for (std::size_t i = 0; i < to_map.size(); ++i) {
        GrantUse& use = uses[to_map[i]];
        const hypervisor::GrantMapping& mapping = mappings[i];
        if (mapping.status != xen::GntSt::okay) {
            PendingRequest& pending = pending_table[use.index];
            if (!pending.failed) {
                spdlog::debug("{}: request {}: grant {} of dom{} does not map: {}", name_,
                              pending.request.id, use.ref, frontend, xen::name(mapping.status));
            }
            pending.failed = true;
            *use.grant = SegmentGrant{};
            *use.page = nullptr;
            metrics_.add(&VbdCounters::grant_map_failures);
            continue;
        }
        metrics_.add(&VbdCounters::grant_maps);
        *use.page = mapping.page;
        std::byte* ignored = nullptr;
        if (persistent_ &&
            persistent_grants_.get(use.ref, &ignored) == PersistentGrants::Lookup::absent &&
            persistent_grants_.has_room()) {
            // add_persistent_gnt. A ref met twice in one burst is kept the
            // first time only; the second mapping is this request's alone.
            persistent_grants_.add(use.ref, mapping.handle, mapping.page);
            metrics_.add(&VbdCounters::persistent_grants);
            *use.grant = SegmentGrant{SegmentGrant::Kind::persistent, 0, use.ref, 0};
        } else {
            *use.grant = SegmentGrant{SegmentGrant::Kind::mapped, mapping.handle, use.ref, 0};
        }
    }
}

hypervisor::Gfn SegmentAccess::take_copy_page() {
    if (!free_copy_pages_.empty()) {
        const hypervisor::Gfn gfn = free_copy_pages_.back();
        free_copy_pages_.pop_back();
        return gfn;
    }
    const hypervisor::Gfn gfn = hypervisor_.memory().allocate_page();
    all_copy_pages_.push_back(gfn);
    return gfn;
}

void SegmentAccess::batch_copies(std::span<const hypervisor::GrantCopyRequest> copies,
                                 std::vector<xen::GntSt>& statuses) {
    statuses.clear();
    for (std::size_t first = 0; first < copies.size(); first += hypervisor::wire::kMaxBatch) {
        const auto part = copies.subspan(
            first, std::min<std::size_t>(hypervisor::wire::kMaxBatch, copies.size() - first));
        try {
            const std::vector<xen::GntSt> got = hypervisor_.copy_grants(part);
            statuses.insert(statuses.end(), got.begin(), got.end());
            metrics_.add(&VbdCounters::copy_hypercalls);
            metrics_.add(&VbdCounters::grant_copies, part.size());
        } catch (const hypervisor::HypercallError& e) {
            spdlog::warn("{}: copying {} grants: {}", name_, part.size(), e.what());
            statuses.resize(statuses.size() + part.size(), xen::GntSt::general_error);
        }
    }
}
void SegmentAccess::copy_in_segments(PendingTable& pending_table,
                                     std::span<const std::uint32_t> burst) {
    copy_batch_.clear();
    std::vector<std::uint32_t> owners;
    hypervisor::DomainMemory& memory = hypervisor_.memory();
    for (const std::uint32_t index : burst) {
        PendingRequest& pending = pending_table[index];
        const CheckedRequest& request = pending.request;
        if (!request.has_data()) {
            continue;
        }
        metrics_.add(&VbdCounters::segments, request.nr_segments);
        for (unsigned s = 0; s < request.nr_segments; ++s) {
            const xen::BlkifRequestSegment& seg = pending.segs[s];
            const hypervisor::Gfn gfn = take_copy_page();
            pending.grants[s] = SegmentGrant{SegmentGrant::Kind::copied, 0, seg.gref, gfn};
            set_segment_iov(pending, s, memory.page(gfn).data());
            if (request.kind == IoKind::read) {
                continue;
            }
            const auto offset =
                static_cast<std::uint16_t>(std::size_t{seg.first_sect} * xen::kBlkifSectorSize);
            copy_batch_.push_back({{true, seg.gref, frontend_, offset},
                                   {false, gfn, xen::kDomidSelf, offset},
                                   static_cast<std::uint16_t>(pending.iov[s].iov_len)});
            owners.push_back(index);
        }
    }
    batch_copies(copy_batch_, copy_statuses_);
    for (std::size_t i = 0; i < owners.size(); ++i) {
        if (copy_statuses_[i] != xen::GntSt::okay) {
            pending_table[owners[i]].failed = true;
            metrics_.add(&VbdCounters::grant_map_failures);
        }
    }
}

void SegmentAccess::give_back(SegmentGrant& grant) {
    switch (grant.kind) {
        case SegmentGrant::Kind::none:
            break;
        case SegmentGrant::Kind::mapped:
            unmap_batch_.push_back(grant.handle);
            break;
        case SegmentGrant::Kind::persistent:
            persistent_grants_.put(grant.ref);
            break;
        case SegmentGrant::Kind::copied:
            free_copy_pages_.push_back(grant.gfn);
            break;
    }
    grant = SegmentGrant{};
}

void SegmentAccess::release_segments(PendingRequest& pending, bool copy_out, std::size_t response) {
    const CheckedRequest& request = pending.request;
    if (!request.has_data()) {
        return;
    }
    for (unsigned s = 0; s < request.nr_segments; ++s) {
        SegmentGrant& grant = pending.grants[s];
        if (grant.kind == SegmentGrant::Kind::copied && copy_out && request.kind == IoKind::read) {
            const xen::BlkifRequestSegment& seg = pending.segs[s];
            const auto offset =
                static_cast<std::uint16_t>(std::size_t{seg.first_sect} * xen::kBlkifSectorSize);
            copy_out_.push_back({{false, grant.gfn, xen::kDomidSelf, offset},
                                 {true, grant.ref, frontend_, offset},
                                 static_cast<std::uint16_t>(pending.iov[s].iov_len)});
            copy_out_responses_.push_back(response);
            copy_pages_done_.push_back(grant.gfn);
            grant = SegmentGrant{};
            continue;
        }
        give_back(grant);
    }
}

std::span<const std::size_t> SegmentAccess::copy_reads_to_guest() {
    copy_out_failed_.clear();
    if (copy_out_.empty()) {
        return {};
    }
    batch_copies(copy_out_, copy_statuses_);
    for (std::size_t i = 0; i < copy_out_.size(); ++i) {
        if (copy_statuses_[i] != xen::GntSt::okay) {
            copy_out_failed_.push_back(copy_out_responses_[i]);
        }
    }
    free_copy_pages_.insert(free_copy_pages_.end(), copy_pages_done_.begin(),
                            copy_pages_done_.end());
    copy_out_.clear();
    copy_out_responses_.clear();
    copy_pages_done_.clear();
    return copy_out_failed_;
}

int SegmentAccess::persistent_purge_timeout_ms() const noexcept {
    if (!persistent_ || persistent_grants_.size() == 0) {
        return -1;
    }
    return static_cast<int>(PersistentGrants::kPurgeInterval.count());
}

void SegmentAccess::purge_persistent() {
    if (!persistent_) {
        return;
    }
    const std::vector<xen::GrantHandle> handles = persistent_grants_.purge();
    if (handles.empty()) {
        return;
    }
    metrics_.sub(&VbdCounters::persistent_grants, handles.size());
    metrics_.add(&VbdCounters::persistent_purged, handles.size());
    unmap_batch_.insert(unmap_batch_.end(), handles.begin(), handles.end());
}

void SegmentAccess::unmap() {
    for (std::size_t first = 0; first < unmap_batch_.size(); first += hypervisor::wire::kMaxBatch) {
        const auto part = std::span(unmap_batch_)
                              .subspan(first, std::min<std::size_t>(hypervisor::wire::kMaxBatch,
                                                                    unmap_batch_.size() - first));
        try {
            const std::vector<xen::GntSt> statuses = hypervisor_.unmap_grant_refs(part);
            metrics_.add(&VbdCounters::unmap_hypercalls);
            for (std::size_t i = 0; i < statuses.size(); ++i) {
                if (statuses[i] == xen::GntSt::okay) {
                    metrics_.add(&VbdCounters::grant_unmaps);
                } else {
                    spdlog::warn("{}: unmapping handle {}: {}", name_, part[i],
                                 xen::name(statuses[i]));
                }
            }
        } catch (const hypervisor::HypercallError& e) {
            spdlog::warn("{}: unmapping {} grants: {}", name_, part.size(), e.what());
        }
    }
    unmap_batch_.clear();
}

}  // namespace pvsim::backend::blkback
