// A domain process's handle on pvsim-hypervisor: its identity, its own
// memory, grant table and shared info, and the hypercalls (grant map, unmap
// and copy, foreign map for dom0, event channels, domain info). What a Linux
// domain reaches through privcmd, gntdev and evtchn, in one object.
//
// Thread-safe for hypercalls; the EventChannel objects it returns belong to
// one thread each.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/os/environment.hpp"
#include "common/os/unique_fd.hpp"
#include "common/run_dir.hpp"
#include "common/xen/event_channel.hpp"
#include "common/xen/grant_table.hpp"
#include "hypervisor/client/domain_memory.hpp"
#include "hypervisor/client/event_channel.hpp"
#include "hypervisor/client/grant_table.hpp"
#include "hypervisor/client/hypercall_channel.hpp"
#include "hypervisor/protocol/hypercall.hpp"
#include "hypervisor/protocol/shared_info.hpp"

namespace pvsim::hypervisor {

// One slot of map_grant_refs (GNTTABOP_map_grant_ref with GNTMAP_host_map).
struct GrantMapRequest {
    xen::DomId domid;  // the granting domain
    xen::GrantRef ref;
    bool readonly = false;
};

// One slot of map_foreign_pages (dom0 only).
struct ForeignMapRequest {
    xen::DomId domid;
    Gfn gfn;
    bool readonly = false;
};

// A slot's outcome. On GNTST_okay, `page` is the granted page in this
// process (read-only for readonly maps), to be used until
// unmap_grant_refs(handle). It lies in a view of the granter's whole memory
// (the cost model of session.hpp's Granter): unlike Xen's, it does not
// fault after the unmap, so the rule is the caller's to keep.
struct GrantMapping {
    xen::GntSt status = xen::GntSt::general_error;
    xen::GrantHandle handle = 0;
    std::uint64_t frame = 0;
    std::byte* page = nullptr;
};

// One side of a grant copy: a grant ref of `domid` (gref = true) or a frame
// of one's own memory (DOMID_SELF or one's domid; another domain's frame is
// GNTST_permission_denied for every caller, dom0 included, as in Xen 4.15
// and later), and an offset in that page.
struct GrantCopyPtr {
    bool gref = false;
    std::uint64_t ref_or_gfn = 0;
    xen::DomId domid = xen::kDomidSelf;
    std::uint16_t offset = 0;
};
struct GrantCopyRequest {
    GrantCopyPtr source;
    GrantCopyPtr dest;
    std::uint16_t len = 0;
};

// Pages already mapped through grant handles, mapped once more one after
// the other in one area of this process (what Linux's
// xenbus_map_ring_valloc gives a multi-page ring: one virtual range over
// several grants). A second view of the same frames: it holds no pin, so it
// must go before the handles are unmapped. Unmapped when destroyed.
class GrantArea {
  public:
    GrantArea() noexcept = default;
    GrantArea(std::byte* data, std::size_t bytes) noexcept : data_(data), bytes_(bytes) {}
    GrantArea(GrantArea&& other) noexcept;
    GrantArea& operator=(GrantArea&& other) noexcept;
    GrantArea(const GrantArea&) = delete;
    GrantArea& operator=(const GrantArea&) = delete;
    ~GrantArea() { reset(); }

    std::byte* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return bytes_; }
    void reset() noexcept;

  private:
    std::byte* data_ = nullptr;
    std::size_t bytes_ = 0;
};

struct EventChannelStatus {
    xen::EvtchnStat status = xen::EvtchnStat::closed;
    xen::DomId remote_domid = 0;
    xen::EvtchnPort remote_port = 0;
};

struct DomainInfo {
    xen::DomId domid = 0;
    std::string name;
    wire::DomainState state = wire::DomainState::running;
    std::uint64_t memory_bytes = 0;
    std::uint32_t grant_frames = 0;
};

class Hypervisor {
  public:
    // A domain process the hypervisor spawned: the connection is the fd named
    // by $PVSIM_HYPERCALL_FD. Throws a clear error when it is missing.
    static Hypervisor from_environment(const os::Environment& env);
    // A new dom0 connection through the control socket of `run_dir`;
    // `xenstored` for the run's xenstored's own (ControlClient::connect_dom0).
    static Hypervisor connect_dom0(const RunDir& run_dir, bool xenstored = false);
    // Over an already connected hypercall socket.
    static Hypervisor adopt(os::UniqueFd socket);

    Hypervisor(Hypervisor&&) noexcept;
    Hypervisor& operator=(Hypervisor&&) noexcept;
    ~Hypervisor();  // unmaps every mapping still held

    xen::DomId domid() const noexcept;
    bool privileged() const noexcept;
    DomainMemory& memory() noexcept;
    GrantTable& grant_table() noexcept;
    // The xenstore ring page (start_info.store_mfn) and, for a guest, its
    // event channel to xenstored (start_info.store_evtchn; 0 for dom0).
    std::uint64_t store_gfn() const noexcept;
    xen::EvtchnPort store_evtchn() const noexcept;
    std::uint32_t max_evtchn_ports() const noexcept;
    // This domain's shared info (event bits, counters).
    wire::SharedInfoView shared_info() const noexcept;

    // GNTTABOP_map_grant_ref, batched: one status per slot, good slots
    // mapped even when others fail. Another domain's grants are mapped in
    // this process against the tables the hypervisor shares (one
    // grant_tables call per granter, then none: DESIGN.md §3, "Where a grant
    // map runs"); our own through the hypervisor. Throws HypercallError when
    // a call as a whole is refused (e.g. E2BIG for more than kMaxBatch
    // slots) or its reply breaks the protocol.
    std::vector<GrantMapping> map_grant_refs(std::span<const GrantMapRequest> requests);
    std::vector<GrantMapping> map_foreign_pages(std::span<const ForeignMapRequest> requests);
    // GNTTABOP_unmap_grant_ref, batched, where the map was made (here, or
    // by the hypervisor in one call); the pages are unmapped here first.
    // A handle this process does not hold is GNTST_bad_handle.
    std::vector<xen::GntSt> unmap_grant_refs(std::span<const xen::GrantHandle> handles);
    // GNTTABOP_copy, batched, done by the hypervisor.
    std::vector<xen::GntSt> copy_grants(std::span<const GrantCopyRequest> requests);
    // The pages of `handles` (live mappings of this object), in that order,
    // in one contiguous area: reserved with mmap(PROT_NONE), then each page
    // placed with MAP_FIXED. Throws std::invalid_argument for a handle not
    // held, std::system_error when mmap fails.
    GrantArea map_area(std::span<const xen::GrantHandle> handles);
    // Live mappings held through this object.
    std::size_t mapping_count() const;

    // EVTCHNOP_alloc_unbound / bind_interdomain. Throw HypercallError with
    // Xen's errno (ESRCH unknown domain, EINVAL bad or not unbound port,
    // ENOSPC no free port).
    EventChannel alloc_unbound(xen::DomId remote_domid);
    // EVTCHNOP_alloc_unbound with `dom` another domain, as libxl makes a new
    // domain's xenstore and console ports (xc_evtchn_alloc_unbound): the
    // port is that domain's, so only its number comes back. Privileged
    // callers only (EPERM otherwise); remote_domid is not looked up.
    xen::EvtchnPort alloc_unbound_in(xen::DomId domid, xen::DomId remote_domid);
    EventChannel bind_interdomain(xen::DomId remote_domid, xen::EvtchnPort remote_port);
    // A guest's xenstore event channel (store_evtchn()), unbound with remote
    // dom0 until xenstored binds it after XS_INTRODUCE. Once only; throws
    // std::logic_error for dom0 or a second take.
    EventChannel take_store_event_channel();
    // EVTCHNOP_bind_virq: dom0 only, xen::kVirqDomExc only (EINVAL, EPERM,
    // EEXIST when this domain bound it already). The port fires whenever a
    // domain dies or its memory is finally released.
    EventChannel bind_virq(std::uint32_t virq);
    // EVTCHNOP_status (another domain's ports: dom0 only).
    EventChannelStatus evtchn_status(xen::DomId domid, xen::EvtchnPort port);

    DomainInfo domain_info(xen::DomId domid = xen::kDomidSelf);

    // The raw connection, for tests of the protocol itself.
    HypercallChannel& channel() noexcept;

  private:
    explicit Hypervisor(std::shared_ptr<Session> session);
    // Unmaps what this object still maps (pages here, pins at the
    // hypervisor, best effort) and lets go of the session.
    void release() noexcept;

    std::shared_ptr<Session> session_;
};

}  // namespace pvsim::hypervisor
