// The hypercall protocol between a domain process and pvsim-hypervisor.
//
// On real Xen a domain traps into the hypervisor with an operation code and a
// pointer to an argument array; here it writes a message on its hypercall
// connection (a unix stream socket the hypervisor handed it when it spawned
// the domain, or that dom0 obtained through the control socket) and blocks
// for the reply. The connection itself is the caller's identity: nothing in a
// message says which domain sent it.
//
// Batched operations carry Xen's own argument structs (grant_table.h:
// gnttab_map_grant_ref, gnttab_unmap_grant_ref, gnttab_copy), and the reply
// carries the same array back with the OUT fields filled in, as Xen writes
// the status of each slot into the caller's array.
//
// Framing: every request is a RequestHeader and `length` payload bytes;
// every reply a ReplyHeader and `length` payload bytes, with `fds` file
// descriptors attached to the header's first byte (SCM_RIGHTS). A request
// longer than kMaxPayload breaks the framing and closes the connection; a
// well-framed request with bad contents gets a negative errno in `result`
// and the connection lives on.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/xen/event_channel.hpp"
#include "common/xen/grant_table.hpp"

namespace pvsim::hypervisor::wire {

// The operations. Values are pvsim's; each names the Xen hypercall it
// stands for.
enum class Op : std::uint32_t {
    // Sent by the hypervisor, unasked, as the first message of every
    // connection: who the caller is and the fds of its own pages (Welcome).
    welcome = 1,
    domain_info = 2,              // XEN_DOMCTL_getdomaininfo (DOMID_SELF for oneself)
    grant_map = 3,                // GNTTABOP_map_grant_ref, batched
    grant_unmap = 4,              // GNTTABOP_unmap_grant_ref, batched
    grant_copy = 5,               // GNTTABOP_copy, batched
    foreign_map = 6,              // privcmd mmapbatch of another domain's frames: dom0 only
    evtchn_alloc_unbound = 7,     // EVTCHNOP_alloc_unbound
    evtchn_bind_interdomain = 8,  // EVTCHNOP_bind_interdomain
    evtchn_send = 9,              // EVTCHNOP_send (the slow path; see EventChannel)
    evtchn_close = 10,            // EVTCHNOP_close
    evtchn_unmask = 11,           // EVTCHNOP_unmask
    evtchn_status = 12,           // EVTCHNOP_status
    evtchn_bind_virq = 13,        // EVTCHNOP_bind_virq (VIRQ_DOM_EXC only)
    // A granter's tables, so that the caller maps and unmaps its grants in
    // its own process (DESIGN.md §3, "Where a grant map runs").
    grant_tables = 14,
};
inline constexpr std::uint32_t kOpCount = 15;  // one past the largest value

// "grant_map" etc., for logs, counters and JSON; "unknown" otherwise.
const char* op_name(Op op) noexcept;

// Framing limits. A batch of kMaxBatch copy operations (the largest
// argument struct) fits in kMaxPayload.
inline constexpr std::size_t kMaxPayload = 64 * 1024;
inline constexpr std::uint32_t kMaxBatch = 1024;

struct RequestHeader {
    std::uint32_t op;      // Op
    std::uint32_t length;  // payload bytes that follow, <= kMaxPayload
};
static_assert(sizeof(RequestHeader) == 8);

struct ReplyHeader {
    std::uint32_t op;     // the Op answered
    std::int32_t result;  // 0, or -errno for the call as a whole (slot statuses are in the payload)
    std::uint32_t length;  // payload bytes that follow
    std::uint32_t fds;     // fds attached to this header
};
static_assert(sizeof(ReplyHeader) == 16);

// Every batched request's payload: a BatchHeader and `count` argument
// structs. count must be 1..kMaxBatch and match the length (-EINVAL
// otherwise, -E2BIG above kMaxBatch). The reply's payload has the same shape.
struct BatchHeader {
    std::uint32_t count;
    std::uint32_t reserved;  // 0
};
static_assert(sizeof(BatchHeader) == 8);

// --- welcome ---------------------------------------------------------------

// Flags of Welcome.
inline constexpr std::uint32_t kWelcomePrivileged = 1u << 0;  // dom0: may foreign_map

// The first message on every connection (op welcome, result 0), with three
// fds in this order: the domain's memory, its grant table frames, its
// shared-info object (layout in shared_info.hpp). All are mapped read/write.
struct Welcome {
    xen::DomId domid;
    std::uint16_t reserved0;
    std::uint32_t flags;             // kWelcome*
    std::uint64_t memory_bytes;      // size of the memory object, a multiple of 4096
    std::uint32_t grant_frames;      // frames in the grant table object
    std::uint32_t max_evtchn_ports;  // ports 1 .. max-1 are valid
    std::uint64_t store_gfn;         // the xenstore ring page's frame (start_info.store_mfn)
    std::uint64_t first_free_gfn;    // frames below this are the hypervisor's (store ring...)
    // A guest's xenstore event channel (start_info.store_evtchn): a port of
    // its own, unbound with remote dom0, made before its process runs, as
    // libxl does with xc_evtchn_alloc_unbound. Its incoming eventfd is the
    // welcome's fourth fd. 0 for dom0, which reaches xenstored by socket.
    xen::EvtchnPort store_evtchn;
    std::uint32_t reserved1;
};
static_assert(sizeof(Welcome) == 48);
// memory, grant table, shared info; a guest's welcome adds its store port's
// incoming eventfd.
inline constexpr std::size_t kWelcomeFds = 3;
inline constexpr std::size_t kWelcomeGuestFds = 4;

// --- domain_info -----------------------------------------------------------

enum class DomainState : std::uint32_t {
    running = 0,
    dying = 1,  // its process is gone, another domain still maps its memory
};

struct DomainInfoRequest {
    xen::DomId domid;  // kDomidSelf for the caller
    std::uint16_t reserved[3];
};
struct DomainInfoReply {
    xen::DomId domid;
    std::uint16_t reserved0;
    std::uint32_t state;  // DomainState
    std::uint64_t memory_bytes;
    std::uint32_t grant_frames;
    std::uint32_t reserved1;
    char name[64];  // nul-terminated
};
// Unknown domid: result -ESRCH.

// --- grant_map (grant_table.h: struct gnttab_map_grant_ref) ----------------

// IN: flags (GNTMAP_host_map, optionally GNTMAP_readonly), ref, dom.
// OUT: status (GntSt), handle, dev_bus_addr = the granted frame number, and
// host_addr = the index of the memory fd attached to the reply for the
// granting domain when this is the connection's first mapping of that
// domain's memory object (kNoFd otherwise: the connection has it already);
// the caller maps the frame from that fd itself.
struct GrantMapOp {
    std::uint64_t host_addr;
    std::uint32_t flags;
    xen::GrantRef ref;
    xen::DomId dom;
    std::int16_t status;
    xen::GrantHandle handle;
    std::uint64_t dev_bus_addr;
};
static_assert(sizeof(GrantMapOp) == 32);  // as struct gnttab_map_grant_ref on x86-64
inline constexpr std::uint64_t kNoFd = ~std::uint64_t{0};

// --- foreign_map -----------------------------------------------------------

// dom0 maps a frame of another domain by its frame number, without a grant
// (xenstored maps a guest's xenstore ring this way, as with Linux privcmd).
// IN: dom, gfn, flags (GNTMAP_host_map, optionally | GNTMAP_readonly).
// OUT: as GrantMapOp. Handles come from the same maptrack table and are
// released with grant_unmap.
// A caller other than dom0 gets -EPERM for the whole call.
struct ForeignMapOp {
    std::uint64_t gfn;
    std::uint32_t flags;
    xen::DomId dom;
    std::int16_t status;
    xen::GrantHandle handle;
    std::uint32_t reserved;
    std::uint64_t host_addr;  // OUT: fd index or kNoFd, as in GrantMapOp
};
static_assert(sizeof(ForeignMapOp) == 32);

// --- grant_unmap (grant_table.h: struct gnttab_unmap_grant_ref) ------------

// IN: handle (host_addr and dev_bus_addr are ignored). OUT: status.
struct GrantUnmapOp {
    std::uint64_t host_addr;
    std::uint64_t dev_bus_addr;
    xen::GrantHandle handle;
    std::int16_t status;
    std::uint16_t reserved;
};
static_assert(sizeof(GrantUnmapOp) == 24);  // as struct gnttab_unmap_grant_ref

// --- grant_tables ----------------------------------------------------------

// What a domain needs to map another domain's grants in its own process, as
// Xen runs GNTTABOP_map_grant_ref on the calling vCPU: IN dom, the granter.
// OUT status: okay, or GNTST_bad_domain for a domain that does not exist or
// is dying; on okay the granter's memory size and grant entries, and four
// fds in this order: the granter's memory, its grant table frames, its
// active grant table (active_grants.hpp: never sent to the granter itself),
// and the caller's connection's maptrack (shared_maptrack.hpp: made at the
// connection's first call, the same object every later call). A caller asks
// once per granter; asking again for a granter it holds no mapping of, after
// the granter died, lets the hypervisor free a dying domain's memory.
struct GrantTablesOp {
    xen::DomId dom;
    std::int16_t status;          // OUT: GntSt
    std::uint32_t grant_entries;  // OUT
    std::uint64_t memory_bytes;   // OUT
};
static_assert(sizeof(GrantTablesOp) == 16);
inline constexpr std::size_t kGrantTablesFds = 4;

// --- grant_copy (grant_table.h: struct gnttab_copy) ------------------------

struct GrantCopyPtr {
    std::uint64_t u;  // a grant ref (with GNTCOPY_*_gref) or a frame number of `domid`
    xen::DomId domid;
    std::uint16_t offset;
    std::uint32_t reserved;
};
struct GrantCopyOp {
    GrantCopyPtr source;
    GrantCopyPtr dest;
    std::uint16_t len;
    std::uint16_t flags;  // kGntcopySourceGref | kGntcopyDestGref
    std::int16_t status;  // OUT
    std::uint16_t reserved;
};
static_assert(sizeof(GrantCopyOp) == 40);  // as struct gnttab_copy on x86-64

// --- event channels (event_channel.h) --------------------------------------

// EVTCHNOP_alloc_unbound (event_channel.h: struct evtchn_alloc_unbound):
// IN dom, the domain the port is made in (kDomidSelf, or any domain for a
// privileged caller), and remote_dom, who may bind it (kDomidSelf: the
// caller); OUT port. A port of the caller's own domain comes with one fd,
// its incoming eventfd (see EventChannel); a port made in another domain
// with none: it is that domain's, not the caller's.
struct EvtchnAllocUnbound {
    xen::DomId dom;
    xen::DomId remote_dom;
    xen::EvtchnPort port;
};
static_assert(sizeof(EvtchnAllocUnbound) == 8);  // as struct evtchn_alloc_unbound

// EVTCHNOP_bind_interdomain: IN remote_dom, remote_port; OUT local_port and
// generation. Two fds attached: the new port's incoming eventfd (already
// signalled: binding sets the new local port pending) and the notify eventfd
// (the remote port's incoming one).
struct EvtchnBindInterdomain {
    xen::DomId remote_dom;
    std::uint16_t reserved;
    xen::EvtchnPort remote_port;
    xen::EvtchnPort local_port;
    std::uint32_t generation;
};

// EVTCHNOP_send / close / unmask: IN port. For send, OUT: delivered (1 if
// the remote end was bound) and, when it is, the notify eventfd attached and
// the port's generation, so later sends go straight to the peer.
struct EvtchnPortOp {
    xen::EvtchnPort port;
    std::uint32_t delivered;
    std::uint32_t generation;
    std::uint32_t reserved;
};

// EVTCHNOP_bind_virq (struct evtchn_bind_virq): IN virq, vcpu (0); OUT
// port. One fd attached: the port's incoming eventfd. Only VIRQ_DOM_EXC, a
// global virq, is raised here, and only dom0 may bind it (Xen's default
// handler for global virqs is the hardware domain); binding it twice in one
// domain is -EEXIST, as in Xen. Sending on a virq port is -EINVAL.
struct EvtchnBindVirq {
    std::uint32_t virq;
    std::uint32_t vcpu;
    xen::EvtchnPort port;
};

// EVTCHNOP_status: IN dom (kDomidSelf allowed; another domain's ports only
// for dom0), port. OUT: status (EvtchnStat) and the remote end.
struct EvtchnStatusOp {
    xen::DomId dom;
    xen::DomId remote_dom;  // OUT, for unbound and interdomain
    xen::EvtchnPort port;
    std::uint32_t status;         // OUT: EvtchnStat
    xen::EvtchnPort remote_port;  // OUT, for interdomain
};

}  // namespace pvsim::hypervisor::wire
