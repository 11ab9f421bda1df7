// Online resize of a connected vbd, as Linux blkback does it
// (drivers/block/xen-blkback/blkback.c, 4.x to 6.x): xen_blkif_schedule
// compares vbd->size with vbd_sz(vbd), the device's live capacity, each time
// its thread wakes, which is at least every LRU_INTERVAL (100 ms) even when
// the ring is idle, and on a difference calls xen_vbd_resize. That writes
// the new `sectors` and writes `state` again, with its current value, in
// one transaction retried on EAGAIN: the write fires the frontend's watch on
// the backend's state, and blkfront's blkback_changed, seeing Connected
// while it is Connected, reads `sectors` and sets the new capacity
// (blkfront_connect). A shrink is published the same way.
//
// pvsim's check is the control plane's, on a timer of the same period: one
// fstat (BLKGETSIZE64 for a device) per connected vbd every 100 ms, none per
// request, since the ring threads' loop sleeps without a timeout and a
// system call on every wake would cost as much as a request at queue depth
// 1 (DESIGN.md §10).
#pragma once

#include <chrono>
#include <cstdint>

#include "xenstore/client/xenbus_client.hpp"

namespace pvsim::backend::blkback {

// LRU_INTERVAL: the longest xen_blkif_schedule sleeps between size checks.
inline constexpr std::chrono::milliseconds kResizeCheckInterval{100};

// xen_vbd_resize's transaction: `sectors`, then `state` written again as
// the device's current state. False when the device's directory is gone (its
// state node absent: nothing is written then, as pvsim's other writes of a
// backend's nodes). Throws xenstore::client::Error as the client does.
bool write_vbd_resize(xenstore::client::XenbusDevice& device, std::uint64_t sectors);

}  // namespace pvsim::backend::blkback
