// blkif_recover (Linux xen-blkfront.c): a reconnect of our own (what Linux
// runs at resume after save/restore, blkfront_resume; pvsim's `reconnect`)
// gets new rings, and every request the old rings had not finished is taken
// back and issued again on them, its callback run once, with the outcome of
// that last issue. A backend that restarts does not need it: it attaches
// the live rings (xen-blkback's xen_blkif_map, BACK_RING_ATTACH). Its three parts live with the
// objects they act on, and are here together so that the whole sequence reads in one place:
//  - the queue of a ring (blkfront_queue.hpp, request_engine.hpp): hold()
//    stops requests reaching the ring, take_unfinished() takes them back
//    with their callbacks and drops the ring's grants and channel
//    (BlkfrontRing::take_back);
//  - the QueueSet (queue_set.hpp) holds what is submitted meanwhile and, on
//    attach(), issues it all again re-split for the new rings' features;
//  - the control plane (xenbus_frontend.hpp): reconnect() takes the rings
//    back (take_back_rings) and negotiates anew (negotiate.hpp).
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "frontend/blkfront/blkfront_queue.hpp"
#include "frontend/blkfront/xenbus_frontend.hpp"

namespace pvsim::frontend::blkfront {

using xen::XenbusState;

// ---------------------------------------------------------------------------
// The control plane: when to take the rings back

void XenbusFrontend::reconnect() {
    {
        std::lock_guard lock(mutex_);
        if (state_ != XenbusState::connected || failure_ || reconnecting_) {
            throw BlkfrontError("blkfront " + nodename_ + ": cannot reconnect while " +
                                (reconnecting_ ? std::string("reconnecting") : state_text(state_)));
        }
        reconnecting_ = true;
    }
    boost::asio::post(strand_, [this] { begin_reconnect(); });
    std::unique_lock lock(mutex_);
    const bool settled = changed_.wait_for(lock, options_.connect_timeout, [this] {
        return (state_ == XenbusState::connected && !reconnecting_) || failure_.has_value() ||
               (state_ == XenbusState::closed && !reconnecting_);
    });
    if (settled && state_ == XenbusState::connected && !failure_) {
        return;
    }
    throw BlkfrontError("blkfront " + nodename_ + ": reconnect " +
                        (failure_ ? "failed: " + *failure_
                                  : "did not complete within " +
                                        std::to_string(options_.connect_timeout.count()) +
                                        " ms (backend " + state_text(backend_state_) +
                                        ", frontend " + state_text(state_) + ")"));
}

void XenbusFrontend::begin_reconnect() {
    if (state_ != XenbusState::connected || !device_) {
        std::lock_guard lock(mutex_);
        reconnecting_ = false;
        changed_.notify_all();
        return;
    }
    // Nothing new goes on the rings; the backend answers what is there
    // before it lets go of them.
    spdlog::info("blkfront {}: reconnecting (frontend-initiated)", nodename_);
    device_->hold();
    switch_state(XenbusState::closing);
}

void XenbusFrontend::take_back_rings(const std::string& why) {
    std::size_t taken = 0;
    if (device_) {
        device_->hold();
        taken = device_->take_back();
    }
    drop_rings();
    // The dead (or closed) backend's mappings are gone: deferred grants end.
    hypervisor_.grant_table().reclaim_deferred();
    {
        std::lock_guard lock(mutex_);
        ++recoveries_;
    }
    spdlog::info("blkfront {}: {}; {} request(s) to issue again", nodename_, why, taken);
}

}  // namespace pvsim::frontend::blkfront
