// blkfront's control plane (Linux xen-blkfront.c: blkfront_probe,
// talk_to_blkback, blkback_changed, blkfront_connect, blkfront_closing; and
// drivers/xen/xenbus/xenbus_client.c for switching state and reporting
// fatal errors). It follows the backend's `state` node and its own device
// directory, and never touches the ring: it hands the data plane
// (blkfront_queue.hpp) a granted ring page and an event channel once the
// backend is Connected, and tells it when the backend goes away.
//
// The sequence (DESIGN.md §5, blkif.h, REFERENCES "State sequences"):
//  - set-up: our own configuration is read once from the device
//    directory's "pvsim-*" nodes (common/xen/blkif_features.hpp), and our
//    guest's ring layout from its "protocol" node (x86_64-abi when missing,
//    or x86_32-abi: common/xen/blkif_x86_32.hpp);
//  - backend InitWait, we Initialising (talk_to_blkback, setup_blkring):
//    "trusted" is read from our own directory (0: bounce, grant_pool.hpp);
//    n = min(our max_queues, the backend's multi-queue-max-queues) rings of
//    2^order pages, order = min(our max_ring_page_order, the backend's
//    max-ring-page-order), each granted, with an unbound event channel;
//    written in one transaction, started over on EAGAIN: ring-ref (order 0)
//    or ring-page-order + ring-ref0..N-1, event-channel - under queue-K/
//    with multi-queue-num-queues when n > 1 - protocol (that layout),
//    feature-persistent (ours), and state Initialised;
//  - backend Connected: read sectors, info, sector-size and the feature
//    nodes, negotiate (persistent grants when both offer them, indirect
//    segments min(ours, the backend's) when above 11, discard, flush-cache
//    or else barrier when offered and ours allows), start one data plane
//    per ring behind a QueueSet, go Connected (Connected again later is a
//    resize: the capacity is read again);
//  - backend InitWait or Initialising while we are Connected (its process
//    was restarted): nothing; blkback_changed acts on InitWait only while
//    Initialising. The new backend attaches our live rings where their
//    responses stopped and goes Connected, which is a resize for us; we
//    never leave Connected, and what was on the rings is served by it;
//  - reconnect() (ours): hold new requests, go Closing; once the backend
//    closes too, and what was on the rings is answered (at most
//    close_timeout), Closed, and on the backend's Closed take back what is
//    unfinished, go Initialising and set up again as above;
//  - backend Closing (a detach, Linux's blkfront_closing): stop taking
//    requests, give those on the ring up to close_timeout to complete (a
//    timer and the rings' when_idle, never a wait on the strand), then
//    fail whatever is left with -ENODEV and go straight to Closed, as
//    xenbus_frontend_closed does; the backend disconnects after. The rings
//    stay granted and their event channels bound until the backend has let
//    go of them (its Closed, after it unmapped them: Linux's
//    xen_blkif_disconnect; or its state seen gone, Initialising or
//    InitWait, past a Closed the watch handler never read) or the device
//    goes (its directory removed, or
//    the device destroyed: blkfront_remove -> blkif_free, Linux 5.x to
//    6.x), so that a detach ends no grant the backend still maps;
//  - backend Closed without a Closing first (blkback_changed falls
//    through to blkfront_closing): the same at once, even while Connected.
//  - our own close (the device is destroyed): go Closing, wait for the
//    backend to go Closed (at most close_timeout, as Linux's
//    xenbus_frontend_dev_shutdown waits), then the same, except that past
//    that wait the rings go at once (a ring grant the backend still maps
//    waits on the deferred list). A device destroyed while Closed waits as
//    long for the backend to let go of the rings it still holds; past that
//    their grants end when the backend unmaps them (the deferred list).
// The negotiation itself (queues, ring size, the ring keys, features) is
// negotiate.hpp's; blkif_recover's part here (reconnect() and
// take_back_rings, what Linux runs at resume after save/restore) is in
// recover.cpp, with the data plane's.
//
// A fatal error (a backend node that cannot be read or makes no sense, a
// ring or event channel that cannot be set up, a response the data plane
// cannot trust) is reported as xenbus_dev_fatal does: "<errno> <message>"
// in error/device/vbd/<id>/error under our home and in the device
// directory's own `error` node, where the toolstack reads it; then Closing.
// Our `state` is written only while the node exists, so a directory the
// toolstack removed is never brought back.
//
// Every transition runs on a strand of the executor the frontend is given
// (the guest's control plane, shared by all its frontends, as dom0's
// backends share theirs: common/os/io_threads.hpp): watch callbacks and
// the data plane only post to it, so the state machine needs no lock of
// its own and a watch callback never blocks the xenstore client's dispatch
// thread. No handler blocks the executor but on xenstore round trips:
// waits for a drain are a timer and a callback, and the calls that wait
// for a state (the constructor's caller's wait_connected(), close(),
// reconnect()) wait on their caller's thread, which must not be one of the
// executor's.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "common/xen/blkif.hpp"
#include "common/xen/blkif_features.hpp"
#include "common/xen/xenbus.hpp"
#include "frontend/blkfront/blkfront_queue.hpp"
#include "frontend/blkfront/negotiate.hpp"
#include "frontend/blkfront/queue_set.hpp"
#include "frontend/blkfront/ring_page.hpp"
#include "hypervisor/client/hypervisor.hpp"
#include "xenstore/client/client.hpp"
#include "xenstore/client/xenbus_watch.hpp"

namespace pvsim::frontend::blkfront {

// A device that could not be connected, or was lost: what() names the
// device and why (the backend's own error text when it wrote one).
class BlkfrontError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct BlkfrontOptions {
    // How long opening waits for the backend to connect.
    std::chrono::milliseconds connect_timeout{30000};
    // How long our own close waits for the backend to go Closed.
    std::chrono::milliseconds close_timeout{5000};
    // Called on the control strand with each state this frontend takes, in
    // order (for transition logs).
    std::function<void(xen::XenbusState)> on_state;
};

// pvsim's "poll-us" when the device directory has none (DESIGN.md §10).
inline constexpr std::chrono::microseconds kDefaultPoll{50};

class XenbusFrontend {
  public:
    // `nodename`: the device directory, absolute
    // ("/local/domain/<domid>/device/vbd/<devid>"). Reads its `backend` and
    // `backend-id` and starts following the backend; throws BlkfrontError
    // when they cannot be read (after reporting it as a fatal error).
    // `hypervisor`, `xenstore` and `executor` (which must keep running)
    // must outlive this object.
    XenbusFrontend(hypervisor::Hypervisor& hypervisor, xenstore::client::Client& xenstore,
                   boost::asio::any_io_executor executor, std::string nodename,
                   BlkfrontOptions options = {});
    // close(), then stops following; the data plane goes with it, and no
    // handler of ours is left on the executor. Not from a completion
    // callback, nor from the executor.
    ~XenbusFrontend();
    XenbusFrontend(const XenbusFrontend&) = delete;
    XenbusFrontend& operator=(const XenbusFrontend&) = delete;

    // Blocks until Connected and returns the data plane, which lives as long
    // as this object. Throws BlkfrontError when the device cannot connect
    // (the backend's error text, a bad backend value, connect_timeout).
    QueueSet& wait_connected();

    // Our own orderly close (see above); blocks until Closed, or forces it
    // after close_timeout. Idempotent.
    void close();
    // Frontend-initiated reconnect (see above): blocks until Connected
    // again. Throws BlkfrontError when not Connected to begin with, or not
    // again within connect_timeout.
    void reconnect();
    // True from reconnect() until Connected again (a Closed on the way is
    // not the end of the device).
    bool reconnecting() const;
    // Our configuration, as read at set-up.
    const xen::BlkifFeatureConfig& features() const noexcept { return features_; }
    // What the backend offered (its protocol nodes), as last read.
    struct Negotiated {
        unsigned queues = 1;
        unsigned ring_page_order = 0;
        unsigned indirect_segments = 0;  // 0: plain requests of up to 11 segments
        bool persistent = false;
        bool discard = false;
        // The queue limits blkif_set_queue_limits sets from them (bytes).
        std::uint32_t discard_granularity = 0;
        std::uint32_t discard_alignment = 0;
        bool secure_discard = false;
        bool flush_cache = false;
        bool barrier = false;
        // info->bounce: data goes through blkfront's own granted pages
        // (trusted=0 in our directory, or persistent grants).
        bool bounce = false;
    };
    Negotiated negotiated() const;
    // How many times blkif_recover ran (backend restarts and reconnects).
    std::uint64_t recoveries() const;

    xen::XenbusState state() const;
    xen::XenbusState backend_state() const;
    const std::string& nodename() const noexcept { return nodename_; }
    const std::string& backend_path() const noexcept { return backend_path_; }
    xen::DomId backend_id() const noexcept { return backend_id_; }
    // Null until Connected.
    QueueSet* device();

  private:
    // Control-strand handlers.
    void backend_changed();
    void own_directory_changed();
    void talk_to_backend();
    void connect();
    void begin_close(const std::string& reason);
    void close_for_backend(const std::string& reason);
    // Runs `then` on the strand once nothing is on the rings, or after
    // close_timeout, whichever comes first; a later call replaces it.
    void after_rings_idle(std::function<void()> then);
    void rings_idle(std::uint64_t generation);
    void stop_requests(const std::string& reason);
    void finish_close(const std::string& reason);
    void fatal(int errnum, const std::string& message);
    void switch_state(xen::XenbusState state);
    // Takes `state` locally (after it is written, or when it cannot be).
    void set_state(xen::XenbusState state);
    void device_failed(const std::string& reason);
    // blkif_recover's first half: the rings' unfinished requests are held,
    // the rings and their channels dropped.
    void take_back_rings(const std::string& why);
    void begin_reconnect();
    void drop_rings();

    // The backend's error text, where blkback or xenbus_dev_fatal put it.
    std::optional<std::string> backend_error();
    std::optional<std::string> try_read(const std::string& path);
    xen::BlkifProtocol read_guest_protocol();
    bool read_trusted();
    std::chrono::microseconds read_poll();
    // "<name> (<number>)", for logs and errors.
    static std::string state_text(xen::XenbusState state);
    // Runs `handler` on the control strand and waits for it (not from the
    // executor).
    void run_on_control_strand(std::function<void()> handler);

    hypervisor::Hypervisor& hypervisor_;
    xenstore::client::Client& xenstore_;
    const std::string nodename_;
    BlkfrontOptions options_;
    std::string backend_path_;
    xen::DomId backend_id_ = 0;
    xen::BlkifVdev handle_ = 0;

    boost::asio::strand<boost::asio::any_io_executor> strand_;

    mutable std::mutex mutex_;  // guards what other threads read below
    std::condition_variable changed_;
    xen::XenbusState state_ = xen::XenbusState::initialising;
    xen::XenbusState backend_state_ = xen::XenbusState::unknown;
    std::optional<std::string> failure_;  // why this device cannot (or can no longer) work

    xen::BlkifFeatureConfig features_;
    // Our guest's ring layout, as read at set-up (read_guest_protocol).
    xen::BlkifProtocol protocol_ = xen::BlkifProtocol::x86_64;
    Negotiated negotiated_;
    bool reconnecting_ = false;
    std::uint64_t recoveries_ = 0;
    // Closed with the rings still granted, waiting for the backend to let
    // go of them (blkif_free is blkfront_remove's, not blkfront_closing's).
    bool rings_held_ = false;

    // Control strand only.
    bool started_ = false;  // the constructor has set up the watches
    bool trusted_ = true;   // "trusted", as talk_to_blkback last read it
    using Ring = FrontRing;
    std::vector<Ring> rings_;
    std::unique_ptr<QueueSet> device_;  // from the first Connected on
    bool in_fatal_ = false;
    bool closing_for_backend_ = false;  // close_for_backend waits for the rings
    // The drain after_rings_idle() waits for: its timeout, what then runs,
    // and which call it is (a late callback of an earlier one is ignored).
    boost::asio::steady_timer drain_timer_;
    std::function<void()> after_drain_;
    std::uint64_t drain_generation_ = 0;

    xenstore::client::XenbusWatch backend_watch_;
    xenstore::client::XenbusWatch own_watch_;
};

}  // namespace pvsim::frontend::blkfront
