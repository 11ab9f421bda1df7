#include "hypervisor/client/hypervisor.hpp"

#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <utility>

#include "hypervisor/client/control_client.hpp"
#include "hypervisor/client/session.hpp"
#include "hypervisor/protocol/control.hpp"

namespace pvsim::hypervisor {
namespace {

// What one batched hypercall answered: the argument array with its OUT
// fields, and the fds attached to the reply.
template <typename T>
struct BatchReply {
    std::vector<T> ops;
    std::vector<os::UniqueFd> fds;
};

// Batches must hold 1..kMaxBatch slots (hypercall.hpp, BatchHeader); more is
// refused here, before anything is sent, as the hypervisor would refuse it.
void check_batch_size(std::size_t count, const char* what) {
    if (count > wire::kMaxBatch) {
        throw HypercallError(std::string(what) + ": " + std::to_string(count) +
                                 " operations, at most " + std::to_string(wire::kMaxBatch) +
                                 " in one call",
                             E2BIG);
    }
}

template <typename T>
BatchReply<T> batch_call(Session& session, wire::Op op, const std::vector<T>& ops,
                         const char* what) {
    const wire::BatchHeader header{static_cast<std::uint32_t>(ops.size()), 0};
    std::vector<std::byte> payload(sizeof header + ops.size() * sizeof(T));
    std::memcpy(payload.data(), &header, sizeof header);
    std::memcpy(payload.data() + sizeof header, ops.data(), ops.size() * sizeof(T));
    HypercallReply reply = session.channel.call(op, payload);
    if (reply.result < 0) {
        throw refused(what, reply.result);
    }
    wire::BatchHeader answered{};
    if (reply.payload.size() == payload.size()) {
        std::memcpy(&answered, reply.payload.data(), sizeof answered);
    }
    if (reply.payload.size() != payload.size() || answered.count != ops.size()) {
        throw HypercallError(std::string(what) + ": the reply does not match the request's " +
                                 std::to_string(ops.size()) + " operations",
                             EPROTO);
    }
    BatchReply<T> result;
    result.ops.resize(ops.size());
    std::memcpy(result.ops.data(), reply.payload.data() + sizeof answered, ops.size() * sizeof(T));
    result.fds = std::move(reply.fds);
    return result;
}

// The common OUT part of GrantMapOp and ForeignMapOp.
struct MapSlot {
    xen::DomId dom = 0;
    bool readonly = false;
    xen::GntSt status = xen::GntSt::general_error;
    xen::GrantHandle handle = 0;
    std::uint64_t frame = 0;
    std::uint64_t host_addr = wire::kNoFd;
};

// Whether the object behind `fd` was unlinked: its domain was destroyed.
bool unlinked(int fd) {
    struct stat st {};
    return ::fstat(fd, &st) != 0 || st.st_nlink == 0;
}

// Whether a granter no mapping of ours uses is one whose domain was
// destroyed, so its views may go (Granter, session.hpp).
bool dead_and_unused(const Granter& granter) {
    return granter.live == 0 && (!granter.memory || unlinked(granter.memory.get()));
}

// Drops every granter dead_and_unused. Called with maps_mutex held, when a
// new memory object arrived: a domain that died while none of its pages
// was mapped here is found then (not on each request's path).
void drop_dead_granters(Session& session) {
    std::erase_if(session.granters,
                  [](const auto& entry) { return dead_and_unused(entry.second); });
}

// One live maptrack handle of `dom` fewer; the views stay while its domain
// does. Called with maps_mutex held.
void release_granter(Session& session, xen::DomId dom) {
    const auto it = session.granters.find(dom);
    if (it != session.granters.end() && it->second.live > 0 && --it->second.live == 0 &&
        dead_and_unused(it->second)) {
        session.granters.erase(it);
    }
}

// What a memory fd that came with a reply did to the granter's.
enum class Adopted { same_object, new_object, refused };

// A copy of the granter's memory fd came with a reply (a map reply sends it
// once per connection and object, grant_tables with each call). Ours is
// kept when the copy names the same object; a different object (the domid
// names a new domain) replaces it, which it may only do while no mapping of
// the old one is live besides the slot being mapped (`others_live`): refused
// otherwise, a reply that broke the protocol.
Adopted adopt_memory(Granter& granter, os::UniqueFd fd, bool others_live) {
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || st.st_size < 0) {
        return Adopted::refused;
    }
    if (granter.memory && st.st_dev == granter.device && st.st_ino == granter.inode) {
        return Adopted::same_object;  // the copy closes here
    }
    if (granter.memory && others_live) {
        return Adopted::refused;
    }
    granter.read_only.reset();
    granter.read_write.reset();
    granter.memory = std::move(fd);
    granter.memory_bytes = static_cast<std::uint64_t>(st.st_size);
    granter.device = st.st_dev;
    granter.inode = st.st_ino;
    return Adopted::new_object;
}

// The granter's read-only or read/write view of its whole memory, mapped at
// its first use; nullptr when mmap fails.
std::byte* view(Granter& granter, bool readonly) {
    MappedRange& range = readonly ? granter.read_only : granter.read_write;
    if (range.data() == nullptr) {
        void* address =
            ::mmap(nullptr, granter.memory_bytes, readonly ? PROT_READ : PROT_READ | PROT_WRITE,
                   MAP_SHARED, granter.memory.get(), 0);
        if (address == MAP_FAILED) {
            return nullptr;
        }
        range = MappedRange(address, granter.memory_bytes);
    }
    return range.data();
}

// GNTTABOP_unmap_grant_ref of `handles`, with the mirror updated from the
// statuses: `granters[i]` is the domain slot i maps, when we held it.
// Called with maps_mutex held; our pointers to the pages are already gone.
std::vector<xen::GntSt> unmap_handles(Session& session, std::span<const xen::GrantHandle> handles,
                                      const std::vector<std::optional<xen::DomId>>& granters) {
    std::vector<wire::GrantUnmapOp> ops(handles.size());
    for (std::size_t i = 0; i < handles.size(); ++i) {
        ops[i].handle = handles[i];
    }
    const auto reply = batch_call(session, wire::Op::grant_unmap, ops, "GNTTABOP_unmap_grant_ref");
    std::vector<xen::GntSt> statuses(handles.size());
    for (std::size_t i = 0; i < handles.size(); ++i) {
        statuses[i] = static_cast<xen::GntSt>(reply.ops[i].status);
        if (statuses[i] == xen::GntSt::okay && granters[i]) {
            release_granter(session, *granters[i]);
        }
    }
    return statuses;
}

// The second half of a grant or foreign map, with maps_mutex held: point
// each good slot into its granter's view and record the handle.
std::vector<GrantMapping> finish_maps(Session& session, std::vector<MapSlot>& slots,
                                      std::vector<os::UniqueFd>& fds) {
    std::vector<GrantMapping> result(slots.size());
    std::vector<xen::GrantHandle> undo;
    std::vector<std::optional<xen::DomId>> undo_granters;
    bool new_object = false;
    for (std::size_t i = 0; i < slots.size(); ++i) {
        const MapSlot& slot = slots[i];
        result[i].status = slot.status;
        if (slot.status != xen::GntSt::okay) {
            continue;
        }
        result[i].handle = slot.handle;
        result[i].frame = slot.frame;
        // The hypervisor counted one more mapping of this granter: so do we,
        // whatever happens to the slot here.
        Granter& granter = session.granters[slot.dom];
        ++granter.live;
        bool usable = true;
        if (slot.host_addr != wire::kNoFd && slot.host_addr < fds.size() && fds[slot.host_addr]) {
            const Adopted adopted =
                adopt_memory(granter, std::move(fds[slot.host_addr]), granter.live > 1);
            usable = adopted != Adopted::refused;
            new_object = new_object || adopted == Adopted::new_object;
        }
        std::byte* base = nullptr;
        if (usable && granter.memory && slot.frame < granter.memory_bytes / xen::kXenPageSize &&
            !session.mappings.contains(slot.handle)) {
            base = view(granter, slot.readonly);
        }
        if (base == nullptr) {
            // No memory fd for a granter we had none of, a frame outside it,
            // a handle we already hold, or another object under live
            // mappings: the reply broke the protocol, so give the pin back
            // rather than hold a mapping we cannot use.
            result[i] = GrantMapping{};
            undo.push_back(slot.handle);
            undo_granters.emplace_back(slot.dom);
            continue;
        }
        std::byte* page = base + slot.frame * xen::kXenPageSize;
        session.mappings.emplace(slot.handle,
                                 LocalMapping{slot.dom, page, slot.frame, slot.readonly});
        result[i].page = page;
    }
    if (!undo.empty()) {
        try {
            (void)unmap_handles(session, undo, undo_granters);
        } catch (const HypercallError&) {
            // Best effort: the slots already report GNTST_general_error.
        }
    }
    if (new_object) {
        drop_dead_granters(session);
    }
    return result;
}

xen::GntSt fetch_tables(Session& session, xen::DomId dom);
std::span<xen::GrantEntryV1> grant_entries(const Granter& granter);

// GNTTABOP_unmap_grant_ref of a map made here: the slot cleared before the
// pin goes, under the granter's lock (unmap_common). A dying granter whose
// last mapping this was is asked for again, so that the hypervisor frees
// its memory. With maps_mutex held; our pointer to the page is gone.
xen::GntSt unmap_here(Session& session, xen::GrantHandle handle) {
    const std::uint32_t slot = handle & ~kLocalHandle;
    const auto mapping = session.mappings.find(handle);
    if (!session.maptrack || mapping == session.mappings.end() ||
        slot >= session.maptrack->capacity()) {
        return xen::GntSt::bad_handle;
    }
    const wire::SharedMaptrack& maptrack = *session.maptrack;
    const auto key = maptrack.key(slot);
    const auto found = session.granters.find(mapping->second.granter);
    session.mappings.erase(mapping);
    if (!key || found == session.granters.end() || !found->second.active) {
        return xen::GntSt::bad_handle;
    }
    const wire::ActiveGrants& active = *found->second.active;
    bool last_of_dying = false;
    maptrack.busy_granter().store(key->granter + 1u, std::memory_order_seq_cst);
    {
        const auto lock = active.lock();
        maptrack.clear(slot);
        active.unpin(grant_entries(found->second), key->ref, key->readonly);
        const std::uint64_t mapped = active.mapped_by_others();
        active.set_mapped_by_others(mapped > 0 ? mapped - 1 : 0);
        last_of_dying = active.dying() && mapped <= 1;
    }
    maptrack.busy_granter().store(0, std::memory_order_release);
    session.free_slots.push_back(slot);
    maptrack.grant_unmaps().fetch_add(1, std::memory_order_relaxed);
    release_granter(session, key->granter);
    if (last_of_dying) {
        // GNTST_bad_domain: it is dying, and now freed; so its views go.
        (void)fetch_tables(session, key->granter);
        drop_dead_granters(session);
    }
    return xen::GntSt::okay;
}

// grant_tables for `dom`: the granter's tables, and our maptrack with the
// first. Returns the status; on okay session.granters[dom] has them.
xen::GntSt fetch_tables(Session& session, xen::DomId dom) {
    wire::GrantTablesOp op{};
    op.dom = dom;
    HypercallReply reply = session.channel.call(wire::Op::grant_tables, bytes_of(op));
    const std::string what = "grant_tables(dom " + std::to_string(dom) + ")";
    if (reply.result < 0) {
        throw refused(what, reply.result);
    }
    op = reply_as<wire::GrantTablesOp>(reply, what);
    const auto status = static_cast<xen::GntSt>(op.status);
    if (status != xen::GntSt::okay) {
        return status;
    }
    if (reply.fds.size() != wire::kGrantTablesFds) {
        throw HypercallError(what + ": " + std::to_string(reply.fds.size()) + " fds attached",
                             EPROTO);
    }
    if (!session.maptrack) {
        session.maptrack_object.emplace(os::SharedMemory::map_fd(std::move(reply.fds[3])));
        session.maptrack.emplace(session.maptrack_object->bytes());
    }
    Granter& granter = session.granters[dom];
    const Adopted adopted = adopt_memory(granter, std::move(reply.fds[0]), granter.live > 0);
    if (adopted == Adopted::refused || granter.memory_bytes != op.memory_bytes) {
        throw HypercallError(what + ": the memory object does not match", EPROTO);
    }
    os::SharedMemory grant_table = os::SharedMemory::map_fd(std::move(reply.fds[1]));
    if (grant_table.size() < std::size_t{op.grant_entries} * sizeof(xen::GrantEntryV1)) {
        throw HypercallError(what + ": the grant table object is too small", EPROTO);
    }
    os::SharedMemory active_object = os::SharedMemory::map_fd(std::move(reply.fds[2]));
    granter.active.emplace(active_object.bytes());
    granter.grant_table.emplace(std::move(grant_table));
    granter.active_object.emplace(std::move(active_object));
    if (adopted == Adopted::new_object) {
        drop_dead_granters(session);
    }
    return xen::GntSt::okay;
}

// The granter's entries as its grant table object holds them.
std::span<xen::GrantEntryV1> grant_entries(const Granter& granter) {
    return {reinterpret_cast<xen::GrantEntryV1*>(granter.grant_table->data()),
            std::min<std::size_t>(granter.grant_table->size() / sizeof(xen::GrantEntryV1),
                                  granter.active->size())};
}

// Whether the tables we hold for `dom` are current: a granter that died (or
// whose domid now names another domain) is asked for again. No lock on a
// map's path for this: the pin looks at dying() again under it.
Granter* current_tables(Session& session, xen::DomId dom) {
    const auto found = session.granters.find(dom);
    if (found == session.granters.end() || !found->second.active ||
        found->second.active->seen_dying()) {
        return nullptr;
    }
    return &found->second;
}

// GNTTABOP_map_grant_ref of another domain's grant in this process, as Xen
// runs it on the calling vCPU, in map_grant_ref's order of checks: the
// granter (GNTST_bad_domain), room in the maptrack (GNTST_no_space), then
// the pin. With maps_mutex held.
GrantMapping map_here(Session& session, const GrantMapRequest& request) {
    GrantMapping result;
    Granter* granter = current_tables(session, request.domid);
    if (granter == nullptr) {
        const xen::GntSt status = fetch_tables(session, request.domid);
        if (status != xen::GntSt::okay) {
            result.status = status;
            return result;
        }
        granter = &session.granters.at(request.domid);
    }
    const wire::SharedMaptrack& maptrack = *session.maptrack;
    std::uint32_t slot = 0;
    if (!session.free_slots.empty()) {
        slot = session.free_slots.back();
        session.free_slots.pop_back();
    } else if (session.next_slot < maptrack.capacity()) {
        slot = session.next_slot++;
        maptrack.high_water().store(session.next_slot, std::memory_order_release);
    } else {
        result.status = xen::GntSt::no_space;
        return result;
    }
    const wire::ActiveGrants& active = *granter->active;
    std::uint64_t frame = 0;
    xen::GntSt status = xen::GntSt::okay;
    maptrack.busy_granter().store(request.domid + 1u, std::memory_order_seq_cst);
    {
        const auto lock = active.lock();
        if (active.dying()) {
            status = xen::GntSt::bad_domain;
        } else {
            status = active.pin(grant_entries(*granter), granter->memory_bytes / xen::kXenPageSize,
                                request.ref, maptrack.domid(), request.readonly, true, frame);
        }
        if (status == xen::GntSt::okay) {
            active.set_mapped_by_others(active.mapped_by_others() + 1);
            maptrack.fill(slot, {request.domid, request.ref, request.readonly}, frame);
        }
    }
    maptrack.busy_granter().store(0, std::memory_order_release);
    if (status != xen::GntSt::okay) {
        session.free_slots.push_back(slot);
        result.status = status;
        return result;
    }
    maptrack.grant_maps().fetch_add(1, std::memory_order_relaxed);
    ++granter->live;
    const xen::GrantHandle handle = kLocalHandle | slot;
    std::byte* base = view(*granter, request.readonly);
    if (base == nullptr) {
        // Out of address space: give the pin back.
        session.mappings.emplace(handle,
                                 LocalMapping{request.domid, nullptr, frame, request.readonly});
        (void)unmap_here(session, handle);
        result.status = xen::GntSt::general_error;
        return result;
    }
    std::byte* page = base + frame * xen::kXenPageSize;
    session.mappings.emplace(handle, LocalMapping{request.domid, page, frame, request.readonly});
    result.status = xen::GntSt::okay;
    result.handle = handle;
    result.frame = frame;
    result.page = page;
    return result;
}

// GNTTABOP_unmap_grant_ref, batched: maps made here are unmapped here, the
// rest in one hypercall. Our pointers to the pages go first, as Linux
// gntdev unmaps the user's VMA before asking Xen: once the pin is dropped
// the granter may reuse the frame. (The page itself stays in the granter's
// view: Granter, session.hpp.) With maps_mutex held.
std::vector<xen::GntSt> unmap_locked(Session& session, std::span<const xen::GrantHandle> handles) {
    std::vector<xen::GntSt> statuses(handles.size(), xen::GntSt::bad_handle);
    std::vector<std::size_t> theirs;
    std::vector<xen::GrantHandle> their_handles;
    std::vector<std::optional<xen::DomId>> granters;
    for (std::size_t i = 0; i < handles.size(); ++i) {
        if ((handles[i] & kLocalHandle) != 0) {
            statuses[i] = unmap_here(session, handles[i]);
            continue;
        }
        theirs.push_back(i);
        their_handles.push_back(handles[i]);
        const auto it = session.mappings.find(handles[i]);
        if (it != session.mappings.end()) {
            granters.emplace_back(it->second.granter);
            session.mappings.erase(it);
        } else {
            granters.emplace_back();
        }
    }
    for (std::size_t first = 0; first < theirs.size(); first += wire::kMaxBatch) {
        const std::size_t count = std::min<std::size_t>(wire::kMaxBatch, theirs.size() - first);
        const std::vector<std::optional<xen::DomId>> slice(
            granters.begin() + static_cast<std::ptrdiff_t>(first),
            granters.begin() + static_cast<std::ptrdiff_t>(first + count));
        const auto answered =
            unmap_handles(session, std::span(their_handles).subspan(first, count), slice);
        for (std::size_t i = 0; i < count; ++i) {
            statuses[theirs[first + i]] = answered[i];
        }
    }
    return statuses;
}

std::string dom_port(const char* op, xen::DomId dom, xen::EvtchnPort port) {
    return std::string(op) + "(dom " + std::to_string(dom) + ", port " + std::to_string(port) + ")";
}

os::EventFd received_eventfd(os::UniqueFd fd, const std::string& what) {
    try {
        return os::EventFd(std::move(fd));
    } catch (const std::exception&) {
        throw HypercallError(what + ": the attached fd is not an eventfd", EPROTO);
    }
}

void check_port(xen::EvtchnPort port, const std::string& what) {
    if (port == xen::kInvalidEvtchnPort || port >= wire::kMaxEvtchnPorts) {
        throw HypercallError(
            what + ": the hypervisor answered invalid port " + std::to_string(port), EPROTO);
    }
}

}  // namespace

Hypervisor Hypervisor::from_environment(const os::Environment& env) {
    const std::string variable(wire::kHypercallFdVariable);
    const auto value = env.get_non_empty(variable);
    if (!value) {
        throw std::runtime_error(variable +
                                 " is not set: this program must be started by pvsim-hypervisor");
    }
    int fd = -1;
    const char* end = value->data() + value->size();
    const auto [ptr, ec] = std::from_chars(value->data(), end, fd);
    if (ec != std::errc() || ptr != end || fd < 0) {
        throw std::runtime_error(variable + " is '" + *value + "', not an fd number");
    }
    return adopt(os::adopt_inherited_fd(fd));
}

Hypervisor Hypervisor::connect_dom0(const RunDir& run_dir, bool xenstored) {
    return adopt(ControlClient(run_dir.hypervisor_socket()).connect_dom0(xenstored));
}

Hypervisor Hypervisor::adopt(os::UniqueFd socket) {
    auto session = std::make_shared<Session>(std::move(socket));
    HypercallReply reply = session->channel.receive_welcome();
    if (reply.result < 0) {
        throw refused("welcome", reply.result);
    }
    const auto welcome = reply_as<wire::Welcome>(reply, "welcome");
    auto protocol_error = [](const std::string& why) {
        return HypercallError("welcome: " + why, EPROTO);
    };
    const bool guest = welcome.store_evtchn != xen::kInvalidEvtchnPort;
    const std::size_t expected_fds = guest ? wire::kWelcomeGuestFds : wire::kWelcomeFds;
    if (reply.fds.size() != expected_fds) {
        throw protocol_error(std::to_string(reply.fds.size()) + " fds attached, expected " +
                             std::to_string(expected_fds));
    }
    if (guest) {
        check_port(welcome.store_evtchn, "welcome");
        session->store_port_incoming.emplace(
            received_eventfd(std::move(reply.fds[3]), "welcome: the store port"));
    }
    os::SharedMemory memory = os::SharedMemory::map_fd(std::move(reply.fds[0]));
    if (memory.size() != welcome.memory_bytes || memory.size() % xen::kXenPageSize != 0) {
        throw protocol_error("the memory object has " + std::to_string(memory.size()) +
                             " bytes, the welcome says " + std::to_string(welcome.memory_bytes));
    }
    os::SharedMemory grant_table = os::SharedMemory::map_fd(std::move(reply.fds[1]));
    const std::size_t entries = std::size_t{welcome.grant_frames} * xen::kGrantEntriesPerFrame;
    if (grant_table.size() < entries * sizeof(xen::GrantEntryV1)) {
        throw protocol_error("the grant table object is smaller than " +
                             std::to_string(welcome.grant_frames) + " frames");
    }
    os::SharedMemory shared_info = os::SharedMemory::map_fd(std::move(reply.fds[2]));
    if (shared_info.size() < wire::kSharedInfoBytes) {
        throw protocol_error("the shared-info object is smaller than " +
                             std::to_string(wire::kSharedInfoBytes) + " bytes");
    }

    session->welcome = welcome;
    session->memory.emplace(std::move(memory), welcome.first_free_gfn);
    session->grant_table_memory.emplace(std::move(grant_table));
    // A page whose grant ended late goes back to the domain's allocator (the
    // memory outlives the grant table: Session declares it first).
    session->grant_table.emplace(
        std::span(reinterpret_cast<xen::GrantEntryV1*>(session->grant_table_memory->data()),
                  entries),
        [memory = &*session->memory](std::uint64_t gfn) { memory->free_page(gfn); });
    session->shared_info_memory.emplace(std::move(shared_info));
    session->shared_info = wire::SharedInfoView(session->shared_info_memory->data());
    return Hypervisor(std::move(session));
}

Hypervisor::Hypervisor(std::shared_ptr<Session> session) : session_(std::move(session)) {}

Hypervisor::Hypervisor(Hypervisor&& other) noexcept : session_(std::move(other.session_)) {}

Hypervisor& Hypervisor::operator=(Hypervisor&& other) noexcept {
    if (this != &other) {
        release();
        session_ = std::move(other.session_);
    }
    return *this;
}

Hypervisor::~Hypervisor() {
    release();
}

void Hypervisor::release() noexcept {
    if (!session_) {
        return;
    }
    // Event channels may keep the connection open after us, so give the
    // pins back now rather than when it closes.
    try {
        std::lock_guard lock(session_->maps_mutex);
        std::vector<xen::GrantHandle> handles;
        for (const auto& [handle, mapping] : session_->mappings) {
            handles.push_back(handle);
        }
        (void)unmap_locked(*session_, handles);
    } catch (...) {
        // The connection is gone: the hypervisor released them with it.
    }
    session_.reset();
}

xen::DomId Hypervisor::domid() const noexcept {
    return session_->welcome.domid;
}
bool Hypervisor::privileged() const noexcept {
    return (session_->welcome.flags & wire::kWelcomePrivileged) != 0;
}
DomainMemory& Hypervisor::memory() noexcept {
    return *session_->memory;
}
GrantTable& Hypervisor::grant_table() noexcept {
    return *session_->grant_table;
}
std::uint64_t Hypervisor::store_gfn() const noexcept {
    return session_->welcome.store_gfn;
}

xen::EvtchnPort Hypervisor::store_evtchn() const noexcept {
    return session_->welcome.store_evtchn;
}
std::uint32_t Hypervisor::max_evtchn_ports() const noexcept {
    return session_->welcome.max_evtchn_ports;
}
wire::SharedInfoView Hypervisor::shared_info() const noexcept {
    return session_->shared_info;
}
HypercallChannel& Hypervisor::channel() noexcept {
    return session_->channel;
}

std::vector<GrantMapping> Hypervisor::map_grant_refs(std::span<const GrantMapRequest> requests) {
    constexpr const char* kWhat = "GNTTABOP_map_grant_ref";
    if (requests.empty()) {
        return {};
    }
    check_batch_size(requests.size(), kWhat);
    std::lock_guard lock(session_->maps_mutex);
    // Another domain's grants are mapped here, against the tables the
    // hypervisor shares (DESIGN.md §3, "Where a grant map runs"); our own
    // through the hypervisor, which keeps our active entries from us.
    std::vector<GrantMapping> result(requests.size());
    std::vector<std::size_t> ours;
    try {
        for (std::size_t i = 0; i < requests.size(); ++i) {
            if (requests[i].domid == domid() || requests[i].domid == xen::kDomidSelf) {
                ours.push_back(i);
            } else {
                result[i] = map_here(*session_, requests[i]);
            }
        }
    } catch (...) {
        // A grant_tables call failed as a whole: the batch fails as a
        // whole too, with nothing of it left mapped.
        for (const GrantMapping& mapping : result) {
            if (mapping.status == xen::GntSt::okay && (mapping.handle & kLocalHandle) != 0) {
                (void)unmap_here(*session_, mapping.handle);
            }
        }
        throw;
    }
    if (ours.empty()) {
        return result;
    }
    std::vector<wire::GrantMapOp> ops(ours.size());
    for (std::size_t i = 0; i < ours.size(); ++i) {
        const GrantMapRequest& request = requests[ours[i]];
        ops[i].host_addr = 0;
        ops[i].flags = xen::kGntmapHostMap | (request.readonly ? xen::kGntmapReadonly : 0);
        ops[i].ref = request.ref;
        ops[i].dom = request.domid;
    }
    auto reply = batch_call(*session_, wire::Op::grant_map, ops, kWhat);
    std::vector<MapSlot> slots(ours.size());
    for (std::size_t i = 0; i < ours.size(); ++i) {
        const wire::GrantMapOp& out = reply.ops[i];
        slots[i] =
            MapSlot{domid(),    requests[ours[i]].readonly, static_cast<xen::GntSt>(out.status),
                    out.handle, out.dev_bus_addr,           out.host_addr};
    }
    const std::vector<GrantMapping> mapped = finish_maps(*session_, slots, reply.fds);
    for (std::size_t i = 0; i < ours.size(); ++i) {
        result[ours[i]] = mapped[i];
    }
    return result;
}

std::vector<GrantMapping> Hypervisor::map_foreign_pages(
    std::span<const ForeignMapRequest> requests) {
    constexpr const char* kWhat = "foreign map (privcmd mmapbatch)";
    if (requests.empty()) {
        return {};
    }
    check_batch_size(requests.size(), kWhat);
    std::vector<wire::ForeignMapOp> ops(requests.size());
    for (std::size_t i = 0; i < requests.size(); ++i) {
        ops[i].gfn = requests[i].gfn;
        ops[i].flags = xen::kGntmapHostMap | (requests[i].readonly ? xen::kGntmapReadonly : 0);
        ops[i].dom = requests[i].domid;
    }
    std::lock_guard lock(session_->maps_mutex);
    auto reply = batch_call(*session_, wire::Op::foreign_map, ops, kWhat);
    std::vector<MapSlot> slots(requests.size());
    for (std::size_t i = 0; i < requests.size(); ++i) {
        const wire::ForeignMapOp& out = reply.ops[i];
        slots[i] =
            MapSlot{requests[i].domid, requests[i].readonly, static_cast<xen::GntSt>(out.status),
                    out.handle,        requests[i].gfn,      out.host_addr};
    }
    return finish_maps(*session_, slots, reply.fds);
}

std::vector<xen::GntSt> Hypervisor::unmap_grant_refs(std::span<const xen::GrantHandle> handles) {
    if (handles.empty()) {
        return {};
    }
    check_batch_size(handles.size(), "GNTTABOP_unmap_grant_ref");
    std::lock_guard lock(session_->maps_mutex);
    return unmap_locked(*session_, handles);
}

std::vector<xen::GntSt> Hypervisor::copy_grants(std::span<const GrantCopyRequest> requests) {
    constexpr const char* kWhat = "GNTTABOP_copy";
    if (requests.empty()) {
        return {};
    }
    check_batch_size(requests.size(), kWhat);
    auto pointer = [](const GrantCopyPtr& in) {
        wire::GrantCopyPtr out{};
        out.u = in.ref_or_gfn;
        out.domid = in.domid;
        out.offset = in.offset;
        return out;
    };
    std::vector<wire::GrantCopyOp> ops(requests.size());
    for (std::size_t i = 0; i < requests.size(); ++i) {
        ops[i].source = pointer(requests[i].source);
        ops[i].dest = pointer(requests[i].dest);
        ops[i].len = requests[i].len;
        ops[i].flags =
            static_cast<std::uint16_t>((requests[i].source.gref ? xen::kGntcopySourceGref : 0) |
                                       (requests[i].dest.gref ? xen::kGntcopyDestGref : 0));
    }
    const auto reply = batch_call(*session_, wire::Op::grant_copy, ops, kWhat);
    std::vector<xen::GntSt> statuses(requests.size());
    for (std::size_t i = 0; i < requests.size(); ++i) {
        statuses[i] = static_cast<xen::GntSt>(reply.ops[i].status);
    }
    return statuses;
}

GrantArea Hypervisor::map_area(std::span<const xen::GrantHandle> handles) {
    if (handles.empty()) {
        throw std::invalid_argument("map_area: no handle");
    }
    const std::size_t bytes = handles.size() * xen::kXenPageSize;
    std::lock_guard lock(session_->maps_mutex);
    // Reserve the whole range first, so that each page can then take its
    // place in it with MAP_FIXED without ever replacing someone else's.
    void* reserved = ::mmap(nullptr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (reserved == MAP_FAILED) {
        os::throw_system_error("map_area: reserving " + std::to_string(bytes) + " bytes");
    }
    GrantArea area(static_cast<std::byte*>(reserved), bytes);
    for (std::size_t i = 0; i < handles.size(); ++i) {
        const auto it = session_->mappings.find(handles[i]);
        if (it == session_->mappings.end()) {
            throw std::invalid_argument("map_area: handle " + std::to_string(handles[i]) +
                                        " is not mapped here");
        }
        const LocalMapping& local = it->second;
        const auto granter = session_->granters.find(local.granter);
        if (granter == session_->granters.end() || !granter->second.memory) {
            throw std::invalid_argument("map_area: no memory of dom" +
                                        std::to_string(local.granter));
        }
        void* page = ::mmap(area.data() + i * xen::kXenPageSize, xen::kXenPageSize,
                            local.readonly ? PROT_READ : PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_FIXED, granter->second.memory.get(),
                            static_cast<off_t>(local.frame * xen::kXenPageSize));
        if (page == MAP_FAILED) {
            os::throw_system_error("map_area: mapping frame " + std::to_string(local.frame));
        }
    }
    return area;
}

GrantArea::GrantArea(GrantArea&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

GrantArea& GrantArea::operator=(GrantArea&& other) noexcept {
    if (this != &other) {
        reset();
        data_ = std::exchange(other.data_, nullptr);
        bytes_ = std::exchange(other.bytes_, 0);
    }
    return *this;
}

void GrantArea::reset() noexcept {
    if (data_ != nullptr) {
        ::munmap(std::exchange(data_, nullptr), std::exchange(bytes_, 0));
    }
}

std::size_t Hypervisor::mapping_count() const {
    std::lock_guard lock(session_->maps_mutex);
    return session_->mappings.size();
}

namespace {

// EVTCHNOP_alloc_unbound in `domid` for `remote_domid`: the reply, checked,
// and the new port.
template <class Channel>
xen::EvtchnPort alloc_unbound_call(Channel& channel, xen::DomId domid, xen::DomId remote_domid,
                                   const std::string& what, HypercallReply& reply) {
    wire::EvtchnAllocUnbound op{};
    op.dom = domid;
    op.remote_dom = remote_domid;
    reply = channel.call(wire::Op::evtchn_alloc_unbound, bytes_of(op));
    if (reply.result < 0) {
        throw refused(what, reply.result);
    }
    const auto out = reply_as<wire::EvtchnAllocUnbound>(reply, what);
    check_port(out.port, what);
    return out.port;
}

}  // namespace

EventChannel Hypervisor::alloc_unbound(xen::DomId remote_domid) {
    const std::string what = "EVTCHNOP_alloc_unbound(dom " + std::to_string(remote_domid) + ")";
    HypercallReply reply;
    const xen::EvtchnPort port =
        alloc_unbound_call(session_->channel, xen::kDomidSelf, remote_domid, what, reply);
    if (reply.fds.size() != 1) {
        throw HypercallError(what + ": expected the port's eventfd with the reply", EPROTO);
    }
    return EventChannel(session_, port, received_eventfd(std::move(reply.fds[0]), what));
}

xen::EvtchnPort Hypervisor::alloc_unbound_in(xen::DomId domid, xen::DomId remote_domid) {
    const std::string what = "EVTCHNOP_alloc_unbound(in dom " + std::to_string(domid) +
                             ", for dom " + std::to_string(remote_domid) + ")";
    HypercallReply reply;
    return alloc_unbound_call(session_->channel, domid, remote_domid, what, reply);
}

EventChannel Hypervisor::take_store_event_channel() {
    if (!session_->store_port_incoming) {
        throw std::logic_error(session_->welcome.store_evtchn == xen::kInvalidEvtchnPort
                                   ? "this domain has no xenstore event channel (dom0 uses the "
                                     "xenstored socket)"
                                   : "the xenstore event channel was taken already");
    }
    EventChannel channel(session_, session_->welcome.store_evtchn,
                         std::move(*session_->store_port_incoming));
    session_->store_port_incoming.reset();
    return channel;
}

EventChannel Hypervisor::bind_virq(std::uint32_t virq) {
    const std::string what = "EVTCHNOP_bind_virq(" + std::to_string(virq) + ")";
    wire::EvtchnBindVirq op{};
    op.virq = virq;
    HypercallReply reply = session_->channel.call(wire::Op::evtchn_bind_virq, bytes_of(op));
    if (reply.result < 0) {
        throw refused(what, reply.result);
    }
    const auto out = reply_as<wire::EvtchnBindVirq>(reply, what);
    check_port(out.port, what);
    if (reply.fds.size() != 1) {
        throw HypercallError(what + ": expected the port's eventfd with the reply", EPROTO);
    }
    return EventChannel(session_, out.port, received_eventfd(std::move(reply.fds[0]), what));
}

EventChannel Hypervisor::bind_interdomain(xen::DomId remote_domid, xen::EvtchnPort remote_port) {
    const std::string what = dom_port("EVTCHNOP_bind_interdomain", remote_domid, remote_port);
    wire::EvtchnBindInterdomain op{};
    op.remote_dom = remote_domid;
    op.remote_port = remote_port;
    HypercallReply reply = session_->channel.call(wire::Op::evtchn_bind_interdomain, bytes_of(op));
    if (reply.result < 0) {
        throw refused(what, reply.result);
    }
    const auto out = reply_as<wire::EvtchnBindInterdomain>(reply, what);
    check_port(out.local_port, what);
    if (reply.fds.size() != 2) {
        throw HypercallError(what + ": expected the incoming and notify eventfds with the reply",
                             EPROTO);
    }
    EventChannel channel(session_, out.local_port, received_eventfd(std::move(reply.fds[0]), what));
    channel.cache_notify(received_eventfd(std::move(reply.fds[1]), what), out.generation);
    return channel;
}

EventChannelStatus Hypervisor::evtchn_status(xen::DomId domid, xen::EvtchnPort port) {
    const std::string what = dom_port("EVTCHNOP_status", domid, port);
    wire::EvtchnStatusOp op{};
    op.dom = domid;
    op.port = port;
    const HypercallReply reply = session_->channel.call(wire::Op::evtchn_status, bytes_of(op));
    if (reply.result < 0) {
        throw refused(what, reply.result);
    }
    const auto out = reply_as<wire::EvtchnStatusOp>(reply, what);
    return EventChannelStatus{static_cast<xen::EvtchnStat>(out.status), out.remote_dom,
                              out.remote_port};
}

DomainInfo Hypervisor::domain_info(xen::DomId domid) {
    const std::string what = "XEN_DOMCTL_getdomaininfo(dom " + std::to_string(domid) + ")";
    wire::DomainInfoRequest op{};
    op.domid = domid;
    const HypercallReply reply = session_->channel.call(wire::Op::domain_info, bytes_of(op));
    if (reply.result < 0) {
        throw refused(what, reply.result);
    }
    const auto out = reply_as<wire::DomainInfoReply>(reply, what);
    DomainInfo info;
    info.domid = out.domid;
    info.name.assign(out.name, ::strnlen(out.name, sizeof out.name));
    info.state = static_cast<wire::DomainState>(out.state);
    info.memory_bytes = out.memory_bytes;
    info.grant_frames = out.grant_frames;
    return info;
}

}  // namespace pvsim::hypervisor
