// GNTTABOP_copy across real processes: the hypervisor copies between two
// domains' memories, with per-slot statuses (xen/common/grant_table.c
// gnttab_copy).
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "tests/support/hypervisor_process.hpp"

namespace pvsim::test {
namespace {

using hypervisor::GrantCopyPtr;
using hypervisor::GrantCopyRequest;
using xen::GntSt;

class GrantCopyTest : public ::testing::Test {
  protected:
    HypervisorProcess hv_;
    TestGuest guest_{hv_, "guest"};
    hypervisor::Hypervisor dom0_ = hv_.connect_dom0();

    GrantCopyPtr guest_ref(std::uint64_t ref, std::uint16_t offset) {
        return {true, ref, guest_.domid(), offset};
    }
    GrantCopyPtr own_frame(std::uint64_t gfn, std::uint16_t offset) {
        return {false, gfn, xen::kDomidSelf, offset};
    }
    char* own_page(std::uint64_t gfn) {
        return reinterpret_cast<char*>(dom0_.memory().page(gfn).data());
    }
};

TEST_F(GrantCopyTest, CopiesFromAGuestGrantAcrossPageOffsets) {
    const auto gfn = guest_.ok_number("alloc-page");
    guest_.ok("write " + std::to_string(gfn) + " 4000 source-bytes-at-the-end");
    const auto ref = guest_.ok_number("grant 0 " + std::to_string(gfn) + " ro");
    const auto local = dom0_.memory().allocate_page();

    // A readonly grant may be a copy source.
    const GrantCopyRequest copy{guest_ref(ref, 4000), own_frame(local, 17), 23};
    EXPECT_EQ(dom0_.copy_grants({&copy, 1}), std::vector<GntSt>{GntSt::okay});
    EXPECT_EQ(std::string(own_page(local) + 17, 23), "source-bytes-at-the-end");
    // The transient pin is gone again.
    EXPECT_EQ(guest_.ok("end-access " + std::to_string(ref)), "ended");
}

TEST_F(GrantCopyTest, CopiesIntoAGuestGrantButNotIntoAReadonlyOne) {
    const auto gfn = guest_.ok_number("alloc-page");
    const auto rw_ref = guest_.ok_number("grant 0 " + std::to_string(gfn) + " rw");
    const auto ro_ref = guest_.ok_number("grant 0 " + std::to_string(gfn) + " ro");
    const auto local = dom0_.memory().allocate_page();
    std::memcpy(own_page(local) + 100, "into-the-guest", 14);

    const std::vector<GrantCopyRequest> batch = {
        {own_frame(local, 100), guest_ref(rw_ref, 3000), 14},
        {own_frame(local, 100), guest_ref(ro_ref, 0), 14},
    };
    EXPECT_EQ(dom0_.copy_grants(batch), (std::vector<GntSt>{GntSt::okay, GntSt::general_error}));
    EXPECT_EQ(guest_.ok("read " + std::to_string(gfn) + " 3000 14"), "into-the-guest");
    EXPECT_EQ(guest_.ok("read " + std::to_string(gfn) + " 0 14"), std::string(14, '\0'));
}

TEST_F(GrantCopyTest, RangesOutsideThePageAreBadCopyArg) {
    const auto gfn = guest_.ok_number("alloc-page");
    const auto ref = guest_.ok_number("grant 0 " + std::to_string(gfn) + " rw");
    const auto local = dom0_.memory().allocate_page();
    const std::vector<GrantCopyRequest> batch = {
        {guest_ref(ref, 4090), own_frame(local, 0), 7},     // source crosses the page end
        {guest_ref(ref, 0), own_frame(local, 4095), 2},     // dest crosses it
        {guest_ref(ref, 4096), own_frame(local, 0), 1},     // offset past the page
        {guest_ref(ref, 4095), own_frame(local, 4095), 1},  // the last byte: fine
    };
    EXPECT_EQ(dom0_.copy_grants(batch),
              (std::vector<GntSt>{GntSt::bad_copy_arg, GntSt::bad_copy_arg, GntSt::bad_copy_arg,
                                  GntSt::okay}));
}

TEST_F(GrantCopyTest, AGuestMayNameOnlyItsOwnFramesWithoutAGrant) {
    TestGuest other(hv_, "other");
    const auto gfn = guest_.ok_number("alloc-page");
    guest_.ok("write " + std::to_string(gfn) + " 0 secret");
    const auto other_gfn = other.ok_number("alloc-page");
    const std::string from_guest_frame =
        "gfn:" + std::to_string(guest_.domid()) + ":" + std::to_string(gfn) + ":0";
    EXPECT_EQ(
        other.ok("copy " + from_guest_frame + " gfn:self:" + std::to_string(other_gfn) + ":0 6"),
        "GNTST_permission_denied");
    EXPECT_EQ(other.ok("read " + std::to_string(other_gfn) + " 0 6"), std::string(6, '\0'));

    // Through a grant it works, guest to guest.
    const auto ref = guest_.ok_number("grant " + std::to_string(other.domid()) + " " +
                                      std::to_string(gfn) + " ro");
    EXPECT_EQ(other.ok("copy gref:" + std::to_string(guest_.domid()) + ":" + std::to_string(ref) +
                       ":0 gfn:self:" + std::to_string(other_gfn) + ":0 6"),
              "GNTST_okay");
    EXPECT_EQ(other.ok("read " + std::to_string(other_gfn) + " 0 6"), "secret");

    // Unknown domain and a frame past the end of memory.
    EXPECT_EQ(other.ok("copy gref:4000:8:0 gfn:self:" + std::to_string(other_gfn) + ":0 6"),
              "GNTST_bad_domain");
    EXPECT_EQ(other.ok("copy gfn:self:99999999:0 gfn:self:" + std::to_string(other_gfn) + ":0 6"),
              "GNTST_bad_page");
}

}  // namespace
}  // namespace pvsim::test
