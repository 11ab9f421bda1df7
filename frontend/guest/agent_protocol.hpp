// The guest agent's protocol: how the pvsim CLI (tools/) talks to the
// pvsim-guest program running inside a guest domain (DESIGN.md §1, §7), over
// the unix stream socket RunDir::guest_agent_socket(domid). It is pvsim's own
// (a real Xen guest has no such channel; xl would reach it over ssh or a
// console), shaped like the hypervisor's control socket
// (hypervisor/protocol/control.hpp).
//
// One JSON object per line each way (nlohmann/json): a request, then its
// reply. Several clients may be connected at once. Replies carry "ok": true
// and the result, or "ok": false and "error": a sentence for people. A line
// longer than kMaxAgentLine, or one that is not a JSON object, gets an error
// reply and the connection is closed; a well-formed request with bad fields
// just gets the error.
//
//   {"op":"ping"} -> {"ok":true,"domid":N,"xenstore":true|false}
//       Answered as soon as the agent listens, before xenstore is reachable
//       ("xenstore" says whether it is yet).
//   {"op":"devices"} -> {"ok":true,"devices":[DEVICE...]}
//       DEVICE = {"devid","vdev","nodename","state"} while it opens; once
//       open also "backend_state","backend","capacity_sectors",
//       "sector_size","read_only","error","in_flight","counters":COUNTERS.
//       COUNTERS = blkfront's: "requests","segments","bytes","responses",
//       "notifications_sent","notifications_suppressed",
//       "notifications_received","grants_deferred","indirect_requests",
//       "data_copies","persistent_purged","purge_passes","discards","flushes","recovered",
//       and the gauges "persistent_grants","pool_pages","queues",
//       "ring_pages". An open DEVICE also has "features": what was
//       negotiated ({"persistent","indirect_segments","queues",
//       "ring_page_order","discard","flush_cache","barrier","bounce",
//       "discard_granularity","discard_alignment","secure_discard"}) and
//       "recoveries" (blkif_recover runs).
//       Each DEVICE has "transport": "xen" (a vbd) or "virtio" (a virtio-blk
//       disk, virtio_class.hpp: also "vhost_user", the device's socket;
//       "state" in XenbusState's numbers for the driver: 1 opening, 4 open,
//       5 closing, 6 closed; "backend" the socket; COUNTERS the driver's
//       "requests","completions","bytes","flushes","discards",
//       "notifications_sent","notifications_suppressed",
//       "notifications_received","indirect_requests","data_copies" and the
//       gauge "queues"; "features" {"queues","event_idx","indirect_desc",
//       "flush","discard","writeback","seg_max"}).
//   Requests naming a devid take "transport": "xen" (the default) or
//   "virtio"; the two kinds of device are numbered apart.
//   {"op":"wait-device","devid":D,"timeout_ms":T}
//       -> {"ok":true,"device":DEVICE} once D is Connected and open here;
//       else an error naming its state, or why it failed to open.
//   {"op":"io","devid":D,"job":JOB,"progress_ms":P}
//       JOB = {"name","rw","bs","iodepth","offset","size","io_size",
//       "runtime_ns","rwmixread","numjobs","seed","verify","sync","group_reporting"} (fio's names
//       and meanings, all optional). Runs the workload engine on D; every P
//       ms (0: never, the default) a line {"progress":{"elapsed_ns","ios",
//       "bytes","read_ios","write_ios","trim_ios"}}; then {"ok":true,"result":RESULT,
//       "frontend":COUNTERS} (RESULT in fio's JSON shape, COUNTERS the
//       deltas over the run), or {"ok":false,"error":E,"result":RESULT,
//       "frontend":COUNTERS} when the job ran and failed. One io per device
//       at a time ("busy"); a client that disconnects cancels its job.
//   {"op":"cancel-io"} -> {"ok":true,"cancelled":N}
//       Cancels every io running in the guest, whichever client started it
//       (the CLI's Ctrl-C, sent on a connection of its own while the io's
//       connection waits for its reply): each ends as a failed job with
//       error "cancelled" and the RESULT of what it did so far, as fio
//       prints its partial results on SIGINT.
//   {"op":"close","devid":D} -> {"ok":true,"state":6}
//       Frontend-initiated close (Closing, the backend follows, Closed).
//   {"op":"reconnect","vdev":"xvda"} (or "devid":D) -> {"ok":true}
//       Frontend-initiated reconnect (blkfront Closing, the backend closes,
//       Initialising, renegotiated, Connected); answered once Connected
//       again. I/O running on the device meanwhile is held and re-issued,
//       none of it failing; an error when it cannot reconnect within the
//       connect timeout.
//   {"op":"forget","devid":D} -> {"ok":true,"forgot":true|false}
//       Drops what the guest remembers having written to D (the verify
//       memory that survives detach and re-attach).
#pragma once

#include <cstddef>
#include <string_view>

namespace pvsim::frontend::guest::agent {

inline constexpr std::size_t kMaxAgentLine = 64 * 1024;
// What a client accepts of a reply: a bound on a broken agent only. An io
// reply grows with its jobs (fio's shape, about 2 KiB each; 64 jobs at most)
// and a list with the devices, far below this.
inline constexpr std::size_t kMaxAgentReply = 16 * 1024 * 1024;

inline constexpr std::string_view kOpPing = "ping";
inline constexpr std::string_view kOpCancelIo = "cancel-io";
inline constexpr std::string_view kOpDevices = "devices";
inline constexpr std::string_view kOpWaitDevice = "wait-device";
inline constexpr std::string_view kOpIo = "io";
inline constexpr std::string_view kOpClose = "close";
inline constexpr std::string_view kOpForget = "forget";
inline constexpr std::string_view kOpReconnect = "reconnect";

// The log file's process name is "pvsim-guest.dom<domid>"
// (RunDir::log_file).
inline constexpr std::string_view kProgramName = "pvsim-guest";

}  // namespace pvsim::frontend::guest::agent
