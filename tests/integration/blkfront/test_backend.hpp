// A blkback stand-in for the blkfront tests, running in the test process as
// dom0 against a real pvsim-hypervisor: it maps the frontend's ring grant,
// binds its event channel, and serves requests from a std::vector "disk"
// the way blkback's data plane does (copy each request once, map the
// segments' grants, copy the data, unmap, answer, notify only when
// RING_PUSH_RESPONSES_AND_CHECK_NOTIFY says so, RING_FINAL_CHECK_FOR_REQUESTS
// before sleeping). It has no adaptive polling: the notification counts the
// tests see are the frontend's doing.
//
// It can also serve the negotiated features the way blkback does:
// BLKIF_OP_INDIRECT (the indirect frames mapped and read once), persistent
// grants (each gref mapped the first time it is seen and kept until the
// backend goes) and BLKIF_OP_DISCARD (zeros written over the range).
//
// For the error tests it can misbehave on purpose: hold requests unanswered
// and let the test write any responses it likes (unknown ids, answers
// twice, wrong operations), keep segments mapped after answering, or move
// rsp_prod past what the ring can hold.
#pragma once

#include <poll.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/os/event_fd.hpp"
#include "common/xen/blkif.hpp"
#include "hypervisor/client/hypervisor.hpp"

namespace pvsim::test {

class TestBackend {
  public:
    struct Stats {
        std::uint64_t requests = 0;
        std::uint64_t responses = 0;
        std::uint64_t notifications_sent = 0;
        std::uint64_t notifications_received = 0;
        std::uint64_t notifications_suppressed = 0;
        std::uint64_t grant_maps = 0;
        std::uint64_t indirect_requests = 0;
        std::uint64_t discards = 0;
    };

    // `max_indirect_segments`: what it serves of BLKIF_OP_INDIRECT (0:
    // none); `discard`: whether it serves BLKIF_OP_DISCARD. A ring of
    // several pages is mapped contiguously only when its refs are one page
    // (tests of multi-page rings use the real backend).
    TestBackend(hypervisor::Hypervisor& hypervisor, xen::DomId frontend, xen::GrantRef ring_ref,
                xen::EvtchnPort port, std::uint64_t sectors, unsigned max_indirect_segments = 0,
                bool discard = false)
        : hypervisor_(hypervisor),
          frontend_(frontend),
          disk_(sectors * xen::kBlkifSectorSize),
          max_indirect_segments_(max_indirect_segments),
          discard_(discard) {
        const hypervisor::GrantMapRequest map{frontend, ring_ref, false};
        auto mapped = hypervisor_.map_grant_refs({&map, 1});
        if (mapped[0].status != xen::GntSt::okay) {
            throw std::runtime_error("test backend: ring ref " + std::to_string(ring_ref) +
                                     " does not map: " + std::string(xen::name(mapped[0].status)));
        }
        ring_handle_ = mapped[0].handle;
        ring_ = std::make_unique<xen::BlkifBackRing>(mapped[0].page, xen::kXenPageSize);
        channel_ = hypervisor_.bind_interdomain(frontend, port);
        thread_ = std::thread([this] { run(); });
    }

    ~TestBackend() {
        stop_.store(true);
        wake_.signal();
        thread_.join();
        unmap_kept();
        std::vector<xen::GrantHandle> persistent;
        for (const auto& [gref, mapping] : persistent_maps_) {
            persistent.push_back(mapping.handle);
        }
        if (!persistent.empty()) {
            hypervisor_.unmap_grant_refs(persistent);
        }
        channel_.close();
        hypervisor_.unmap_grant_refs({&ring_handle_, 1});
    }
    TestBackend(const TestBackend&) = delete;
    TestBackend& operator=(const TestBackend&) = delete;

    // The disk's bytes.
    std::vector<std::byte> disk() {
        std::lock_guard lock(mutex_);
        return disk_;
    }
    // `length` bytes of the disk from `sector`.
    std::vector<std::byte> disk_bytes(std::uint64_t sector, std::size_t length) {
        std::lock_guard lock(mutex_);
        const auto begin = disk_.begin() + static_cast<std::ptrdiff_t>(sector * 512);
        return {begin, begin + static_cast<std::ptrdiff_t>(length)};
    }
    void write_disk(std::size_t offset, const std::vector<std::byte>& bytes) {
        std::lock_guard lock(mutex_);
        std::copy(bytes.begin(), bytes.end(), disk_.begin() + static_cast<std::ptrdiff_t>(offset));
    }

    Stats stats() {
        std::lock_guard lock(mutex_);
        return stats_;
    }
    // Every request taken off the ring so far, as copied.
    std::vector<xen::BlkifRequest> seen() {
        std::lock_guard lock(mutex_);
        return seen_;
    }
    // The frontend's frames every grant it mapped named (as the hypervisor
    // gave them: what the frontend let it reach), the ring aside.
    std::set<std::uint64_t> mapped_frames() {
        std::lock_guard lock(mutex_);
        return mapped_frames_;
    }

    // While holding, requests are taken off the ring but not served.
    void hold() {
        std::lock_guard lock(mutex_);
        holding_ = true;
    }
    std::vector<xen::BlkifRequest> held() {
        std::lock_guard lock(mutex_);
        return held_;
    }
    // Serves what was held and stops holding.
    void release() {
        {
            std::lock_guard lock(mutex_);
            holding_ = false;
        }
        wake_.signal();
    }
    // Writes `responses` to the ring as they are, pushes and notifies (from
    // the test's thread, while holding), and forgets the held requests.
    void respond_raw(const std::vector<xen::BlkifResponse>& responses) {
        std::lock_guard lock(mutex_);
        held_.clear();
        for (const xen::BlkifResponse& response : responses) {
            put_response_locked(response);
        }
        push_locked();
    }
    // The frontend's rsp_event: the response it wants an event for.
    xen::RingIdx rsp_event() {
        std::lock_guard lock(mutex_);
        return xen::ring_index(ring_->shared().rsp_event).load(std::memory_order_acquire);
    }
    // Publishes rsp_prod `ahead` slots beyond what was answered.
    void corrupt_rsp_prod(xen::RingIdx ahead) {
        std::lock_guard lock(mutex_);
        xen::ring_index(ring_->shared().rsp_prod)
            .store(ring_->rsp_prod_pvt() + ahead, std::memory_order_release);
        channel_.notify();
    }

    // Answers without unmapping the segments first (a backend keeping its
    // grants), until unmap_kept().
    void keep_mapped(bool keep) {
        std::lock_guard lock(mutex_);
        keep_mapped_ = keep;
    }
    void unmap_kept() {
        std::vector<xen::GrantHandle> handles;
        {
            std::lock_guard lock(mutex_);
            handles.swap(kept_);
        }
        if (!handles.empty()) {
            hypervisor_.unmap_grant_refs(handles);
        }
    }

    void set_read_only(bool read_only) {
        std::lock_guard lock(mutex_);
        read_only_ = read_only;
    }
    // Keeps every gref mapped once seen (feature-persistent).
    void set_persistent(bool persistent) {
        std::lock_guard lock(mutex_);
        persistent_ = persistent;
    }
    // Answers every request with `status` instead of serving it.
    void force_status(std::optional<xen::BlkifStatus> status) {
        std::lock_guard lock(mutex_);
        forced_status_ = status;
    }

  private:
    void run() {
        while (!stop_.load()) {
            bool worked = false;
            {
                std::lock_guard lock(mutex_);
                const xen::RingIdx rp = ring_->req_prod();
                if (ring_->request_prod_overflow(rp)) {
                    return;  // blkback would write an error node and stop
                }
                while (ring_->req_cons() != rp &&
                       !ring_->request_cons_overflow(ring_->req_cons())) {
                    const xen::BlkifRequest request = ring_->consume_request();
                    seen_.push_back(request);
                    ++stats_.requests;
                    held_.push_back(request);
                    worked = true;
                }
                if (!holding_ && !held_.empty()) {
                    serve_locked();
                    worked = true;
                }
                if (!worked) {
                    worked = ring_->final_check_for_requests();
                }
            }
            if (worked) {
                continue;
            }
            pollfd fds[2] = {{wake_.fd(), POLLIN, 0}, {channel_.fd(), POLLIN, 0}};
            ::poll(fds, 2, -1);
            wake_.try_consume();
            if ((fds[1].revents & POLLIN) != 0) {
                std::lock_guard lock(mutex_);
                if (channel_.poll()) {
                    ++stats_.notifications_received;
                }
            }
        }
    }

    void serve_locked() {
        for (const xen::BlkifRequest& request : held_) {
            xen::BlkifResponse response{};
            response.id = request.id;
            response.operation = request.operation;
            if (request.operation == xen::BlkifOp::indirect) {
                response.operation =
                    xen::blkif_request_as<xen::BlkifRequestIndirect>(request).indirect_op;
            }
            response.status = serve_one_locked(request);
            put_response_locked(response);
        }
        held_.clear();
        push_locked();
    }

    // The page `gref` grants: from the persistent cache, or mapped now (and
    // its handle put in `temporary`).
    std::byte* map_locked(xen::GrantRef gref, bool readonly,
                          std::vector<xen::GrantHandle>& temporary) {
        if (persistent_) {
            if (const auto found = persistent_maps_.find(gref); found != persistent_maps_.end()) {
                return found->second.page;
            }
        }
        const hypervisor::GrantMapRequest map{frontend_, gref, persistent_ ? false : readonly};
        const auto mapped = hypervisor_.map_grant_refs({&map, 1});
        ++stats_.grant_maps;
        if (mapped[0].status != xen::GntSt::okay) {
            return nullptr;
        }
        mapped_frames_.insert(mapped[0].frame);
        if (persistent_) {
            persistent_maps_.emplace(gref, mapped[0]);
        } else if (keep_mapped_) {
            kept_.push_back(mapped[0].handle);
        } else {
            temporary.push_back(mapped[0].handle);
        }
        return mapped[0].page;
    }

    xen::BlkifStatus serve_one_locked(const xen::BlkifRequest& request) {
        std::vector<xen::GrantHandle> temporary;
        const xen::BlkifStatus status = serve_mapped_locked(request, temporary);
        if (!temporary.empty()) {
            hypervisor_.unmap_grant_refs(temporary);
        }
        return status;
    }

    xen::BlkifStatus serve_mapped_locked(const xen::BlkifRequest& request,
                                         std::vector<xen::GrantHandle>& temporary) {
        if (forced_status_) {
            return *forced_status_;
        }
        xen::BlkifOp op = request.operation;
        std::vector<xen::BlkifRequestSegment> segments;
        if (op == xen::BlkifOp::flush_diskcache || op == xen::BlkifOp::write_barrier) {
            return xen::BlkifStatus::okay;
        }
        if (op == xen::BlkifOp::discard) {
            if (!discard_) {
                return xen::BlkifStatus::eopnotsupp;
            }
            const auto discard = xen::blkif_request_as<xen::BlkifRequestDiscard>(request);
            const std::size_t offset = discard.sector_number * xen::kBlkifSectorSize;
            const std::size_t length = discard.nr_sectors * xen::kBlkifSectorSize;
            if (offset + length > disk_.size()) {
                return xen::BlkifStatus::error;
            }
            std::fill_n(disk_.begin() + static_cast<std::ptrdiff_t>(offset), length, std::byte{0});
            ++stats_.discards;
            return xen::BlkifStatus::okay;
        }
        if (op == xen::BlkifOp::indirect) {
            const auto indirect = xen::blkif_request_as<xen::BlkifRequestIndirect>(request);
            op = indirect.indirect_op;
            if (max_indirect_segments_ == 0 || indirect.nr_segments == 0 ||
                indirect.nr_segments > max_indirect_segments_) {
                return xen::BlkifStatus::error;
            }
            ++stats_.indirect_requests;
            const unsigned frames = xen::blkif_indirect_frames(indirect.nr_segments);
            for (unsigned f = 0; f < frames; ++f) {
                const std::byte* page = map_locked(indirect.indirect_grefs[f], true, temporary);
                if (page == nullptr) {
                    return xen::BlkifStatus::error;
                }
                const unsigned in_frame = std::min<unsigned>(
                    xen::kBlkifSegmentsPerIndirectFrame,
                    indirect.nr_segments - f * xen::kBlkifSegmentsPerIndirectFrame);
                for (unsigned i = 0; i < in_frame; ++i) {
                    xen::BlkifRequestSegment segment;
                    std::memcpy(&segment, page + i * sizeof segment, sizeof segment);
                    segments.push_back(segment);
                }
            }
        } else if (op == xen::BlkifOp::read || op == xen::BlkifOp::write) {
            if (request.nr_segments == 0 ||
                request.nr_segments > xen::kBlkifMaxSegmentsPerRequest) {
                return xen::BlkifStatus::error;
            }
            segments.assign(request.seg, request.seg + request.nr_segments);
        } else {
            return xen::BlkifStatus::eopnotsupp;
        }
        if (op != xen::BlkifOp::read && op != xen::BlkifOp::write) {
            return xen::BlkifStatus::error;
        }
        if (op == xen::BlkifOp::write && read_only_) {
            return xen::BlkifStatus::error;
        }
        std::size_t offset = request.sector_number * xen::kBlkifSectorSize;
        for (const xen::BlkifRequestSegment& seg : segments) {
            if (seg.first_sect > seg.last_sect || seg.last_sect >= xen::kBlkifSectorsPerFrame) {
                return xen::BlkifStatus::error;
            }
            std::byte* mapped = map_locked(seg.gref, op == xen::BlkifOp::write, temporary);
            if (mapped == nullptr) {
                return xen::BlkifStatus::error;
            }
            const std::size_t length =
                (std::size_t{seg.last_sect} - seg.first_sect + 1) * xen::kBlkifSectorSize;
            if (offset + length > disk_.size()) {
                return xen::BlkifStatus::error;
            }
            std::byte* page = mapped + std::size_t{seg.first_sect} * xen::kBlkifSectorSize;
            if (op == xen::BlkifOp::write) {
                std::memcpy(disk_.data() + offset, page, length);
            } else {
                std::memcpy(page, disk_.data() + offset, length);
            }
            offset += length;
        }
        return xen::BlkifStatus::okay;
    }

    // Written straight into the slot so that a test can answer more than
    // was asked (produce_response() would refuse).
    void put_response_locked(const xen::BlkifResponse& response) {
        std::memcpy(&ring_->response_slot(ring_->rsp_prod_pvt()), &response, sizeof response);
        ring_->set_rsp_prod_pvt(ring_->rsp_prod_pvt() + 1);
        ++stats_.responses;
    }

    void push_locked() {
        if (ring_->push_responses_and_check_notify()) {
            channel_.notify();
            ++stats_.notifications_sent;
        } else {
            ++stats_.notifications_suppressed;
        }
    }

    hypervisor::Hypervisor& hypervisor_;
    const xen::DomId frontend_;
    xen::GrantHandle ring_handle_ = 0;
    std::unique_ptr<xen::BlkifBackRing> ring_;
    hypervisor::EventChannel channel_;

    std::mutex mutex_;
    std::vector<std::byte> disk_;
    Stats stats_;
    std::vector<xen::BlkifRequest> seen_;
    std::set<std::uint64_t> mapped_frames_;
    std::vector<xen::BlkifRequest> held_;
    bool holding_ = false;
    bool keep_mapped_ = false;
    bool read_only_ = false;
    std::optional<xen::BlkifStatus> forced_status_;
    std::vector<xen::GrantHandle> kept_;
    const unsigned max_indirect_segments_;
    const bool discard_;
    bool persistent_ = false;
    std::map<xen::GrantRef, hypervisor::GrantMapping> persistent_maps_;

    os::EventFd wake_{os::EventFd::Options{.nonblocking = true}};
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

}  // namespace pvsim::test
