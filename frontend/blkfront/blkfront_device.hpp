// blkfront's data plane for one ring (Linux xen-blkfront.c: blkif_queue_rq,
// blkif_interrupt, blkif_completion, blkif_recover), as a BlockDevice (a
// device with several queues has one per ring behind a QueueSet). It never touches xenstore: the
// control plane (xenbus_frontend.hpp) hands it a ring page that is already granted, an event
// channel the backend has bound, and what the backend published about the disk, and tells it when
// the backend is closing or gone.
//
// Submission: each BlockRequest is split into blkif requests
// (request_builder.hpp); its pages are granted to the backend
// (segment_grants.hpp), the request is tracked in the shadow table
// (shadow.hpp) and written to the ring; a whole batch is published with one
// RING_PUSH_REQUESTS_AND_CHECK_NOTIFY, so the backend is notified at most
// once per batch, and not at all while its event index says it is awake.
// A full ring blocks the submitter, after publishing what it queued, until
// responses free slots; on the completion thread itself (a callback that
// submits) the rest is queued and issued as slots free, since that thread
// is the one that frees them.
//
// Features, as the control plane negotiated them (config().disk):
//  - indirect descriptors (max_indirect_segments > 11): a read or write of
//    up to that many segments is one BLKIF_OP_INDIRECT request, its
//    segments written into indirect frames granted for the request;
//  - persistent grants (feature_persistent): a pool of our own pages
//    granted once for the ring's life, data copied through them
//    (segment_grants.hpp);
//  - discard (feature_discard): BLKIF_OP_DISCARD for a discard request;
//    without it a discard completes with -EOPNOTSUPP.
//
// Completion: one thread takes responses off the ring, checks each one
// (response_check.hpp) before trusting it, ends the grants of the request it
// answers and runs the caller's callback. A grant the backend still has
// mapped cannot end; the callback then waits until it can
// (gnttab_try_end_foreign_access), so a page the backend can still write is
// never handed back. Before sleeping the thread polls the ring adaptively
// (adaptive_poll.hpp, DESIGN.md §10) and only then arms the event index with
// RING_FINAL_CHECK_FOR_RESPONSES, so no response is slept through.
//
// A response that fails its checks fails the device: error() says why,
// every request still pending completes with -ENODEV, later ones too, and
// the control plane is told (FailureHandler) so that it can report it in
// xenstore. Nothing else in the process is affected.
//
// blkif_recover's part here (hold(), take_unfinished()) is in recover.cpp,
// with the control plane's.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "common/adaptive_poll.hpp"
#include "common/os/event_fd.hpp"
#include "common/xen/blkif.hpp"
#include "frontend/blkfront/disk_info.hpp"
#include "frontend/blkfront/request_builder.hpp"
#include "frontend/blkfront/segment_grants.hpp"
#include "frontend/blkfront/shadow.hpp"
#include "frontend/block_device.hpp"
#include "hypervisor/client/event_channel.hpp"
#include "hypervisor/client/hypervisor.hpp"

namespace pvsim::frontend::blkfront {

// Per-device counters (DESIGN.md §10: the per-request counts the design
// controls).
struct BlkfrontCounters {
    std::uint64_t requests = 0;   // blkif requests put on the ring
    std::uint64_t segments = 0;   // their segments (= grants made)
    std::uint64_t bytes = 0;      // data they move
    std::uint64_t responses = 0;  // responses taken off the ring
    // Events sent to the backend, and pushes after which the backend's
    // req_event said it needed none (it was awake or polling).
    std::uint64_t notifications_sent = 0;
    std::uint64_t notifications_suppressed = 0;
    // Events taken from the backend (coalesced sends count once).
    std::uint64_t notifications_received = 0;
    // Grants the backend still had mapped when their request was answered.
    std::uint64_t grants_deferred = 0;
    // BLKIF_OP_INDIRECT requests among `requests`.
    std::uint64_t indirect_requests = 0;
    // Segments copied through persistent grants (into them for writes, out
    // of them for reads).
    std::uint64_t data_copies = 0;
    // BLKIF_OP_DISCARD requests, and flushes sent (flush-cache or barrier).
    std::uint64_t discards = 0;
    std::uint64_t flushes = 0;
    // Requests taken back from a ring and issued again after a reconnect
    // (blkif_recover).
    std::uint64_t recovered = 0;
    // Gauges, not counts: grants in the persistent pools now, the queues
    // (rings) and the pages of each ring.
    std::uint64_t persistent_grants = 0;
    std::uint64_t queues = 1;
    std::uint64_t ring_pages = 1;
};

struct DataPlaneConfig {
    std::string name;  // the device in logs and errors, e.g. "device/vbd/51712"
    xen::DomId backend_id = 0;
    xen::BlkifVdev handle = 0;  // blkif_request.handle: the virtual device number
    DiskInfo disk;
    std::chrono::microseconds poll{50};  // "poll-us": the polling window's maximum, 0 = off
};

class BlkfrontDevice final : public BlockDevice {
  public:
    // Called once, from the completion thread, when a response fails the
    // device, with the reason.
    using FailureHandler = std::function<void(const std::string& reason)>;

    // `ring_area` is the ring page, initialised and granted, which must
    // outlive disconnect(); `channel` is bound by the backend.
    BlkfrontDevice(hypervisor::Hypervisor& hypervisor, void* ring_area, std::size_t ring_bytes,
                   hypervisor::EventChannel channel, DataPlaneConfig config,
                   FailureHandler on_failure = {});
    // disconnect(), then stops the completion thread once every callback has
    // run. Not from a completion callback.
    ~BlkfrontDevice() override;
    BlkfrontDevice(const BlkfrontDevice&) = delete;
    BlkfrontDevice& operator=(const BlkfrontDevice&) = delete;

    // BlockDevice. A read or write past the capacity completes with -EIO (as
    // Linux's bio_check_eod fails it), a malformed request (no buffer, a
    // length that is not a non-zero multiple of 512 or overruns its pages)
    // with -EINVAL, a request when the grant table is full with -ENOMEM. A
    // flush on a backend with neither "feature-flush-cache" nor
    // "feature-barrier" completes at once with 0: such a backend writes
    // through (Linux then sends no flushes at all). A write to a read-only
    // device goes to the backend, which refuses it (BLKIF_RSP_ERROR), as
    // Linux's block layer lets it through. in_flight() counts a request from
    // submit() until its callback has returned.
    std::uint64_t capacity_sectors() const override;
    std::uint32_t sector_size() const override;
    bool read_only() const override;
    void submit(std::span<BlockRequest> batch) override;
    std::size_t in_flight() const override;
    std::string error() const override;

    BlkfrontCounters counters() const;
    const DataPlaneConfig& config() const noexcept { return config_; }

    // The backend announced a new size (Connected again, as Linux's
    // blkfront_connect handles a resize).
    void set_capacity(std::uint64_t sectors);
    // The polling window's maximum ("poll-us"), and a new one.
    std::chrono::microseconds poll() const;
    void set_poll(std::chrono::microseconds window);

    // The device is going away (backend Closing, or a close of our own):
    // requests not yet on the ring, and new ones, complete with -ENODEV;
    // those on the ring still get their responses. `reason` becomes error().
    void stop_accepting(const std::string& reason);
    // The backend has let go of the ring (backend Closed): takes the last
    // responses, completes whatever is still pending with -ENODEV, ends the
    // grants and closes the event channel; the ring page is no longer used
    // when this returns. Idempotent.
    void disconnect(const std::string& reason);
    // blkif requests on the shared ring, not yet answered.
    std::size_t on_ring() const;
    // blkif_recover, first half: no request goes on the ring any more (new
    // ones and those waiting for a slot are queued); responses are still
    // taken. Wakes submitters waiting for a slot.
    void hold();
    // blkif_recover, second half (once no submit() is running): takes back
    // every request not yet completed (on the ring or queued) whose
    // callback has not run, without running it, ends the ring's grants
    // (persistent ones too; any still pinned are parked) and closes the
    // event channel. The requests come back whole, with their callbacks,
    // to be issued again on a new ring; the ring page is no longer used.
    std::vector<BlockRequest> take_unfinished();
    // Fails the device as a bad response would (without calling the
    // FailureHandler): for errors the control plane finds.
    void fail(const std::string& reason);
    // True while requests are accepted.
    bool accepting() const;
    // True once a bad response (or fail()) failed the device.
    bool failed() const;
    // The thread that takes this ring's responses and runs its callbacks:
    // a submit from it never waits for a slot (it is the one that frees
    // them), so a callback's submit must come back to this ring.
    std::thread::id completion_thread() const noexcept { return thread_.get_id(); }

  private:
    using Clock = std::chrono::steady_clock;

    struct Queued {  // a blkif request waiting for a ring slot
        BlkifRequestPlan plan;
        std::shared_ptr<PendingIo> io;
    };
    struct DeferredGrant {  // answered, but the backend still maps it
        xen::GrantRef ref;
        std::shared_ptr<PendingIo> io;
        std::optional<hypervisor::Gfn> page;  // our own page to free once it ends
    };

    // The completion thread.
    void run();
    // One round of work under the lock; true if anything moved.
    bool serve_locked();
    // Takes the responses published so far; the reason when one cannot be
    // trusted.
    std::optional<std::string> take_responses_locked(bool& worked);
    bool retry_deferred_locked();
    bool issue_queued_locked();
    // Polls the ring (and the flag set when local work arrives) until the
    // window since `idle_since` ends; true if work showed up.
    bool poll_for_work(Clock::time_point idle_since);
    // Arms the event index; true if work is there after all.
    bool arm_or_find_work();
    void sleep();

    // Puts one blkif request on the ring or, on a full ring, waits (or
    // queues it, on the completion thread).
    void issue_locked(std::unique_lock<std::mutex>& lock, BlkifRequestPlan plan,
                      const std::shared_ptr<PendingIo>& io, bool on_completion_thread);
    void put_on_ring_locked(const BlkifRequestPlan& plan, const std::shared_ptr<PendingIo>& io);
    // Gives an answered (or never issued) entry's persistent grants back to
    // the pool and ends its other grants, deferring those still mapped
    // (counted as outstanding parts of `io` when there is one).
    void release_entry_locked(ShadowEntry& entry, const std::shared_ptr<PendingIo>& io);
    // RING_PUSH_REQUESTS_AND_CHECK_NOTIFY of everything queued on the ring.
    void push_locked();
    // Ends the grants of an answered request; those still mapped are
    // deferred and counted as outstanding parts of `io`.
    void end_grants_locked(const GrantRefs& grants, const std::shared_ptr<PendingIo>& io,
                           std::optional<hypervisor::Gfn> page = std::nullopt);
    // One part of `io` is done.
    void finish_part_locked(const std::shared_ptr<PendingIo>& io, int status);
    // Completes every request still pending with `status`, parking grants
    // the backend may still map.
    void fail_everything_locked(int status);
    void fail_locked(const std::string& reason, bool report);
    void stop_accepting_locked(const std::string& reason);
    void detach_locked();
    void wake();

    hypervisor::Hypervisor& hypervisor_;
    const DataPlaneConfig config_;
    const FailureHandler on_failure_;
    std::atomic<std::uint64_t> capacity_;
    std::atomic<std::int64_t> poll_max_ns_;

    mutable std::mutex mutex_;          // the ring lock: everything below until the counters
    std::condition_variable space_;     // a slot freed, or the device stopped accepting
    std::condition_variable detached_;  // ring_live_ went false
    xen::BlkifFrontRing ring_;
    hypervisor::EventChannel channel_;
    ShadowTable shadow_;
    std::optional<xen::BlkifOp> flush_operation_;
    const unsigned max_segments_;  // per request: 11, or the negotiated indirect count
    PersistentGrantPool pool_;     // used when config_.disk.feature_persistent
    bool holding_ = false;         // blkif_recover under way
    xen::RingIdx published_ = 0;   // req_prod as last pushed
    bool accepting_ = true;
    bool ring_live_ = true;
    bool failed_ = false;
    bool detach_requested_ = false;
    bool stopping_ = false;
    bool failure_unreported_ = false;
    std::string error_;
    std::string detach_reason_;
    std::deque<Queued> queued_;
    std::vector<DeferredGrant> deferred_;
    std::vector<std::shared_ptr<PendingIo>> ready_;  // finished, callbacks to run

    std::atomic<bool> local_work_{false};
    std::atomic<std::size_t> in_flight_{0};
    std::atomic<std::uint64_t> requests_{0}, segments_{0}, bytes_{0}, responses_{0};
    std::atomic<std::uint64_t> sent_{0}, suppressed_{0}, received_{0}, grants_deferred_{0};
    std::atomic<std::uint64_t> indirect_{0}, data_copies_{0}, discards_{0}, flushes_{0};

    os::EventFd wake_{os::EventFd::Options{.nonblocking = true}};
    AdaptivePoll poll_;   // the completion thread's own
    std::thread thread_;  // last: starts once everything above exists
};

}  // namespace pvsim::frontend::blkfront
