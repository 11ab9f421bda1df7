// The data plane of one vbd ring (Linux xen-blkback/blkback.c: the
// xen_blkif_schedule thread, __do_block_io_op, dispatch_rw_block_io,
// xen_blkbk_map, end_block_io_op, make_response): one thread per ring that
//   - takes each request off the shared ring once (RING_COPY_REQUEST; on
//     an x86_32-abi ring the copy is then translated to the native layout,
//     blkif_get_x86_32_req) and checks the private copy (request_check.hpp);
//   - reads an indirect request's segments from its indirect pages once
//     into a private array (xen_blkbk_parse_indirect), then serves it as
//     any other;
//   - reaches the segments of every request of a burst at once through
//     segment_access.hpp (xen_blkbk_map: one batched GNTTABOP_map_grant_ref,
//     persistent grants, or in grant copy mode one batched GNTTABOP_copy per
//     burst and direction), the indirect pages the same way;
//   - holds a BLKIF_OP_WRITE_BARRIER until every earlier request of the
//     ring is answered (xen_blk_drain_io), then writes and flushes;
//   - submits the I/O asynchronously to the store's I/O engine, one
//     io_uring_enter (or pool wake-up) per burst;
//   - on completion unmaps (batched, xen_blkbk_unmap), writes the
//     response, and pushes the responses of a whole pass at once with
//     RING_PUSH_RESPONSES_AND_CHECK_NOTIFY, notifying only when it says so;
//   - before sleeping polls adaptively (DESIGN.md §10), leaving req_event
//     stale meanwhile so that the frontend need not notify, then
//     RING_FINAL_CHECK_FOR_REQUESTS, so no request is ever left in the ring
//     without an event.
// The thread is the backends' service loop (backend/data_plane/
// service_loop.hpp); this class is the ring's part of it. A frontend that
// moves req_prod more than a ring ahead of the responses stops the ring for
// good (Linux: "Frontend provided bogus ring requests"): the in-flight I/O
// is still completed and answered, nothing more is taken, and the control
// plane hears of it through the ring-error handler. It hears the same when
// the loop itself fails (poll(2) failing: DESIGN.md §10); then the I/O in
// flight is waited for but not answered. It never touches
// xenstore: that is the control plane's (DESIGN.md §2).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backend/blkback/pending_request.hpp"
#include "backend/blkback/persistent_grants.hpp"
#include "backend/blkback/request_check.hpp"
#include "backend/blkback/request_journal.hpp"
#include "backend/blkback/ring_connection.hpp"
#include "backend/blkback/segment_access.hpp"
#include "backend/blkback/vbd_counters.hpp"
#include "backend/data_plane/service_loop.hpp"
#include "backend/storage/backing_store.hpp"
#include "backend/storage/make_engine.hpp"
#include "common/xen/blkif_features.hpp"

namespace pvsim::backend::blkback {

struct DataPlaneOptions {
    // The polling window's upper bound (the vbd's "poll-us"); 0: no polling.
    std::chrono::microseconds poll_max{50};
    // data_plane::LoopOptions::contention.
    os::CpuContention::Options contention;
    storage::EngineKind engine = storage::EngineKind::automatic;
    // Both ends said feature-persistent=1 (never in copy mode).
    bool persistent = false;
    std::size_t max_persistent_grants = PersistentGrants::kDefaultMax;
    std::chrono::milliseconds persistent_timeout = PersistentGrants::kDefaultTimeout;
    xen::BlkifGrantMode grant_mode = xen::BlkifGrantMode::map;
    // The run's shared-memory tag: requests taken are kept in a journal for
    // the next backend of the ring (request_journal.hpp). Empty: none.
    std::string journal_run_tag;
    // The store answered a flush or barrier (IoKind::flush, IoKind::barrier)
    // -EOPNOTSUPP: Linux's __end_block_io_op then writes
    // feature-flush-cache or feature-barrier 0 (xen_blkbk_flush_diskcache,
    // xen_blkbk_barrier) and answers BLKIF_RSP_EOPNOTSUPP. Called from the
    // ring thread, at each such answer; must not block (the control plane
    // posts it to its own thread).
    std::function<void(IoKind)> on_flush_refused;
};

class DataPlane {
  public:
    // Called once, from the ring thread, when the ring fails for good (not
    // when it halts on a frontend's overrun); must not block (the control
    // plane posts it to its own thread).
    using RingErrorHandler = std::function<void(const std::string& reason)>;

    // Creates the I/O engine on `store` (which must outlive this object)
    // with one slot per ring slot, then starts the ring thread. Throws
    // std::system_error when the engine cannot be set up. `name` prefixes
    // log lines (the vbd's backend path).
    DataPlane(RingConnection connection, const storage::BackingStore& store, VbdLimits limits,
              DataPlaneOptions options, std::shared_ptr<LiveCounters<VbdCounters>> metrics,
              RingErrorHandler on_ring_error, std::string name);
    // stop()
    ~DataPlane();
    DataPlane(const DataPlane&) = delete;
    DataPlane& operator=(const DataPlane&) = delete;

    // xen_blkif_disconnect's wait: takes no more requests, lets the I/O in
    // flight finish and answers it, joins the thread, then unmaps every
    // persistent grant and gives back its copy pages. Idempotent.
    void stop();

    // The ring takes no more requests: it was halted (a frontend that ran
    // req_prod more than a ring ahead, which only the log reports, as
    // xen_blkif_schedule does) or it failed (the handler has been called).
    bool ring_failed() const noexcept { return loop_.failed(); }
    // The vbd's capacity changed (xen_vbd_resize): requests are checked
    // against `sectors` from the ring thread's next pass on, as Linux's
    // xen_vbd_translate checks each one against vbd_sz, the device's live
    // size. Any thread.
    void set_capacity(std::uint64_t sectors) noexcept {
        capacity_.store(sectors, std::memory_order_release);
    }
    std::string_view engine_name() const noexcept { return loop_.engine().name(); }
    const RingConnection& connection() const noexcept { return connection_; }

  private:
    friend class data_plane::ServiceLoop<DataPlane>;
    using Loop = data_plane::ServiceLoop<DataPlane>;

    // The device's part of the service loop (backend/data_plane/service_loop.hpp).
    bool take_requests();
    bool has_requests() noexcept { return connection_.ring().unconsumed_requests() != 0; }
    void publish();
    // blkback leaves req_event stale while it polls: the frontend sees no
    // need to notify until RING_FINAL_CHECK_FOR_REQUESTS moves it.
    void suppress_notifications() noexcept {}
    data_plane::Arm arm_and_recheck();
    int notify_fd() noexcept { return connection_.event_channel().fd(); }
    // xen_blkif_schedule (Linux 6.1) waits at most LRU_INTERVAL, then
    // purges: idle persistent grants go even when no request comes.
    int sleep_timeout_ms() const noexcept { return access_.persistent_purge_timeout_ms(); }
    bool consume_notification() { return connection_.event_channel().poll(); }
    data_plane::IoExpectation expect(std::uint32_t index) noexcept;
    bool stage_done(std::uint32_t index);
    void complete(std::uint32_t index, data_plane::IoOutcome outcome);
    std::string describe(std::uint32_t index);
    void completions_reaped();
    void abandon(std::uint32_t index) { release_grants(index); }
    void release_after_failure();
    void on_failure(const std::string& reason);

    bool barrier_ready() const noexcept { return barrier_waiting_ && pending_.in_use() == 1; }
    // Maps, copies and submits the requests of burst_.
    void start_burst();
    // The answers retired so far go out; then a barrier held until the ring
    // drained goes, if it now has.
    void answer_retired();
    // xen_blkbk_parse_indirect for the indirect requests of burst_: their
    // segments read once, then checked; a bad one is answered here.
    void read_indirect_segments();
    bool submit(std::uint32_t index);
    // Gives the slot's grants back, copying no read data to the guest: a
    // flush's write is done, or the ring is drained after a failure.
    void release_grants(std::uint32_t index);
    // The request is done: its grants go, its response waits for
    // flush_retired().
    void retire(std::uint32_t index, xen::BlkifStatus status);
    // The copies to the guest, one unmap hypercall for everything released,
    // then the responses.
    void flush_retired();
    void make_response(std::uint64_t id, xen::BlkifOp operation, xen::BlkifStatus status);
    void fail_ring(const std::string& reason) { loop_.fail(reason); }

    RingConnection connection_;
    // The ring thread's own; its `sectors` follows capacity_.
    VbdLimits limits_;
    std::atomic<std::uint64_t> capacity_;
    const std::shared_ptr<LiveCounters<VbdCounters>> metrics_;
    const RingErrorHandler on_ring_error_;
    const std::function<void(IoKind)> on_flush_refused_;
    const std::string name_;
    Loop loop_;

    // The ring thread's own.
    std::optional<RequestJournal> journal_;
    // The frontend overran the ring: the failure is logged, not reported.
    bool halted_ = false;
    PendingTable pending_;
    SegmentAccess access_;
    std::vector<std::uint32_t> burst_;
    // A BLKIF_OP_WRITE_BARRIER held until every earlier request is
    // answered; while it waits, some I/O is always in flight.
    std::optional<std::uint32_t> barrier_waiting_;
    struct Retired {
        std::uint32_t index;
        xen::BlkifStatus status;
    };
    std::vector<Retired> retired_;
    bool responses_unpushed_ = false;
};

}  // namespace pvsim::backend::blkback
