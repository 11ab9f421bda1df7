// Grant mapping across real processes (DESIGN.md §3, xen/common/grant_table.c):
// a guest grants one of its pages with no hypercall, another domain maps it
// through pvsim-hypervisor, and the two see the same bytes.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "tests/support/hypervisor_process.hpp"

namespace pvsim::test {
namespace {

using hypervisor::GrantMapRequest;
using xen::GntSt;

class GrantMapTest : public ::testing::Test {
  protected:
    HypervisorProcess hv_;
    TestGuest guest_{hv_, "guest"};
    hypervisor::Hypervisor dom0_ = hv_.connect_dom0();

    std::string page_text(std::byte* page, std::size_t offset, std::size_t length) {
        return std::string(reinterpret_cast<const char*>(page) + offset, length);
    }
};

TEST_F(GrantMapTest, Dom0MapsAGuestGrantAndBothSeeTheSameBytes) {
    const auto gfn = guest_.ok_number("alloc-page");
    guest_.ok("write " + std::to_string(gfn) + " 100 from-the-guest");
    const auto ref = guest_.ok_number("grant 0 " + std::to_string(gfn) + " rw");

    const GrantMapRequest request{guest_.domid(), static_cast<xen::GrantRef>(ref), false};
    const auto mapped = dom0_.map_grant_refs({&request, 1});
    ASSERT_EQ(mapped.size(), 1u);
    ASSERT_EQ(mapped[0].status, GntSt::okay);
    EXPECT_EQ(mapped[0].frame, gfn);
    EXPECT_EQ(page_text(mapped[0].page, 100, 14), "from-the-guest");

    std::memcpy(mapped[0].page + 2000, "written-by-dom0", 15);
    EXPECT_EQ(guest_.ok("read " + std::to_string(gfn) + " 2000 15"), "written-by-dom0");

    const auto statuses = dom0_.unmap_grant_refs({&mapped[0].handle, 1});
    EXPECT_EQ(statuses, std::vector<GntSt>{GntSt::okay});
}

TEST_F(GrantMapTest, AnotherGuestMapsTheGrantAndWrites) {
    TestGuest other(hv_, "other");
    const auto gfn = guest_.ok_number("alloc-page");
    const auto ref = guest_.ok_number("grant " + std::to_string(other.domid()) + " " +
                                      std::to_string(gfn) + " rw");
    const auto handle =
        other.ok("map " + std::to_string(guest_.domid()) + " " + std::to_string(ref) + " rw");
    other.ok("map-write " + handle + " 64 guest-to-guest");
    EXPECT_EQ(guest_.ok("read " + std::to_string(gfn) + " 64 14"), "guest-to-guest");
    other.ok("unmap " + handle);
}

TEST_F(GrantMapTest, ReadonlyGrantMapsReadonlyButRefusesAWriteMap) {
    const auto gfn = guest_.ok_number("alloc-page");
    guest_.ok("write " + std::to_string(gfn) + " 0 readonly-data");
    const auto ref =
        static_cast<xen::GrantRef>(guest_.ok_number("grant 0 " + std::to_string(gfn) + " ro"));

    // grant_table.c _set_status_v1: a write map of a GTF_readonly entry.
    const GrantMapRequest write_map{guest_.domid(), ref, false};
    EXPECT_EQ(dom0_.map_grant_refs({&write_map, 1})[0].status, GntSt::general_error);

    const GrantMapRequest read_map{guest_.domid(), ref, true};
    const auto mapped = dom0_.map_grant_refs({&read_map, 1});
    ASSERT_EQ(mapped[0].status, GntSt::okay);
    EXPECT_EQ(page_text(mapped[0].page, 0, 13), "readonly-data");
    // The pin is GTF_reading only.
    EXPECT_EQ(guest_.ok("end-access " + std::to_string(ref)), "pinned");
    dom0_.unmap_grant_refs({&mapped[0].handle, 1});
    EXPECT_EQ(guest_.ok("end-access " + std::to_string(ref)), "ended");
}

TEST_F(GrantMapTest, EachWrongArgumentGetsXensStatus) {
    TestGuest other(hv_, "other");
    const auto gfn = guest_.ok_number("alloc-page");
    // Granted to another domain, not to dom0: GNTST_general_error ("Bad domain").
    const auto ref_for_other = static_cast<xen::GrantRef>(guest_.ok_number(
        "grant " + std::to_string(other.domid()) + " " + std::to_string(gfn) + " rw"));
    const GrantMapRequest wrong_domid{guest_.domid(), ref_for_other, false};
    EXPECT_EQ(dom0_.map_grant_refs({&wrong_domid, 1})[0].status, GntSt::general_error);

    // A ref past the end of the grant table.
    const GrantMapRequest out_of_range{guest_.domid(), 64 * 512, false};
    EXPECT_EQ(dom0_.map_grant_refs({&out_of_range, 1})[0].status, GntSt::bad_gntref);

    // A ref in range that was never granted (type GTF_invalid).
    const GrantMapRequest never_granted{guest_.domid(), 500, false};
    EXPECT_EQ(dom0_.map_grant_refs({&never_granted, 1})[0].status, GntSt::general_error);

    // A domain that does not exist.
    const GrantMapRequest unknown_domain{777, 8, false};
    EXPECT_EQ(dom0_.map_grant_refs({&unknown_domain, 1})[0].status, GntSt::bad_domain);

    // A handle never handed out.
    const xen::GrantHandle bad_handle = 4242;
    EXPECT_EQ(dom0_.unmap_grant_refs({&bad_handle, 1})[0], GntSt::bad_handle);
    // Nor may a guest map through a handle of dom0's: handles belong to
    // their mapper.
    EXPECT_EQ(other.command("unmap 0"), "error GNTST_bad_handle");
}

TEST_F(GrantMapTest, EndAccessFailsWhileMappedAndSucceedsAfterUnmap) {
    const auto gfn = guest_.ok_number("alloc-page");
    const auto ref =
        static_cast<xen::GrantRef>(guest_.ok_number("grant 0 " + std::to_string(gfn) + " rw"));
    const GrantMapRequest request{guest_.domid(), ref, false};
    const auto mapped = dom0_.map_grant_refs({&request, 1});
    ASSERT_EQ(mapped[0].status, GntSt::okay);

    EXPECT_EQ(guest_.ok("end-access " + std::to_string(ref)), "pinned");
    EXPECT_EQ(guest_.ok("end-access " + std::to_string(ref)), "pinned");
    EXPECT_EQ(dom0_.unmap_grant_refs({&mapped[0].handle, 1})[0], GntSt::okay);
    EXPECT_EQ(guest_.ok("end-access " + std::to_string(ref)), "ended");
    // Ended: the entry is invalid now, so a new map fails.
    EXPECT_EQ(dom0_.map_grant_refs({&request, 1})[0].status, GntSt::general_error);
}

TEST_F(GrantMapTest, ABatchGetsOneStatusPerSlotAndDoesTheGoodOnes) {
    std::vector<GrantMapRequest> batch;
    std::vector<std::uint64_t> gfns;
    for (int i = 0; i < 3; ++i) {
        const auto gfn = guest_.ok_number("alloc-page");
        guest_.ok("write " + std::to_string(gfn) + " 0 page-" + std::to_string(i));
        const auto ref = guest_.ok_number("grant 0 " + std::to_string(gfn) + " rw");
        gfns.push_back(gfn);
        batch.push_back({guest_.domid(), static_cast<xen::GrantRef>(ref), false});
    }
    // Interleave bad slots: unknown domain, out-of-range ref.
    batch.insert(batch.begin() + 1, GrantMapRequest{999, 8, false});
    batch.insert(batch.begin() + 3, GrantMapRequest{guest_.domid(), 1u << 30, false});

    const auto mapped = dom0_.map_grant_refs(batch);
    ASSERT_EQ(mapped.size(), 5u);
    EXPECT_EQ(mapped[0].status, GntSt::okay);
    EXPECT_EQ(mapped[1].status, GntSt::bad_domain);
    EXPECT_EQ(mapped[2].status, GntSt::okay);
    EXPECT_EQ(mapped[3].status, GntSt::bad_gntref);
    EXPECT_EQ(mapped[4].status, GntSt::okay);
    EXPECT_EQ(page_text(mapped[0].page, 0, 6), "page-0");
    EXPECT_EQ(page_text(mapped[2].page, 0, 6), "page-1");
    EXPECT_EQ(page_text(mapped[4].page, 0, 6), "page-2");
    EXPECT_EQ(dom0_.mapping_count(), 3u);

    const std::vector<xen::GrantHandle> handles = {mapped[0].handle, 99999, mapped[2].handle,
                                                   mapped[4].handle};
    EXPECT_EQ(dom0_.unmap_grant_refs(handles),
              (std::vector<GntSt>{GntSt::okay, GntSt::bad_handle, GntSt::okay, GntSt::okay}));
    EXPECT_EQ(dom0_.mapping_count(), 0u);
}

// A map runs in the mapping process against the tables the hypervisor
// shares (DESIGN.md §3, "Where a grant map runs"), as Xen runs it on the
// calling vCPU: once a mapper has a granter's tables (one grant_tables call),
// 32 maps and 32 unmaps make no hypercall at all, and the hypervisor still
// counts each of them for the mapper.
TEST_F(GrantMapTest, ABatchOf32MapsAndUnmapsWithNoHypercallOnceTheTablesAreShared) {
    std::vector<GrantMapRequest> batch;
    for (int i = 0; i < 33; ++i) {
        const auto gfn = guest_.ok_number("alloc-page");
        batch.push_back(
            {guest_.domid(),
             static_cast<xen::GrantRef>(guest_.ok_number("grant 0 " + std::to_string(gfn) + " rw")),
             false});
    }
    auto dom0_counters = [&] {
        for (const auto& domain : hv_.control().stats()) {
            if (domain.at("domid") == 0) {
                return domain.at("counters");
            }
        }
        throw std::runtime_error("no dom0 in stats");
    };
    const auto hypercalls = [](const nlohmann::json& counters) {
        int total = 0;
        for (const auto& [name, count] : counters.at("hypercalls").items()) {
            total += count.get<int>();
        }
        return total;
    };
    const auto first = dom0_counters();
    const auto mapped_first = dom0_.map_grant_refs({&batch.back(), 1});
    ASSERT_EQ(mapped_first[0].status, GntSt::okay);
    batch.pop_back();
    const auto before = dom0_counters();
    EXPECT_EQ(before["hypercalls"]["grant_tables"].get<int>() -
                  first["hypercalls"]["grant_tables"].get<int>(),
              1);
    const auto mapped = dom0_.map_grant_refs(batch);
    std::vector<xen::GrantHandle> handles;
    for (const auto& mapping : mapped) {
        ASSERT_EQ(mapping.status, GntSt::okay);
        handles.push_back(mapping.handle);
    }
    for (GntSt status : dom0_.unmap_grant_refs(handles)) {
        EXPECT_EQ(status, GntSt::okay);
    }
    const auto after = dom0_counters();
    EXPECT_EQ(hypercalls(after) - hypercalls(before), 0);
    EXPECT_EQ(after["grant_maps"].get<int>() - before["grant_maps"].get<int>(), 32);
    EXPECT_EQ(after["grant_unmaps"].get<int>() - before["grant_unmaps"].get<int>(), 32);
    EXPECT_EQ(dom0_.unmap_grant_refs({&mapped_first[0].handle, 1})[0], GntSt::okay);
}

// The granter's memory fd crosses the socket once per connection and
// memory object: a queue-depth-1 stream (map, unmap, map, ...) passes none
// after the first, and a guest destroyed and made again has a new object
// (and, as in Xen, a new domid), which is sent, and mapped, anew.
TEST_F(GrantMapTest, AMapAndUnmapStreamPassesTheGrantersMemoryFdOnce) {
    const auto fds_sent = [&] {
        for (const auto& domain : hv_.control().stats()) {
            if (domain.at("domid") == 0) {
                return domain.at("counters").at("memory_fds_sent").get<int>();
            }
        }
        throw std::runtime_error("no dom0 in stats");
    };
    const auto map_unmap_text = [&](TestGuest& guest, const std::string& text) {
        const auto gfn = guest.ok_number("alloc-page");
        guest.ok("write " + std::to_string(gfn) + " 0 " + text);
        const auto ref = guest.ok_number("grant 0 " + std::to_string(gfn) + " ro");
        const GrantMapRequest request{guest.domid(), static_cast<xen::GrantRef>(ref), true};
        const auto mapped = dom0_.map_grant_refs({&request, 1});
        EXPECT_EQ(mapped[0].status, GntSt::okay);
        const std::string seen =
            mapped[0].page != nullptr ? page_text(mapped[0].page, 0, text.size()) : "";
        EXPECT_EQ(dom0_.unmap_grant_refs({&mapped[0].handle, 1}), std::vector<GntSt>{GntSt::okay});
        return seen;
    };
    const int before = fds_sent();
    for (int i = 0; i < 10; ++i) {
        EXPECT_EQ(map_unmap_text(guest_, "request-" + std::to_string(i)),
                  "request-" + std::to_string(i));
    }
    EXPECT_EQ(fds_sent() - before, 1);

    EXPECT_EQ(hv_.control().destroy("guest"), "destroyed");
    TestGuest again(hv_, "again");
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(map_unmap_text(again, "new-guest-" + std::to_string(i)),
                  "new-guest-" + std::to_string(i));
    }
    EXPECT_EQ(fds_sent() - before, 2);
}

TEST_F(GrantMapTest, OnlyDom0MapsForeignPagesWithoutAGrant) {
    const auto gfn = guest_.ok_number("alloc-page");
    guest_.ok("write " + std::to_string(gfn) + " 8 no-grant-needed");
    const hypervisor::ForeignMapRequest request{guest_.domid(), gfn, false};
    const auto mapped = dom0_.map_foreign_pages({&request, 1});
    ASSERT_EQ(mapped[0].status, GntSt::okay);
    EXPECT_EQ(page_text(mapped[0].page, 8, 15), "no-grant-needed");

    const hypervisor::ForeignMapRequest past_end{guest_.domid(), 1u << 30, false};
    EXPECT_EQ(dom0_.map_foreign_pages({&past_end, 1})[0].status, GntSt::bad_page);
    EXPECT_EQ(dom0_.unmap_grant_refs({&mapped[0].handle, 1})[0], GntSt::okay);
}

}  // namespace
}  // namespace pvsim::test
