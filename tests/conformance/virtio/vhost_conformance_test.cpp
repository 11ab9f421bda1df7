// vhost-user payloads that share their layout with the kernel's vhost
// structures (QEMU puts struct vhost_vring_state and struct vhost_vring_addr
// in its VhostUserMsg union as they are) against linux/vhost_types.h.
#include <gtest/gtest.h>

#include <cstddef>
#include <map>
#include <span>
#include <string>

#include "common/virtio/vhost_user.hpp"
#include "layout_check.hpp"
#include "real_virtio.h"

namespace {

namespace vu = pvsim::vhost_user;
using pvsim::test::expect_same_layout;
using pvsim::test::field_entry;

TEST(VhostConformance, VringStateLayoutMatchesVhostVringState) {
    expect_same_layout(PVSIM_REAL(real_vhost_vring_state), sizeof(vu::VringState),
                       {PVSIM_FIELD(vu::VringState, index), PVSIM_FIELD(vu::VringState, num)});
}

TEST(VhostConformance, VringAddrLayoutMatchesVhostVringAddr) {
    expect_same_layout(
        PVSIM_REAL(real_vhost_vring_addr), sizeof(vu::VringAddr),
        {PVSIM_FIELD(vu::VringAddr, index), PVSIM_FIELD(vu::VringAddr, flags),
         PVSIM_FIELD(vu::VringAddr, desc_user_addr), PVSIM_FIELD(vu::VringAddr, used_user_addr),
         PVSIM_FIELD(vu::VringAddr, avail_user_addr), PVSIM_FIELD(vu::VringAddr, log_guest_addr)});
}

TEST(VhostConformance, MemoryRegionLayoutMatchesVhostMemoryRegion) {
    // vhost-user's region ends in mmap_offset where the kernel's has
    // flags_padding: same place, same size.
    expect_same_layout(
        PVSIM_REAL(real_vhost_memory_region), sizeof(vu::MemoryRegion),
        {PVSIM_FIELD(vu::MemoryRegion, guest_phys_addr), PVSIM_FIELD(vu::MemoryRegion, memory_size),
         PVSIM_FIELD(vu::MemoryRegion, userspace_addr),
         field_entry("flags_padding", sizeof(vu::MemoryRegion::mmap_offset),
                     offsetof(vu::MemoryRegion, mmap_offset))});
}

TEST(VhostConformance, MemoryTableHeadMatchesVhostMemory) {
    // struct vhost_memory ends in a flexible array; vhost-user's table is
    // the same head with room for kMemoryBaselineNregions regions.
    auto real = PVSIM_REAL(real_vhost_memory);
    expect_same_layout(
        real, vu::kMemoryRegionsOffset,
        {PVSIM_FIELD(vu::Memory, nregions), PVSIM_FIELD(vu::Memory, padding),
         field_entry("regions", sizeof(vu::MemoryRegion), offsetof(vu::Memory, regions))});
    EXPECT_EQ(sizeof(vu::Memory), real.front().size + vu::kMemoryBaselineNregions * real[3].size);
}

TEST(VhostConformance, IotlbMsgLayoutMatchesVhostIotlbMsg) {
    expect_same_layout(PVSIM_REAL(real_vhost_iotlb_msg), sizeof(vu::IotlbMsg),
                       {PVSIM_FIELD(vu::IotlbMsg, iova), PVSIM_FIELD(vu::IotlbMsg, size),
                        PVSIM_FIELD(vu::IotlbMsg, uaddr), PVSIM_FIELD(vu::IotlbMsg, perm),
                        PVSIM_FIELD(vu::IotlbMsg, type)});
}

TEST(VhostConformance, StructureAlignmentsMatch) {
    const std::map<std::string, std::size_t> ours = {
        {"struct vhost_vring_state", alignof(vu::VringState)},
        {"struct vhost_vring_addr", alignof(vu::VringAddr)},
        {"struct vhost_memory_region", alignof(vu::MemoryRegion)},
        {"struct vhost_memory", alignof(vu::Memory)},
        {"struct vhost_iotlb_msg", alignof(vu::IotlbMsg)},
    };
    int compared = 0;
    for (const auto& real : std::span(real_alignments, real_alignments_count)) {
        auto it = ours.find(real.name);
        if (it != ours.end()) {
            EXPECT_EQ(it->second, real.alignment) << real.name;
            ++compared;
        }
    }
    EXPECT_EQ(compared, 5);
}

}  // namespace
