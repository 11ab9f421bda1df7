// Hypervisor's own logic, around a connection whose replies the test
// scripts: reading the welcome, refusing bad batches before sending them,
// mapping pages from a granter's memory fd and keeping that fd while the
// granter's memory lives (dropped once it is unlinked), giving a pin back
// when a reply breaks the protocol, and the errors people see. What the real
// daemon answers is tested in tests/integration/hypervisor.
#include "hypervisor/client/hypervisor.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "hypervisor/protocol/control.hpp"
#include "scripted_peer.hpp"

namespace pvsim::hypervisor {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using xen::GntSt;

constexpr std::uint64_t kMemoryFrames = 16;
constexpr std::uint32_t kGrantFrames = 2;
constexpr xen::DomId kGranter = 5;
constexpr xen::DomId kOurselves = 7;  // the domid the scripted welcome gives
constexpr std::uint32_t kGranterEntries = 512;

class HypervisorTest : public ::testing::Test {
  protected:
    HypervisorTest() {
        auto [client, server] = os::make_socket_pair();
        client_ = std::move(client);
        peer_.emplace(std::move(server));
    }

    // Scripts the welcome of a domain and adopts the connection.
    Hypervisor adopt(std::uint32_t flags = 0) {
        wire::Welcome welcome{};
        welcome.domid = kOurselves;
        welcome.flags = flags;
        welcome.memory_bytes = memory_.size();
        welcome.grant_frames = kGrantFrames;
        welcome.max_evtchn_ports = wire::kMaxEvtchnPorts;
        welcome.store_gfn = 0;
        welcome.first_free_gfn = 1;
        const int fds[] = {memory_.fd(), grant_table_.fd(), info_.fd()};
        peer_->reply(wire::Op::welcome, 0, test::bytes_of(welcome), fds);
        return Hypervisor::adopt(std::move(client_));
    }

    // A grant_map reply: one slot per {status, handle, frame, fd index}.
    struct Slot {
        GntSt status;
        xen::GrantHandle handle;
        std::uint64_t frame;
        std::uint64_t fd_index;
    };
    void script_map_reply(const std::vector<Slot>& slots, std::vector<int> fds) {
        std::vector<wire::GrantMapOp> ops(slots.size());
        for (std::size_t i = 0; i < slots.size(); ++i) {
            ops[i].status = static_cast<std::int16_t>(slots[i].status);
            ops[i].handle = slots[i].handle;
            ops[i].dev_bus_addr = slots[i].frame;
            ops[i].host_addr = slots[i].fd_index;
        }
        peer_->reply(wire::Op::grant_map, 0, test::batch_payload(ops), fds);
    }
    void script_unmap_reply(const std::vector<GntSt>& statuses) {
        std::vector<wire::GrantUnmapOp> ops(statuses.size());
        for (std::size_t i = 0; i < statuses.size(); ++i) {
            ops[i].status = static_cast<std::int16_t>(statuses[i]);
        }
        peer_->reply(wire::Op::grant_unmap, 0, test::batch_payload(ops));
    }
    std::vector<xen::GrantHandle> unmap_request_handles() {
        const test::Request request = peer_->read_request();
        EXPECT_EQ(request.op(), wire::Op::grant_unmap);
        std::vector<xen::GrantHandle> handles;
        for (const auto& op : test::batch_ops<wire::GrantUnmapOp>(request.payload)) {
            handles.push_back(op.handle);
        }
        return handles;
    }

    // A grant_tables reply for kGranter: its memory (granter_memory_ unless
    // another object is named), grant table and active grants, and our
    // maptrack; or only a status.
    void script_tables_reply(GntSt status = GntSt::okay, const os::SharedMemory* memory = nullptr) {
        const os::SharedMemory& object = memory != nullptr ? *memory : granter_memory_;
        wire::GrantTablesOp op{};
        op.dom = kGranter;
        op.status = static_cast<std::int16_t>(status);
        if (status != GntSt::okay) {
            peer_->reply(wire::Op::grant_tables, 0, test::bytes_of(op));
            return;
        }
        op.grant_entries = kGranterEntries;
        op.memory_bytes = object.size();
        const int fds[] = {object.fd(), granter_grants_.fd(), granter_active_.fd(), maptrack_.fd()};
        peer_->reply(wire::Op::grant_tables, 0, test::bytes_of(op), fds);
    }
    // The granter grants frame `gfn` to us as `ref`, as its guest would.
    void grant(xen::GrantRef ref, std::uint32_t gfn, bool readonly = false) {
        xen::GrantEntryV1& entry = granter_entries()[ref];
        entry.domid = kOurselves;
        entry.frame = gfn;
        xen::grant_flags(entry).store(
            static_cast<std::uint16_t>(xen::kGtfPermitAccess | (readonly ? xen::kGtfReadonly : 0)));
    }
    xen::GrantEntryV1* granter_entries() {
        return reinterpret_cast<xen::GrantEntryV1*>(granter_grants_.data());
    }
    std::uint16_t flags_of(xen::GrantRef ref) {
        return xen::grant_flags(granter_entries()[ref]).load();
    }
    wire::ActiveGrant active_of(xen::GrantRef ref) {
        const wire::ActiveGrants active(granter_active_.bytes());
        const auto lock = active.lock();
        return active.entry(ref);
    }
    static os::SharedMemory make_active(test::TestShm& shm) {
        os::SharedMemory object =
            shm.create("granter-active", wire::ActiveGrants::bytes_for(kGranterEntries));
        wire::ActiveGrants::initialise(object.bytes(), kGranterEntries);
        return object;
    }
    static os::SharedMemory make_maptrack() {
        os::SharedMemory object = os::SharedMemory::create_anonymous(
            "test.maptrack", wire::SharedMaptrack::bytes_for(64));
        wire::SharedMaptrack::initialise(object.bytes(), 64, kOurselves);
        return object;
    }

    test::TestShm shm_;
    os::SharedMemory memory_ = shm_.create("memory", kMemoryFrames* xen::kXenPageSize);
    os::SharedMemory grant_table_ = shm_.create("grant-table", kGrantFrames* xen::kXenPageSize);
    os::SharedMemory info_ = shm_.create("info", wire::kSharedInfoBytes);
    // The granting domain's memory, as the hypervisor holds it.
    os::SharedMemory granter_memory_ = shm_.create("granter", 8 * xen::kXenPageSize);
    os::SharedMemory granter_grants_ = shm_.create("granter-grants", xen::kXenPageSize);
    os::SharedMemory granter_active_ = make_active(shm_);
    os::SharedMemory maptrack_ = make_maptrack();
    os::UniqueFd client_;
    std::optional<test::ScriptedPeer> peer_;
};

TEST_F(HypervisorTest, TheWelcomeSaysWhoWeAreAndGivesUsOurPages) {
    Hypervisor hv = adopt(wire::kWelcomePrivileged);
    EXPECT_EQ(hv.domid(), 7);
    EXPECT_TRUE(hv.privileged());
    EXPECT_EQ(hv.store_gfn(), 0u);
    EXPECT_EQ(hv.max_evtchn_ports(), wire::kMaxEvtchnPorts);
    EXPECT_EQ(hv.memory().frames(), kMemoryFrames);
    EXPECT_EQ(hv.grant_table().capacity(), kGrantFrames * xen::kGrantEntriesPerFrame);
    EXPECT_EQ(hv.memory().free_pages(), kMemoryFrames - 1);  // frame 0 is the store ring's

    // They are the objects the hypervisor shares.
    const Gfn gfn = hv.memory().allocate_page();
    EXPECT_GE(gfn, 1u);
    std::memcpy(hv.memory().page(gfn).data(), "ours", 4);
    EXPECT_EQ(std::memcmp(memory_.data() + gfn * xen::kXenPageSize, "ours", 4), 0);
    const xen::GrantRef ref = hv.grant_table().grant_access(0, gfn, false);
    const auto* entries = reinterpret_cast<const xen::GrantEntryV1*>(grant_table_.data());
    EXPECT_EQ(entries[ref].frame, gfn);
    hv.shared_info().events_sent_fast().store(9);
    EXPECT_EQ(wire::SharedInfoView(info_.data()).events_sent_fast().load(), 9u);
}

TEST_F(HypervisorTest, AnUnprivilegedDomainIsToldSo) {
    EXPECT_FALSE(adopt().privileged());
}

TEST_F(HypervisorTest, AWelcomeWithoutItsThreeFdsIsAProtocolError) {
    wire::Welcome welcome{};
    welcome.memory_bytes = memory_.size();
    const int fds[] = {memory_.fd(), grant_table_.fd()};
    peer_->reply(wire::Op::welcome, 0, test::bytes_of(welcome), fds);
    try {
        (void)Hypervisor::adopt(std::move(client_));
        ADD_FAILURE() << "adopted";
    } catch (const HypercallError& e) {
        EXPECT_EQ(e.error(), EPROTO);
        EXPECT_THAT(e.what(), HasSubstr("fds"));
    }
}

TEST_F(HypervisorTest, AWelcomeWhoseMemoryDisagreesWithItsObjectIsAProtocolError) {
    wire::Welcome welcome{};
    welcome.memory_bytes = memory_.size() * 2;
    welcome.grant_frames = kGrantFrames;
    const int fds[] = {memory_.fd(), grant_table_.fd(), info_.fd()};
    peer_->reply(wire::Op::welcome, 0, test::bytes_of(welcome), fds);
    EXPECT_THROW((void)Hypervisor::adopt(std::move(client_)), HypercallError);
}

TEST(HypervisorEnvironment, WithoutTheVariableTheErrorSaysWhoMustStartUs) {
    try {
        (void)Hypervisor::from_environment(os::Environment::from_map({}));
        ADD_FAILURE() << "no error";
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(),
                     "PVSIM_HYPERCALL_FD is not set: this program must be started by "
                     "pvsim-hypervisor");
    }
}

TEST(HypervisorEnvironment, AVariableThatIsNotAnFdNumberIsRejected) {
    for (const char* value : {"three", "3x", "-1", " 3"}) {
        const auto env = os::Environment::from_map(
            {{std::string(wire::kHypercallFdVariable), std::string(value)}});
        try {
            (void)Hypervisor::from_environment(env);
            ADD_FAILURE() << value;
        } catch (const std::runtime_error& e) {
            EXPECT_THAT(e.what(), HasSubstr("PVSIM_HYPERCALL_FD")) << value;
        }
    }
}

TEST_F(HypervisorTest, EmptyBatchesAreNoCallAndOversizedOnesAreRefusedUnsent) {
    Hypervisor hv = adopt();
    EXPECT_TRUE(hv.map_grant_refs({}).empty());
    EXPECT_TRUE(hv.map_foreign_pages({}).empty());
    EXPECT_TRUE(hv.unmap_grant_refs({}).empty());
    EXPECT_TRUE(hv.copy_grants({}).empty());

    const std::vector<GrantMapRequest> maps(wire::kMaxBatch + 1, GrantMapRequest{1, 8, false});
    const std::vector<ForeignMapRequest> foreign(wire::kMaxBatch + 1, ForeignMapRequest{1, 1});
    const std::vector<xen::GrantHandle> handles(wire::kMaxBatch + 1, 1);
    const std::vector<GrantCopyRequest> copies(wire::kMaxBatch + 1);
    auto expect_e2big = [](auto&& call) {
        try {
            call();
            ADD_FAILURE() << "no error";
        } catch (const HypercallError& e) {
            EXPECT_EQ(e.error(), E2BIG) << e.what();
        }
    };
    expect_e2big([&] { hv.map_grant_refs(maps); });
    expect_e2big([&] { hv.map_foreign_pages(foreign); });
    expect_e2big([&] { hv.unmap_grant_refs(handles); });
    expect_e2big([&] { hv.copy_grants(copies); });
    EXPECT_TRUE(peer_->nothing_sent());
}

// DESIGN.md §3, "Where a grant map runs": another domain's grant is mapped
// in this process against the tables the hypervisor shares, after one
// grant_tables call for that granter, as Xen runs GNTTABOP_map_grant_ref on
// the calling vCPU: the pin marks the granter's entry, counts in its active
// entry and fills a slot of our maptrack; the unmap undoes all three.
TEST_F(HypervisorTest, AnotherDomainsGrantIsMappedHereAfterOneCallForItsTables) {
    Hypervisor hv = adopt();
    std::memcpy(granter_memory_.data() + 3 * xen::kXenPageSize + 10, "frame-3", 7);
    std::memcpy(granter_memory_.data() + 4 * xen::kXenPageSize, "frame-4", 7);
    grant(20, 3);
    grant(21, 4, true);
    grant(22, 5);

    script_tables_reply();
    const std::vector<GrantMapRequest> requests = {{kGranter, 20, false}, {kGranter, 21, true}};
    const auto mapped = hv.map_grant_refs(requests);
    const test::Request request = peer_->read_request();
    EXPECT_EQ(request.op(), wire::Op::grant_tables);
    EXPECT_EQ(request.as<wire::GrantTablesOp>().dom, kGranter);

    ASSERT_EQ(mapped.size(), 2u);
    ASSERT_EQ(mapped[0].status, GntSt::okay);
    ASSERT_EQ(mapped[1].status, GntSt::okay);
    EXPECT_EQ(mapped[0].frame, 3u);
    EXPECT_EQ(std::memcmp(mapped[0].page + 10, "frame-3", 7), 0);
    EXPECT_EQ(std::memcmp(mapped[1].page, "frame-4", 7), 0);
    std::memcpy(mapped[0].page + 100, "from-the-mapper", 15);
    EXPECT_EQ(
        std::memcmp(granter_memory_.data() + 3 * xen::kXenPageSize + 100, "from-the-mapper", 15),
        0);
    EXPECT_EQ(flags_of(20), xen::kGtfPermitAccess | xen::kGtfReading | xen::kGtfWriting);
    EXPECT_EQ(flags_of(21), xen::kGtfPermitAccess | xen::kGtfReadonly | xen::kGtfReading);
    EXPECT_EQ(active_of(20).domid, kOurselves);
    EXPECT_EQ(active_of(20).write_pins, 1u);
    EXPECT_EQ(active_of(21).read_pins, 1u);
    const wire::SharedMaptrack maptrack(maptrack_.bytes());
    const auto slot = maptrack.key(mapped[0].handle & ~kLocalHandle);
    ASSERT_TRUE(slot.has_value());
    EXPECT_EQ(slot->granter, kGranter);
    EXPECT_EQ(slot->ref, 20u);
    EXPECT_EQ(maptrack.grant_maps().load(), 2u);

    // A third map of the same granter asks nothing.
    const GrantMapRequest third{kGranter, 22, false};
    const auto third_mapped = hv.map_grant_refs({&third, 1});
    EXPECT_EQ(third_mapped[0].status, GntSt::okay);
    EXPECT_EQ(hv.mapping_count(), 3u);

    EXPECT_THAT(hv.unmap_grant_refs(std::vector<xen::GrantHandle>{
                    mapped[0].handle, mapped[1].handle, third_mapped[0].handle}),
                ElementsAre(GntSt::okay, GntSt::okay, GntSt::okay));
    EXPECT_TRUE(peer_->nothing_sent());
    EXPECT_EQ(hv.mapping_count(), 0u);
    EXPECT_EQ(flags_of(20), xen::kGtfPermitAccess);
    EXPECT_EQ(flags_of(21), xen::kGtfPermitAccess | xen::kGtfReadonly);
    EXPECT_EQ(active_of(20).write_pins + active_of(20).read_pins, 0u);
    EXPECT_FALSE(maptrack.key(mapped[0].handle & ~kLocalHandle).has_value());
    EXPECT_EQ(maptrack.grant_unmaps().load(), 3u);
    EXPECT_THAT(hv.unmap_grant_refs({&mapped[0].handle, 1}), ElementsAre(GntSt::bad_handle));
}

// map_grant_ref's checks, each slot its own status, as the hypervisor
// answered them when it did the map.
TEST_F(HypervisorTest, EachSlotMappedHereGetsXensStatus) {
    Hypervisor hv = adopt();
    grant(1, 2);
    grant(2, 3, true);
    grant(3, 8);                             // the granter has 8 frames: 0..7
    script_tables_reply(GntSt::bad_domain);  // asked first, for dom 999
    script_tables_reply();
    const std::vector<GrantMapRequest> requests = {
        {999, 1, false},         // no such domain
        {kGranter, 1, false},    // good
        {kGranter, 9, false},    // never granted
        {kGranter, 2, false},    // a read-only grant mapped for writing
        {kGranter, 600, false},  // past the granter's table
        {kGranter, 3, false},    // a frame past the granter's memory
    };
    const auto mapped = hv.map_grant_refs(requests);
    EXPECT_EQ(peer_->read_request().as<wire::GrantTablesOp>().dom, 999);
    EXPECT_EQ(peer_->read_request().as<wire::GrantTablesOp>().dom, kGranter);
    ASSERT_EQ(mapped.size(), requests.size());
    EXPECT_EQ(mapped[0].status, GntSt::bad_domain);
    EXPECT_EQ(mapped[0].page, nullptr);
    EXPECT_EQ(mapped[1].status, GntSt::okay);
    EXPECT_EQ(mapped[2].status, GntSt::general_error);
    EXPECT_EQ(mapped[3].status, GntSt::general_error);
    EXPECT_EQ(mapped[4].status, GntSt::bad_gntref);
    EXPECT_EQ(mapped[5].status, GntSt::bad_page);
    // Nothing of the failed slots is left pinned.
    EXPECT_EQ(flags_of(2), xen::kGtfPermitAccess | xen::kGtfReadonly);
    EXPECT_EQ(flags_of(3), xen::kGtfPermitAccess);
    EXPECT_EQ(active_of(3).read_pins + active_of(3).write_pins, 0u);
    EXPECT_EQ(hv.mapping_count(), 1u);
    EXPECT_THAT(hv.unmap_grant_refs({&mapped[1].handle, 1}), ElementsAre(GntSt::okay));
    EXPECT_TRUE(peer_->nothing_sent());
}

// The cost model of session.hpp's Granter: the granter's memory and tables
// are mapped once, kept while the granter lives (not only while a mapping
// of it does), and dropped once its memory is unlinked, its domain
// destroyed; our maptrack stays with the connection.
TEST_F(HypervisorTest, TheGrantersMemoryIsKeptWhileItLivesAndDroppedOnceItIsUnlinked) {
    Hypervisor hv = adopt();
    const int baseline = pvsim::test::count_open_fds();
    grant(8, 2);
    grant(9, 3);
    std::memcpy(granter_memory_.data() + 2 * xen::kXenPageSize, "frame2", 6);
    script_tables_reply();
    const GrantMapRequest request{kGranter, 8, false};
    const auto first = hv.map_grant_refs({&request, 1});
    ASSERT_EQ(first[0].status, GntSt::okay);
    (void)peer_->read_request();
    EXPECT_EQ(std::memcmp(first[0].page, "frame2", 6), 0);
    // Its memory, grant table and active grants, and our maptrack.
    EXPECT_EQ(pvsim::test::count_open_fds(), baseline + 4);
    ASSERT_EQ(hv.unmap_grant_refs({&first[0].handle, 1})[0], GntSt::okay);
    EXPECT_EQ(pvsim::test::count_open_fds(), baseline + 4);  // it lives: kept

    const auto again = hv.map_grant_refs({&request, 1});
    ASSERT_EQ(again[0].status, GntSt::okay);
    EXPECT_EQ(again[0].page, first[0].page);
    EXPECT_TRUE(peer_->nothing_sent());

    // The domain is destroyed (the hypervisor unlinks its memory): its
    // tables go with our last mapping of it.
    ASSERT_EQ(::shm_unlink(granter_memory_.name().c_str()), 0);
    ASSERT_EQ(hv.unmap_grant_refs({&again[0].handle, 1})[0], GntSt::okay);
    EXPECT_EQ(pvsim::test::count_open_fds(), baseline + 1);
}

// A granter that dies while we map it is marked dying in its active grants:
// a new map asks the hypervisor again (GNTST_bad_domain), and our last
// unmap asks once more, so that the hypervisor frees the dying domain.
TEST_F(HypervisorTest, ADyingGranterIsRefusedAndOurLastUnmapLetsItBeFreed) {
    Hypervisor hv = adopt();
    grant(8, 2);
    grant(9, 3);
    script_tables_reply();
    const GrantMapRequest request{kGranter, 8, false};
    const auto mapped = hv.map_grant_refs({&request, 1});
    ASSERT_EQ(mapped[0].status, GntSt::okay);
    (void)peer_->read_request();
    {
        const wire::ActiveGrants active(granter_active_.bytes());
        const auto lock = active.lock();
        active.set_dying();
    }
    script_tables_reply(GntSt::bad_domain);
    const GrantMapRequest second{kGranter, 9, false};
    EXPECT_EQ(hv.map_grant_refs({&second, 1})[0].status, GntSt::bad_domain);
    EXPECT_EQ(peer_->read_request().op(), wire::Op::grant_tables);
    EXPECT_EQ(flags_of(9), xen::kGtfPermitAccess);

    script_tables_reply(GntSt::bad_domain);
    EXPECT_EQ(hv.unmap_grant_refs({&mapped[0].handle, 1})[0], GntSt::okay);
    EXPECT_EQ(peer_->read_request().as<wire::GrantTablesOp>().dom, kGranter);
    EXPECT_EQ(flags_of(8), xen::kGtfPermitAccess);
}

// A domid names another domain only once the old one is gone: the
// hypervisor answering another memory object for a granter we still map
// broke the protocol.
TEST_F(HypervisorTest, AnotherObjectForAGranterStillMappedIsAProtocolError) {
    Hypervisor hv = adopt();
    grant(8, 2);
    script_tables_reply();
    const GrantMapRequest request{kGranter, 8, false};
    ASSERT_EQ(hv.map_grant_refs({&request, 1})[0].status, GntSt::okay);
    (void)peer_->read_request();
    {
        const wire::ActiveGrants active(granter_active_.bytes());
        const auto lock = active.lock();
        active.set_dying();
    }
    const os::SharedMemory other = shm_.create("other", 8 * xen::kXenPageSize);
    script_tables_reply(GntSt::okay, &other);
    try {
        (void)hv.map_grant_refs({&request, 1});
        ADD_FAILURE() << "no error";
    } catch (const HypercallError& e) {
        EXPECT_EQ(e.error(), EPROTO);
        EXPECT_THAT(e.what(), HasSubstr("grant_tables"));
    }
    // As hv goes, its last unmap of the dying granter asks once more.
    script_tables_reply(GntSt::bad_domain);
}

// A grant_tables call refused as a whole fails the batch as a whole, as a
// refused map hypercall did: nothing of it stays mapped or pinned.
TEST_F(HypervisorTest, ARefusedTablesCallFailsTheBatchAndLeavesNothingMapped) {
    Hypervisor hv = adopt();
    grant(8, 2);
    script_tables_reply();
    peer_->reply(wire::Op::grant_tables, -EINVAL, {});
    const std::vector<GrantMapRequest> requests = {{kGranter, 8, false}, {6, 1, false}};
    try {
        (void)hv.map_grant_refs(requests);
        ADD_FAILURE() << "no error";
    } catch (const HypercallError& e) {
        EXPECT_EQ(e.error(), EINVAL);
    }
    EXPECT_EQ(hv.mapping_count(), 0u);
    EXPECT_EQ(flags_of(8), xen::kGtfPermitAccess);
    EXPECT_EQ(active_of(8).write_pins, 0u);
}

TEST_F(HypervisorTest, GrantTablesWithoutItsFourFdsIsAProtocolError) {
    Hypervisor hv = adopt();
    wire::GrantTablesOp op{};
    op.dom = kGranter;
    op.memory_bytes = granter_memory_.size();
    op.grant_entries = kGranterEntries;
    const int fds[] = {granter_memory_.fd()};
    peer_->reply(wire::Op::grant_tables, 0, test::bytes_of(op), fds);
    const GrantMapRequest request{kGranter, 8, false};
    try {
        (void)hv.map_grant_refs({&request, 1});
        ADD_FAILURE() << "no error";
    } catch (const HypercallError& e) {
        EXPECT_EQ(e.error(), EPROTO);
    }
}

// Our own grants are mapped through the hypervisor (grant_map), which
// keeps our active entries out of our reach; its reply is checked, and a
// slot it broke is given back.
TEST_F(HypervisorTest, AnotherObjectUnderLiveMappingsOfTheSameDomainIsGivenBack) {
    Hypervisor hv = adopt();
    script_map_reply({{GntSt::okay, 1, 2, 0}}, {granter_memory_.fd()});
    const GrantMapRequest request{kOurselves, 8, false};
    ASSERT_EQ(hv.map_grant_refs({&request, 1})[0].status, GntSt::okay);
    (void)peer_->read_request();

    // A memory fd only comes with a first mapping: one naming another object
    // while handle 1 lives broke the protocol, and the slot is unmapped.
    const os::SharedMemory other = shm_.create("other", 8 * xen::kXenPageSize);
    script_map_reply({{GntSt::okay, 2, 3, 0}}, {other.fd()});
    script_unmap_reply({GntSt::okay});
    EXPECT_EQ(hv.map_grant_refs({&request, 1})[0].status, GntSt::general_error);
    (void)peer_->read_request();
    EXPECT_THAT(unmap_request_handles(), ElementsAre(2u));
    EXPECT_EQ(hv.mapping_count(), 1u);
    script_unmap_reply({GntSt::okay});  // handle 1's, as hv goes
}

TEST_F(HypervisorTest, FailedSlotsKeepTheirStatusAndMapNothing) {
    Hypervisor hv = adopt();
    script_map_reply({{GntSt::bad_domain, 0, 0, wire::kNoFd},
                      {GntSt::okay, 6, 1, 0},
                      {GntSt::permission_denied, 0, 0, wire::kNoFd}},
                     {granter_memory_.fd()});
    const std::vector<GrantMapRequest> requests = {
        {kOurselves, 7, false}, {kOurselves, 8, false}, {kOurselves, 9, false}};
    const auto mapped = hv.map_grant_refs(requests);
    (void)peer_->read_request();
    EXPECT_EQ(mapped[0].status, GntSt::bad_domain);
    EXPECT_EQ(mapped[0].page, nullptr);
    EXPECT_EQ(mapped[1].status, GntSt::okay);
    EXPECT_EQ(mapped[2].status, GntSt::permission_denied);
    EXPECT_EQ(hv.mapping_count(), 1u);
    script_unmap_reply({GntSt::okay});
    (void)hv.unmap_grant_refs({&mapped[1].handle, 1});
    (void)unmap_request_handles();
}

TEST_F(HypervisorTest, AMappingWithoutTheGrantersFdIsGivenBack) {
    Hypervisor hv = adopt();
    // The hypervisor says okay but sends no fd for a granter we hold none of.
    script_map_reply({{GntSt::okay, 7, 2, wire::kNoFd}}, {});
    script_unmap_reply({GntSt::okay});
    const GrantMapRequest request{kOurselves, 8, false};
    const auto mapped = hv.map_grant_refs({&request, 1});
    EXPECT_EQ(mapped[0].status, GntSt::general_error);
    EXPECT_EQ(mapped[0].page, nullptr);
    EXPECT_EQ(peer_->read_request().op(), wire::Op::grant_map);
    EXPECT_THAT(unmap_request_handles(), ElementsAre(7u));
    EXPECT_EQ(hv.mapping_count(), 0u);
}

TEST_F(HypervisorTest, AFramePastTheGrantersMemoryIsGivenBack) {
    Hypervisor hv = adopt();
    const int baseline = pvsim::test::count_open_fds();
    script_map_reply({{GntSt::okay, 7, 8, 0}}, {granter_memory_.fd()});  // 8 frames: 0..7
    script_unmap_reply({GntSt::okay});
    const GrantMapRequest request{kOurselves, 8, false};
    EXPECT_EQ(hv.map_grant_refs({&request, 1})[0].status, GntSt::general_error);
    (void)peer_->read_request();
    EXPECT_THAT(unmap_request_handles(), ElementsAre(7u));
    EXPECT_EQ(hv.mapping_count(), 0u);
    // The count went back to 0; the granter's memory, still linked, is kept
    // for its next mapping (session.hpp's Granter), and goes once unlinked.
    EXPECT_EQ(pvsim::test::count_open_fds(), baseline + 1);
}

TEST_F(HypervisorTest, ForeignMapsSendTheFrameAndMapIt) {
    Hypervisor hv = adopt(wire::kWelcomePrivileged);
    std::memcpy(granter_memory_.data() + 6 * xen::kXenPageSize, "no-grant", 8);
    wire::ForeignMapOp out{};
    out.status = 0;
    out.handle = 12;
    out.host_addr = 0;
    const int fds[] = {granter_memory_.fd()};
    peer_->reply(wire::Op::foreign_map, 0, test::batch_payload(std::vector{out}), fds);
    const ForeignMapRequest request{kGranter, 6, true};
    const auto mapped = hv.map_foreign_pages({&request, 1});
    const test::Request sent = peer_->read_request();
    EXPECT_EQ(sent.op(), wire::Op::foreign_map);
    const auto ops = test::batch_ops<wire::ForeignMapOp>(sent.payload);
    ASSERT_EQ(ops.size(), 1u);
    EXPECT_EQ(ops[0].gfn, 6u);
    EXPECT_EQ(ops[0].dom, kGranter);
    EXPECT_NE(ops[0].flags & xen::kGntmapReadonly, 0u);
    ASSERT_EQ(mapped[0].status, GntSt::okay);
    EXPECT_EQ(mapped[0].frame, 6u);
    EXPECT_EQ(std::memcmp(mapped[0].page, "no-grant", 8), 0);
    script_unmap_reply({GntSt::okay});
    (void)hv.unmap_grant_refs({&mapped[0].handle, 1});
    (void)unmap_request_handles();
}

TEST_F(HypervisorTest, ARefusedBatchIsAHypercallError) {
    Hypervisor hv = adopt();
    peer_->reply(wire::Op::foreign_map, -EPERM, {});
    const ForeignMapRequest request{kGranter, 6, false};
    try {
        (void)hv.map_foreign_pages({&request, 1});
        ADD_FAILURE() << "no error";
    } catch (const HypercallError& e) {
        EXPECT_EQ(e.error(), EPERM);
    }
}

TEST_F(HypervisorTest, CopiesAreTranslatedToXensGnttabCopy) {
    Hypervisor hv = adopt();
    std::vector<wire::GrantCopyOp> out(2);
    out[0].status = static_cast<std::int16_t>(GntSt::okay);
    out[1].status = static_cast<std::int16_t>(GntSt::bad_copy_arg);
    peer_->reply(wire::Op::grant_copy, 0, test::batch_payload(out));

    std::vector<GrantCopyRequest> requests(2);
    requests[0].source = {true, 30, kGranter, 512};
    requests[0].dest = {false, 4, xen::kDomidSelf, 0};
    requests[0].len = 4096 - 512;
    requests[1].source = {false, 5, xen::kDomidSelf, 8};
    requests[1].dest = {true, 31, kGranter, 16};
    requests[1].len = 100;
    EXPECT_THAT(hv.copy_grants(requests), ElementsAre(GntSt::okay, GntSt::bad_copy_arg));

    const test::Request sent = peer_->read_request();
    EXPECT_EQ(sent.op(), wire::Op::grant_copy);
    const auto ops = test::batch_ops<wire::GrantCopyOp>(sent.payload);
    ASSERT_EQ(ops.size(), 2u);
    EXPECT_EQ(ops[0].flags, xen::kGntcopySourceGref);
    EXPECT_EQ(ops[0].source.u, 30u);
    EXPECT_EQ(ops[0].source.domid, kGranter);
    EXPECT_EQ(ops[0].source.offset, 512);
    EXPECT_EQ(ops[0].dest.u, 4u);
    EXPECT_EQ(ops[0].dest.domid, xen::kDomidSelf);
    EXPECT_EQ(ops[0].len, 4096 - 512);
    EXPECT_EQ(ops[1].flags, xen::kGntcopyDestGref);
    EXPECT_EQ(ops[1].dest.offset, 16);
}

TEST_F(HypervisorTest, ABatchReplyOfTheWrongSizeIsAProtocolError) {
    Hypervisor hv = adopt();
    std::vector<wire::GrantCopyOp> out(1);
    peer_->reply(wire::Op::grant_copy, 0, test::batch_payload(out));
    const std::vector<GrantCopyRequest> requests(2);
    try {
        (void)hv.copy_grants(requests);
        ADD_FAILURE() << "no error";
    } catch (const HypercallError& e) {
        EXPECT_EQ(e.error(), EPROTO);
    }
}

TEST_F(HypervisorTest, EventChannelErrorsNameTheOperationAndXensErrno) {
    Hypervisor hv = adopt();
    peer_->reply(wire::Op::evtchn_bind_interdomain, -EINVAL, {});
    try {
        (void)hv.bind_interdomain(3, 5);
        ADD_FAILURE() << "no error";
    } catch (const HypercallError& e) {
        EXPECT_EQ(e.error(), EINVAL);
        EXPECT_STREQ(e.what(), "EVTCHNOP_bind_interdomain(dom 3, port 5): Invalid argument");
    }
    peer_->reply(wire::Op::evtchn_alloc_unbound, -ESRCH, {});
    try {
        (void)hv.alloc_unbound(9);
        ADD_FAILURE() << "no error";
    } catch (const HypercallError& e) {
        EXPECT_EQ(e.error(), ESRCH);
        EXPECT_STREQ(e.what(), "EVTCHNOP_alloc_unbound(dom 9): No such process");
    }
    peer_->reply(wire::Op::domain_info, -ESRCH, {});
    EXPECT_THROW((void)hv.domain_info(44), HypercallError);
}

TEST_F(HypervisorTest, BindInterdomainCachesThePeerSoTheFirstSendIsDirect) {
    Hypervisor hv = adopt();
    os::EventFd incoming;
    os::EventFd peer_incoming;
    wire::EvtchnBindInterdomain out{};
    out.remote_dom = 3;
    out.remote_port = 5;
    out.local_port = 9;
    out.generation = 2;
    hv.shared_info().generation(9).store(2);
    const int fds[] = {incoming.fd(), peer_incoming.fd()};
    peer_->reply(wire::Op::evtchn_bind_interdomain, 0, test::bytes_of(out), fds);
    EventChannel channel = hv.bind_interdomain(3, 5);
    const test::Request sent = peer_->read_request();
    EXPECT_EQ(sent.as<wire::EvtchnBindInterdomain>().remote_dom, 3);
    EXPECT_EQ(sent.as<wire::EvtchnBindInterdomain>().remote_port, 5u);
    EXPECT_EQ(channel.port(), 9u);

    channel.notify();
    EXPECT_TRUE(peer_->nothing_sent());
    EXPECT_EQ(peer_incoming.try_consume(), 1u);
    incoming.signal();
    EXPECT_TRUE(channel.poll());

    peer_->reply(wire::Op::evtchn_close, 0, test::bytes_of(wire::EvtchnPortOp{9, 0, 0, 0}));
    channel.close();
    EXPECT_EQ(peer_->read_request().op(), wire::Op::evtchn_close);
}

TEST_F(HypervisorTest, StatusAndDomainInfoReadTheReply) {
    Hypervisor hv = adopt();
    wire::EvtchnStatusOp status{};
    status.status = static_cast<std::uint32_t>(xen::EvtchnStat::interdomain);
    status.remote_dom = 4;
    status.remote_port = 12;
    peer_->reply(wire::Op::evtchn_status, 0, test::bytes_of(status));
    const EventChannelStatus got = hv.evtchn_status(xen::kDomidSelf, 3);
    EXPECT_EQ(got.status, xen::EvtchnStat::interdomain);
    EXPECT_EQ(got.remote_domid, 4);
    EXPECT_EQ(got.remote_port, 12u);
    const auto sent = peer_->read_request().as<wire::EvtchnStatusOp>();
    EXPECT_EQ(sent.dom, xen::kDomidSelf);
    EXPECT_EQ(sent.port, 3u);

    wire::DomainInfoReply info{};
    info.domid = 4;
    info.state = static_cast<std::uint32_t>(wire::DomainState::dying);
    info.memory_bytes = 1 << 20;
    info.grant_frames = 4;
    std::strcpy(info.name, "guest-a");
    peer_->reply(wire::Op::domain_info, 0, test::bytes_of(info));
    const DomainInfo domain = hv.domain_info(4);
    EXPECT_EQ(domain.domid, 4);
    EXPECT_EQ(domain.name, "guest-a");
    EXPECT_EQ(domain.state, wire::DomainState::dying);
    EXPECT_EQ(domain.memory_bytes, 1u << 20);
    EXPECT_EQ(domain.grant_frames, 4u);
    EXPECT_EQ(peer_->read_request().as<wire::DomainInfoRequest>().domid, 4);
}

TEST_F(HypervisorTest, DestructionGivesBackTheMappingsStillHeld) {
    std::optional<Hypervisor> hv(adopt());
    grant(8, 1);
    grant(9, 2);
    script_tables_reply();
    script_map_reply({{GntSt::okay, 21, 1, 0}}, {memory_.fd()});
    const std::vector<GrantMapRequest> requests = {
        {kGranter, 8, false}, {kGranter, 9, false}, {kOurselves, 4, false}};
    (void)hv->map_grant_refs(requests);
    EXPECT_EQ(peer_->read_request().op(), wire::Op::grant_tables);
    EXPECT_EQ(peer_->read_request().op(), wire::Op::grant_map);
    script_unmap_reply({GntSt::okay});
    hv.reset();
    // The hypervisor's handle in one call; ours here.
    EXPECT_THAT(unmap_request_handles(), ElementsAre(21u));
    EXPECT_EQ(flags_of(8), xen::kGtfPermitAccess);
    EXPECT_EQ(flags_of(9), xen::kGtfPermitAccess);
    EXPECT_EQ(active_of(9).write_pins, 0u);
}

}  // namespace
}  // namespace pvsim::hypervisor
