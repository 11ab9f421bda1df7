// The hypervisor's control socket (<run>/hypervisor/control.sock): the
// toolstack's privileged channel, like xl's to libxl/Xen's domctls.
//
// One JSON object per line each way (nlohmann/json), a request then its
// reply. Requests name an "op"; replies carry "ok": true and the result, or
// "ok": false and "error": a sentence for people. A line longer than
// kMaxControlLine or that is not a JSON object closes the connection after an
// error reply; a well-formed request with bad fields just gets the error.
//
//   {"op":"create","name":N,"memory":BYTES,"program":PATH,"args":[...],
//    "env":{"K":"V",...},"cpus":"CPULIST"}  -> {"domid":D}
//       Spawns PATH as the domain's process with its hypercall connection
//       inherited (kHypercallFdVariable names the fd) and PVSIM_DOMID,
//       PVSIM_RUN_DIR set. Names are unique among live domains. "cpus"
//       (optional, xl.cfg's cpus=, common/os/cpu_list.hpp) pins the process
//       and every thread of it to those CPUs from its first instruction.
//   {"op":"destroy","domid":D} | {"op":"destroy","name":N}
//                                            -> {"domid":D,"state":"destroyed"|"dying"}
//       SIGTERM, then SIGKILL after the shutdown timeout; replies once the
//       process is gone and its resources released.
//   {"op":"list"}                            -> {"domains":[DOMAIN...]}
//   {"op":"info","domid":D} | {"op":"info","name":N}  -> {"domain":DOMAIN}
//   {"op":"stats"}                           -> {"domains":[{"domid","name","counters"}...]}
//   {"op":"connect"}                         -> {"domid":0}, plus one fd attached:
//       a new dom0 hypercall connection (for xenstored, blkback, tools).
//   {"op":"connect","xenstored":true}       -> the same, as the run's
//       xenstored's: when that connection ends, the hypervisor stops (the
//       host goes down with its xenstored, DESIGN.md §1 "The host").
//   {"op":"release-xenstored"}              -> {}: the run's xenstored stops
//       in order (SIGTERM): its connection ending is no longer the host's
//       death.
//   {"op":"shutdown"}                        -> {} then the hypervisor stops.
//
// DOMAIN = {"domid","name","state":"running"|"dying","memory":BYTES,
//           "grant_frames","pid"(0 if none),"ports":N,"maps":N}
// counters = {"hypercalls":{"grant_map":N,...},"grant_maps":N,"grant_unmaps":N,
//             "grant_copies":N,"foreign_maps":N,"events_sent":N,
//             "events_sent_fast":N,"events_delivered":N}
#pragma once

#include <cstddef>
#include <string_view>

namespace pvsim::hypervisor::wire {

inline constexpr std::size_t kMaxControlLine = 64 * 1024;

// Environment of a domain process the hypervisor spawns.
inline constexpr std::string_view kHypercallFdVariable = "PVSIM_HYPERCALL_FD";
inline constexpr std::string_view kDomidVariable = "PVSIM_DOMID";
inline constexpr std::string_view kRunDirVariable = "PVSIM_RUN_DIR";
// The fd number the hypercall connection has in a spawned domain process.
inline constexpr int kHypercallChildFd = 3;

}  // namespace pvsim::hypervisor::wire
