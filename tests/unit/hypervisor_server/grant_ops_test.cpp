// Grant map, unmap, copy and foreign map on real shared-memory domains,
// without a socket: the pin protocol on the shared entry (grant_table.c
// _set_status_v1, unmap_common_complete), per-slot statuses, maptrack
// ownership and the memory-fd rule.
#include "hypervisor/server/grant_ops.hpp"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "domains_fixture.hpp"

namespace pvsim::hypervisor::server::test {
namespace {

using xen::GntSt;

constexpr ConnectionId kConnection = 7;
constexpr ConnectionId kOtherConnection = 8;

wire::GrantMapOp map_op(xen::DomId dom, xen::GrantRef ref, bool readonly = false) {
    wire::GrantMapOp op{};
    op.flags = xen::kGntmapHostMap | (readonly ? xen::kGntmapReadonly : 0);
    op.ref = ref;
    op.dom = dom;
    return op;
}

wire::GrantUnmapOp unmap_op(xen::GrantHandle handle) {
    wire::GrantUnmapOp op{};
    op.handle = handle;
    return op;
}

GntSt status(std::int16_t value) {
    return static_cast<GntSt>(value);
}

// Two fds name the same open file.
bool same_file(int a, int b) {
    struct stat sa {};
    struct stat sb {};
    return ::fstat(a, &sa) == 0 && ::fstat(b, &sb) == 0 && sa.st_ino == sb.st_ino &&
           sa.st_dev == sb.st_dev;
}

class GrantOpsTest : public DomainsFixture {
  protected:
    GrantOps grants_{domains_};

    wire::GrantMapOp map_one(Domain& caller, wire::GrantMapOp op,
                             ConnectionId connection = kConnection) {
        grants_.map(caller, connection, {&op, 1});
        return op;
    }
    GntSt unmap_one(Domain& caller, xen::GrantHandle handle,
                    ConnectionId connection = kConnection) {
        wire::GrantUnmapOp op = unmap_op(handle);
        grants_.unmap(caller, connection, {&op, 1});
        return status(op.status);
    }
};

TEST_F(GrantOpsTest, AWriteMapPinsTheEntryAndUnmapReleasesIt) {
    grant(guest_, 8, 0, 5, false);
    const wire::GrantMapOp op = map_one(dom0_, map_op(guest_.domid(), 8));
    ASSERT_EQ(status(op.status), GntSt::okay);
    EXPECT_EQ(op.dev_bus_addr, 5u);
    EXPECT_EQ(flags(guest_, 8), xen::kGtfPermitAccess | xen::kGtfReading | xen::kGtfWriting);
    EXPECT_FALSE(xen::grant_entry_try_end_access(guest_.grant_entries()[8]));
    EXPECT_EQ(dom0_.counters.grant_maps, 1u);
    EXPECT_EQ(guest_.mapped_by_others(), 1u);

    EXPECT_EQ(unmap_one(dom0_, op.handle), GntSt::okay);
    EXPECT_EQ(flags(guest_, 8), xen::kGtfPermitAccess);
    EXPECT_EQ(guest_.mapped_by_others(), 0u);
    EXPECT_EQ(dom0_.counters.grant_unmaps, 1u);
    EXPECT_TRUE(xen::grant_entry_try_end_access(guest_.grant_entries()[8]));
    // The same handle again is no longer live.
    EXPECT_EQ(unmap_one(dom0_, op.handle), GntSt::bad_handle);
}

TEST_F(GrantOpsTest, ReadPinsAndWritePinsAreCountedApart) {
    grant(guest_, 9, 0, 3, false);
    const auto read1 = map_one(dom0_, map_op(guest_.domid(), 9, true));
    const auto read2 = map_one(dom0_, map_op(guest_.domid(), 9, true));
    ASSERT_EQ(status(read1.status), GntSt::okay);
    ASSERT_EQ(status(read2.status), GntSt::okay);
    EXPECT_EQ(flags(guest_, 9), xen::kGtfPermitAccess | xen::kGtfReading);
    // The first write pin of an entry pinned for reading sets GTF_writing.
    const auto write = map_one(dom0_, map_op(guest_.domid(), 9, false));
    ASSERT_EQ(status(write.status), GntSt::okay);
    EXPECT_EQ(flags(guest_, 9), xen::kGtfPermitAccess | xen::kGtfReading | xen::kGtfWriting);
    EXPECT_EQ(guest_.active_grants().entry(9).read_pins, 2u);
    EXPECT_EQ(guest_.active_grants().entry(9).write_pins, 1u);

    // The last write pin clears GTF_writing, the last pin GTF_reading.
    EXPECT_EQ(unmap_one(dom0_, write.handle), GntSt::okay);
    EXPECT_EQ(flags(guest_, 9), xen::kGtfPermitAccess | xen::kGtfReading);
    EXPECT_EQ(unmap_one(dom0_, read1.handle), GntSt::okay);
    EXPECT_EQ(flags(guest_, 9), xen::kGtfPermitAccess | xen::kGtfReading);
    EXPECT_EQ(unmap_one(dom0_, read2.handle), GntSt::okay);
    EXPECT_EQ(flags(guest_, 9), xen::kGtfPermitAccess);
    EXPECT_EQ(
        guest_.active_grants().entry(9).read_pins + guest_.active_grants().entry(9).write_pins, 0u);
}

TEST_F(GrantOpsTest, EachBadSlotGetsXensStatusAndTheGoodOnesAreDone) {
    grant(guest_, 8, 0, 1, false);
    grant(guest_, 9, 0, 2, true);                 // readonly
    grant(guest_, 10, other_.domid(), 3, false);  // for another domain
    grant(guest_, 11, 0, 4, false);
    grant(guest_, 12, 0, static_cast<std::uint32_t>(kMemory / 4096), false);  // past the memory
    xen::grant_entry_publish(guest_.grant_entries()[13], 0, 5,
                             xen::kGtfPermitAccess | xen::kGtfSubPage);  // copy only
    std::vector<wire::GrantMapOp> ops = {
        map_op(guest_.domid(), 8),
        map_op(guest_.domid(), 9),        // write map of a readonly grant
        map_op(guest_.domid(), 10),       // granted to someone else
        map_op(999, 8),                   // unknown domain
        map_op(guest_.domid(), 2 * 512),  // past the table
        map_op(guest_.domid(), 7),        // never granted
        map_op(guest_.domid(), 11),
        map_op(guest_.domid(), 12),
        map_op(guest_.domid(), 13),
    };
    ops.push_back(map_op(guest_.domid(), 11));
    ops.back().flags = xen::kGntmapReadonly;  // neither host_map nor device_map
    grants_.map(dom0_, kConnection, ops);
    const std::vector<GntSt> expected = {
        GntSt::okay,          GntSt::general_error, GntSt::general_error, GntSt::bad_domain,
        GntSt::bad_gntref,    GntSt::general_error, GntSt::okay,          GntSt::bad_page,
        GntSt::general_error, GntSt::bad_gntref,
    };
    for (std::size_t i = 0; i < ops.size(); ++i) {
        EXPECT_EQ(status(ops[i].status), expected[i]) << "slot " << i;
        if (expected[i] != GntSt::okay) {
            EXPECT_EQ(ops[i].host_addr, wire::kNoFd) << "slot " << i;
        }
    }
    EXPECT_NE(ops[0].handle, ops[6].handle);
    EXPECT_EQ(dom0_.maptrack_count(), 2u);
    // A failed pin leaves the entry as the guest wrote it.
    EXPECT_EQ(flags(guest_, 9), xen::kGtfPermitAccess | xen::kGtfReadonly);
    EXPECT_EQ(flags(guest_, 10), xen::kGtfPermitAccess);
    EXPECT_EQ(flags(guest_, 12), xen::kGtfPermitAccess);  // the bad_page pin was undone
    EXPECT_EQ(dom0_.counters.grant_maps, 2u);
}

TEST_F(GrantOpsTest, AnEntryPinnedByOneDomainCannotBePinnedByAnother) {
    grant(guest_, 8, 0, 1, false);
    ASSERT_EQ(status(map_one(dom0_, map_op(guest_.domid(), 8)).status), GntSt::okay);
    // The guest cannot re-grant the pinned entry; and other cannot pin it.
    EXPECT_EQ(status(map_one(other_, map_op(guest_.domid(), 8)).status), GntSt::general_error);
}

TEST_F(GrantOpsTest, TheMemoryFdComesOnceWithTheFirstMappingOfEachGranterPerConnection) {
    grant(guest_, 8, 0, 1, false);
    grant(guest_, 9, 0, 2, false);
    grant(other_, 8, 0, 1, false);
    std::vector<wire::GrantMapOp> ops = {map_op(guest_.domid(), 8), map_op(guest_.domid(), 9),
                                         map_op(other_.domid(), 8)};
    auto fds = grants_.map(dom0_, kConnection, ops);
    ASSERT_EQ(fds.size(), 2u);
    EXPECT_EQ(ops[0].host_addr, 0u);
    EXPECT_EQ(ops[1].host_addr, wire::kNoFd);
    EXPECT_EQ(ops[2].host_addr, 1u);
    EXPECT_TRUE(same_file(fds[0].get(), guest_.memory_fd()));
    EXPECT_TRUE(same_file(fds[1].get(), other_.memory_fd()));

    // Another connection of the same domain counts on its own.
    grant(guest_, 10, 0, 3, false);
    auto other_connection = map_one(dom0_, map_op(guest_.domid(), 10), kOtherConnection);
    EXPECT_EQ(other_connection.host_addr, 0u);

    EXPECT_EQ(dom0_.counters.memory_fds_sent, 3u);

    // Back to no mapping and up again, as a queue-depth-1 stream goes: the
    // connection has the object already (it keeps its views of it), so no
    // fd comes, however many times.
    std::vector<wire::GrantUnmapOp> unmaps = {unmap_op(ops[0].handle), unmap_op(ops[1].handle)};
    grants_.unmap(dom0_, kConnection, unmaps);
    for (int i = 0; i < 3; ++i) {
        wire::GrantMapOp again = map_op(guest_.domid(), 8);
        EXPECT_EQ(grants_.map(dom0_, kConnection, {&again, 1}).size(), 0u);
        EXPECT_EQ(status(again.status), GntSt::okay);
        EXPECT_EQ(again.host_addr, wire::kNoFd);
        std::vector<wire::GrantUnmapOp> unmap = {unmap_op(again.handle)};
        grants_.unmap(dom0_, kConnection, unmap);
    }
    EXPECT_EQ(dom0_.counters.memory_fds_sent, 3u);

    // A connection closed and its successor: sent again.
    grants_.release_connection(dom0_, kConnection);
    wire::GrantMapOp fresh = map_op(guest_.domid(), 8);
    EXPECT_EQ(grants_.map(dom0_, kConnection, {&fresh, 1}).size(), 1u);
    EXPECT_EQ(fresh.host_addr, 0u);
}

TEST_F(GrantOpsTest, HandlesBelongToTheConnectionThatMadeThem) {
    grant(guest_, 8, 0, 1, false);
    const auto op = map_one(dom0_, map_op(guest_.domid(), 8));
    EXPECT_EQ(unmap_one(dom0_, op.handle, kOtherConnection), GntSt::bad_handle);
    EXPECT_EQ(unmap_one(other_, op.handle), GntSt::bad_handle);
    EXPECT_EQ(unmap_one(dom0_, 123456), GntSt::bad_handle);
    std::vector<wire::GrantUnmapOp> batch = {unmap_op(999), unmap_op(op.handle)};
    grants_.unmap(dom0_, kConnection, batch);
    EXPECT_EQ(status(batch[0].status), GntSt::bad_handle);
    EXPECT_EQ(status(batch[1].status), GntSt::okay);
}

TEST_F(GrantOpsTest, ReleasingAConnectionUnpinsOnlyItsMappings) {
    grant(guest_, 8, 0, 1, false);
    grant(guest_, 9, 0, 2, false);
    map_one(dom0_, map_op(guest_.domid(), 8), kConnection);
    map_one(dom0_, map_op(guest_.domid(), 9), kOtherConnection);
    EXPECT_EQ(grants_.release_connection(dom0_, kConnection), 1u);
    EXPECT_EQ(flags(guest_, 8), xen::kGtfPermitAccess);
    EXPECT_NE(flags(guest_, 9) & xen::kGtfWriting, 0);
    EXPECT_EQ(grants_.release_all(dom0_), 1u);
    EXPECT_EQ(flags(guest_, 9), xen::kGtfPermitAccess);
    EXPECT_TRUE(dom0_.memory_sent.empty());
    EXPECT_EQ(guest_.mapped_by_others(), 0u);
}

TEST_F(GrantOpsTest, TheMaptrackHasALimit) {
    GrantOps small(domains_, 2);
    for (xen::GrantRef ref = 8; ref < 11; ++ref) {
        grant(guest_, ref, 0, ref, false);
    }
    std::vector<wire::GrantMapOp> ops = {map_op(guest_.domid(), 8), map_op(guest_.domid(), 9),
                                         map_op(guest_.domid(), 10)};
    small.map(dom0_, kConnection, ops);
    EXPECT_EQ(status(ops[0].status), GntSt::okay);
    EXPECT_EQ(status(ops[1].status), GntSt::okay);
    EXPECT_EQ(status(ops[2].status), GntSt::no_space);
    EXPECT_EQ(flags(guest_, 10), xen::kGtfPermitAccess);
    // A freed handle is reused.
    wire::GrantUnmapOp unmap = unmap_op(ops[0].handle);
    small.unmap(dom0_, kConnection, {&unmap, 1});
    small.map(dom0_, kConnection, {&ops[2], 1});
    EXPECT_EQ(status(ops[2].status), GntSt::okay);
    EXPECT_EQ(ops[2].handle, ops[0].handle);
}

TEST_F(GrantOpsTest, ADyingGranterCannotBeMappedAndGoesWithItsLastMapping) {
    grant(guest_, 8, 0, 1, false);
    const auto op = map_one(dom0_, map_op(guest_.domid(), 8));
    const xen::DomId domid = guest_.domid();
    guest_.set_dying();
    EXPECT_TRUE(domains_.reap_dying().empty());  // still mapped
    grant(guest_, 9, 0, 2, false);
    EXPECT_EQ(status(map_one(dom0_, map_op(domid, 9)).status), GntSt::bad_domain);
    EXPECT_EQ(unmap_one(dom0_, op.handle), GntSt::okay);
    EXPECT_EQ(domains_.reap_dying(), std::vector<xen::DomId>{domid});
    EXPECT_EQ(domains_.find(domid), nullptr);
}

TEST_F(GrantOpsTest, ForeignMapsNeedNoGrantAndShareTheMaptrack) {
    std::vector<wire::ForeignMapOp> ops(3);
    ops[0].dom = guest_.domid();
    ops[0].gfn = 4;
    ops[1].dom = guest_.domid();
    ops[1].gfn = kMemory / 4096;  // past the end
    ops[2].dom = 999;
    const auto fds = grants_.foreign_map(dom0_, kConnection, ops);
    EXPECT_EQ(status(ops[0].status), GntSt::okay);
    EXPECT_EQ(status(ops[1].status), GntSt::bad_page);
    EXPECT_EQ(status(ops[2].status), GntSt::bad_domain);
    ASSERT_EQ(fds.size(), 1u);
    EXPECT_EQ(ops[0].host_addr, 0u);
    EXPECT_EQ(dom0_.counters.foreign_maps, 1u);
    EXPECT_EQ(guest_.mapped_by_others(), 1u);
    EXPECT_EQ(unmap_one(dom0_, ops[0].handle), GntSt::okay);
    EXPECT_EQ(guest_.mapped_by_others(), 0u);
}

class GrantCopyTest : public GrantOpsTest {
  protected:
    static wire::GrantCopyOp copy_op(wire::GrantCopyPtr source, wire::GrantCopyPtr dest,
                                     std::uint16_t len, std::uint16_t flags) {
        wire::GrantCopyOp op{};
        op.source = source;
        op.dest = dest;
        op.len = len;
        op.flags = flags;
        return op;
    }
    static wire::GrantCopyPtr ptr(std::uint64_t u, xen::DomId domid, std::uint16_t offset) {
        return wire::GrantCopyPtr{u, domid, offset, 0};
    }
    GntSt copy_one(Domain& caller, wire::GrantCopyOp op) {
        grants_.copy(caller, {&op, 1});
        return status(op.status);
    }
};

TEST_F(GrantCopyTest, CopiesFromAGrantIntoOwnMemoryAndDropsTheTransientPin) {
    std::memcpy(guest_.page(3) + 4000, "from-the-guest", 14);
    grant(guest_, 8, other_.domid(), 3, true);
    const auto op = copy_op(ptr(8, guest_.domid(), 4000), ptr(5, xen::kDomidSelf, 17), 14,
                            xen::kGntcopySourceGref);
    EXPECT_EQ(copy_one(other_, op), GntSt::okay);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(other_.page(5) + 17), 14),
              "from-the-guest");
    EXPECT_EQ(flags(guest_, 8), xen::kGtfPermitAccess | xen::kGtfReadonly);
    EXPECT_EQ(other_.counters.grant_copies, 1u);
}

TEST_F(GrantCopyTest, CopiesIntoAWritableGrantOnly) {
    std::memcpy(other_.page(1), "into-the-guest", 14);
    grant(guest_, 8, other_.domid(), 2, false);
    grant(guest_, 9, other_.domid(), 2, true);
    std::vector<wire::GrantCopyOp> ops = {
        copy_op(ptr(1, xen::kDomidSelf, 0), ptr(8, guest_.domid(), 100), 14, xen::kGntcopyDestGref),
        copy_op(ptr(1, xen::kDomidSelf, 0), ptr(9, guest_.domid(), 0), 14, xen::kGntcopyDestGref),
    };
    grants_.copy(other_, ops);
    EXPECT_EQ(status(ops[0].status), GntSt::okay);
    EXPECT_EQ(status(ops[1].status), GntSt::general_error);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(guest_.page(2) + 100), 14),
              "into-the-guest");
    EXPECT_EQ(guest_.page(2)[0], std::byte{0});
    EXPECT_EQ(flags(guest_, 8), xen::kGtfPermitAccess);
}

TEST_F(GrantCopyTest, RangesMustStayInsideThePage) {
    grant(guest_, 8, other_.domid(), 2, false);
    const std::uint16_t gref = xen::kGntcopySourceGref;
    std::vector<wire::GrantCopyOp> ops = {
        copy_op(ptr(8, guest_.domid(), 4090), ptr(1, xen::kDomidSelf, 0), 7, gref),
        copy_op(ptr(8, guest_.domid(), 0), ptr(1, xen::kDomidSelf, 4095), 2, gref),
        copy_op(ptr(8, guest_.domid(), 4096), ptr(1, xen::kDomidSelf, 0), 1, gref),
        copy_op(ptr(8, guest_.domid(), 4095), ptr(1, xen::kDomidSelf, 4095), 1, gref),
        copy_op(ptr(8, guest_.domid(), 0), ptr(1, xen::kDomidSelf, 0), 4096, gref),
    };
    grants_.copy(other_, ops);
    EXPECT_EQ(status(ops[0].status), GntSt::bad_copy_arg);
    EXPECT_EQ(status(ops[1].status), GntSt::bad_copy_arg);
    EXPECT_EQ(status(ops[2].status), GntSt::bad_copy_arg);
    EXPECT_EQ(status(ops[3].status), GntSt::okay);
    EXPECT_EQ(status(ops[4].status), GntSt::okay);
    EXPECT_EQ(flags(guest_, 8), xen::kGtfPermitAccess);  // no pin left behind by any slot
}

// Xen 4.15+ gnttab_copy_lock_domain: "Only the local domain may reference
// via frame" (buf->domain != current->domain && !is_gref ->
// GNTST_permission_denied), after the domain lookup (GNTST_bad_domain).
TEST_F(GrantCopyTest, FramesOfAnotherDomainAreDeniedToEveryCallerDom0Included) {
    std::memcpy(guest_.page(3), "secret", 6);
    const auto from_guest = copy_op(ptr(3, guest_.domid(), 0), ptr(1, xen::kDomidSelf, 0), 6, 0);
    EXPECT_EQ(copy_one(other_, from_guest), GntSt::permission_denied);
    EXPECT_EQ(other_.page(1)[0], std::byte{0});
    EXPECT_EQ(copy_one(dom0_, from_guest), GntSt::permission_denied);
    EXPECT_EQ(dom0_.page(1)[0], std::byte{0});
    // A frame of the destination side is checked the same way.
    EXPECT_EQ(copy_one(dom0_, copy_op(ptr(1, xen::kDomidSelf, 0), ptr(3, guest_.domid(), 0), 6, 0)),
              GntSt::permission_denied);
    // Naming oneself by domid is the same as DOMID_SELF.
    EXPECT_EQ(
        copy_one(other_, copy_op(ptr(2, other_.domid(), 0), ptr(1, xen::kDomidSelf, 0), 6, 0)),
        GntSt::okay);
    // A frame of a domain that does not exist: the lookup fails first.
    EXPECT_EQ(copy_one(dom0_, copy_op(ptr(3, 4000, 0), ptr(1, xen::kDomidSelf, 0), 6, 0)),
              GntSt::bad_domain);
    // Unknown domain, frame past the end, ref past the table.
    EXPECT_EQ(copy_one(other_, copy_op(ptr(8, 4000, 0), ptr(1, xen::kDomidSelf, 0), 6,
                                       xen::kGntcopySourceGref)),
              GntSt::bad_domain);
    EXPECT_EQ(copy_one(other_, copy_op(ptr(99999999, xen::kDomidSelf, 0),
                                       ptr(1, xen::kDomidSelf, 0), 6, 0)),
              GntSt::bad_page);
    EXPECT_EQ(copy_one(other_, copy_op(ptr(1u << 20, guest_.domid(), 0), ptr(1, xen::kDomidSelf, 0),
                                       6, xen::kGntcopySourceGref)),
              GntSt::bad_gntref);
}

TEST_F(GrantCopyTest, ACopyThroughAnEntryTheCallerHasMappedKeepsTheMapPin) {
    grant(guest_, 8, 0, 2, false);
    const auto mapped = map_one(dom0_, map_op(guest_.domid(), 8));
    ASSERT_EQ(status(mapped.status), GntSt::okay);
    EXPECT_EQ(copy_one(dom0_, copy_op(ptr(1, xen::kDomidSelf, 0), ptr(8, guest_.domid(), 0), 8,
                                      xen::kGntcopyDestGref)),
              GntSt::okay);
    EXPECT_EQ(flags(guest_, 8), xen::kGtfPermitAccess | xen::kGtfReading | xen::kGtfWriting);
    // Another domain may not copy through an entry dom0 has pinned.
    EXPECT_EQ(copy_one(other_, copy_op(ptr(8, guest_.domid(), 0), ptr(1, xen::kDomidSelf, 0), 8,
                                       xen::kGntcopySourceGref)),
              GntSt::general_error);
}

}  // namespace
}  // namespace pvsim::hypervisor::server::test

namespace pvsim::hypervisor::server::test {
namespace {

// What a mapping process does in its own process (the client's map_here),
// done here on the objects the hypervisor shares with it.
struct CallerSideMapper {
    wire::SharedMaptrack maptrack;
    const wire::ActiveGrants& active;
    Domain& granter;

    // Pins `ref` and, unless the process "dies" first, fills slot `slot`.
    GntSt pin(xen::GrantRef ref, std::uint32_t slot, bool fill) {
        maptrack.high_water().store(slot + 1);
        maptrack.busy_granter().store(granter.domid() + 1u);
        const auto lock = active.lock();
        std::uint64_t frame = 0;
        const GntSt status = active.pin(granter.grant_entries(), granter.memory_frames(), ref,
                                        maptrack.domid(), false, true, frame);
        if (status == GntSt::okay) {
            active.set_mapped_by_others(active.mapped_by_others() + 1);
            if (fill) {
                maptrack.fill(slot, {granter.domid(), ref, false}, frame);
                maptrack.busy_granter().store(0);
            }
        }
        return status;
    }
};

TEST_F(GrantOpsTest, GrantTablesGivesTheGrantersObjectsAndTheConnectionsMaptrack) {
    wire::GrantTablesOp op{};
    op.dom = guest_.domid();
    const auto fds = grants_.tables(dom0_, kConnection, op);
    ASSERT_EQ(status(op.status), GntSt::okay);
    EXPECT_EQ(op.memory_bytes, guest_.memory_bytes());
    EXPECT_EQ(op.grant_entries, guest_.grant_entries().size());
    ASSERT_EQ(fds.size(), wire::kGrantTablesFds);
    EXPECT_TRUE(same_file(fds[0].get(), guest_.memory_fd()));
    EXPECT_TRUE(same_file(fds[1].get(), guest_.grant_table_fd()));
    EXPECT_TRUE(same_file(fds[2].get(), guest_.active_grants_fd()));
    EXPECT_TRUE(same_file(fds[3].get(), dom0_.shared_maptrack(kConnection).fd()));
    // The same maptrack at every call of the connection, another for another.
    const auto again = grants_.tables(dom0_, kConnection, op);
    EXPECT_TRUE(same_file(again[3].get(), fds[3].get()));
    const auto other = grants_.tables(dom0_, kOtherConnection, op);
    EXPECT_FALSE(same_file(other[3].get(), fds[3].get()));

    // Never a domain's own active grants, nor a domain that is not running.
    op.dom = xen::kDomidSelf;
    EXPECT_TRUE(grants_.tables(guest_, kConnection, op).empty());
    EXPECT_EQ(status(op.status), GntSt::permission_denied);
    op.dom = 77;
    EXPECT_TRUE(grants_.tables(dom0_, kConnection, op).empty());
    EXPECT_EQ(status(op.status), GntSt::bad_domain);
}

// A mapper that died after pinning and before writing its maptrack (or
// with the lock held) leaves the entry counted too high; when its
// connection is released the hypervisor counts every pin again from the
// maptracks that remain, so the guest can end its grant again.
TEST_F(GrantOpsTest, AMapperThatDiedMidMapLeavesNothingPinnedOnceItsConnectionGoes) {
    grant(guest_, 8, 0, 5, false);
    grant(guest_, 9, 0, 6, false);
    wire::GrantTablesOp op{};
    op.dom = guest_.domid();
    (void)grants_.tables(dom0_, kConnection, op);
    (void)grants_.tables(dom0_, kOtherConnection, op);
    CallerSideMapper dying{wire::SharedMaptrack(dom0_.shared_maptrack(kConnection).bytes()),
                           guest_.active_grants(), guest_};
    CallerSideMapper living{wire::SharedMaptrack(dom0_.shared_maptrack(kOtherConnection).bytes()),
                            guest_.active_grants(), guest_};
    ASSERT_EQ(living.pin(9, 0, true), GntSt::okay);
    ASSERT_EQ(dying.pin(8, 0, true), GntSt::okay);
    ASSERT_EQ(dying.pin(9, 1, false), GntSt::okay);  // "dies" before its slot
    EXPECT_EQ(guest_.active_grants().entry(9).write_pins, 2u);
    EXPECT_EQ(guest_.mapped_by_others(), 3u);

    EXPECT_EQ(grants_.release_connection(dom0_, kConnection), 1u);
    EXPECT_EQ(guest_.active_grants().entry(8).write_pins, 0u);
    EXPECT_EQ(xen::grant_flags(guest_.grant_entries()[8]).load(), xen::kGtfPermitAccess);
    // The living mapper's pin stays, and so does the entry's mark.
    EXPECT_EQ(guest_.active_grants().entry(9).write_pins, 1u);
    EXPECT_EQ(xen::grant_flags(guest_.grant_entries()[9]).load(),
              xen::kGtfPermitAccess | xen::kGtfReading | xen::kGtfWriting);
    EXPECT_EQ(guest_.mapped_by_others(), 1u);
    EXPECT_FALSE(dom0_.shared_maptracks.contains(kConnection));
}

// The lock is robust: a process that dies holding it leaves it to the next
// taker, told so, instead of blocking every mapper and the hypervisor.
TEST_F(GrantOpsTest, ALockWhoseHolderDiedGoesToTheNextTaker) {
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        const auto lock = guest_.active_grants().lock();
        ::_exit(0);  // holding it
    }
    int exit_status = 0;
    ASSERT_EQ(::waitpid(child, &exit_status, 0), child);
    {
        const auto lock = guest_.active_grants().lock();
        EXPECT_TRUE(lock.owner_died());
    }
    const auto lock = guest_.active_grants().lock();
    EXPECT_FALSE(lock.owner_died());
}

}  // namespace
}  // namespace pvsim::hypervisor::server::test
