// pvsim's virtio-blk structures against linux/virtio_blk.h.
#include <gtest/gtest.h>

#include <cstddef>
#include <map>
#include <span>
#include <string>

#include "common/virtio/virtio_blk.hpp"
#include "layout_check.hpp"
#include "real_virtio.h"

namespace {

namespace v = pvsim::virtio;
using pvsim::test::expect_same_layout;

TEST(VirtioBlkConformance, OutHdrLayoutMatches) {
    expect_same_layout(
        PVSIM_REAL(real_virtio_blk_outhdr), sizeof(v::VirtioBlkOutHdr),
        {PVSIM_FIELD(v::VirtioBlkOutHdr, type), PVSIM_FIELD(v::VirtioBlkOutHdr, ioprio),
         PVSIM_FIELD(v::VirtioBlkOutHdr, sector)});
}

TEST(VirtioBlkConformance, DiscardWriteZeroesSegmentLayoutMatches) {
    expect_same_layout(PVSIM_REAL(real_virtio_blk_discard_write_zeroes),
                       sizeof(v::VirtioBlkDiscardWriteZeroes),
                       {PVSIM_FIELD(v::VirtioBlkDiscardWriteZeroes, sector),
                        PVSIM_FIELD(v::VirtioBlkDiscardWriteZeroes, num_sectors),
                        PVSIM_FIELD(v::VirtioBlkDiscardWriteZeroes, flags)});
}

TEST(VirtioBlkConformance, GeometryLayoutMatches) {
    expect_same_layout(
        PVSIM_REAL(real_virtio_blk_geometry), sizeof(v::VirtioBlkGeometry),
        {PVSIM_FIELD(v::VirtioBlkGeometry, cylinders), PVSIM_FIELD(v::VirtioBlkGeometry, heads),
         PVSIM_FIELD(v::VirtioBlkGeometry, sectors)});
}

// Every field of this machine's struct virtio_blk_config, no more, no less,
// at the same offsets and packed the same way.
TEST(VirtioBlkConformance, ConfigLayoutMatchesFieldForField) {
    using C = v::VirtioBlkConfig;
    expect_same_layout(PVSIM_REAL(real_virtio_blk_config), sizeof(C),
                       {
                           PVSIM_FIELD(C, capacity),
                           PVSIM_FIELD(C, size_max),
                           PVSIM_FIELD(C, seg_max),
                           PVSIM_FIELD(C, geometry),
                           PVSIM_FIELD(C, blk_size),
                           PVSIM_FIELD(C, physical_block_exp),
                           PVSIM_FIELD(C, alignment_offset),
                           PVSIM_FIELD(C, min_io_size),
                           PVSIM_FIELD(C, opt_io_size),
                           PVSIM_FIELD(C, wce),
                           PVSIM_FIELD(C, unused),
                           PVSIM_FIELD(C, num_queues),
                           PVSIM_FIELD(C, max_discard_sectors),
                           PVSIM_FIELD(C, max_discard_seg),
                           PVSIM_FIELD(C, discard_sector_alignment),
                           PVSIM_FIELD(C, max_write_zeroes_sectors),
                           PVSIM_FIELD(C, max_write_zeroes_seg),
                           PVSIM_FIELD(C, write_zeroes_may_unmap),
                           PVSIM_FIELD(C, unused1),
                           PVSIM_FIELD(C, max_secure_erase_sectors),
                           PVSIM_FIELD(C, max_secure_erase_seg),
                           PVSIM_FIELD(C, secure_erase_sector_alignment),
                       });
}

TEST(VirtioBlkConformance, StructureAlignmentsMatch) {
    const std::map<std::string, std::size_t> ours = {
        {"struct virtio_blk_outhdr", alignof(v::VirtioBlkOutHdr)},
        {"struct virtio_blk_discard_write_zeroes", alignof(v::VirtioBlkDiscardWriteZeroes)},
        {"struct virtio_blk_geometry", alignof(v::VirtioBlkGeometry)},
        {"struct virtio_blk_config", alignof(v::VirtioBlkConfig)},  // packed: 1
    };
    int compared = 0;
    for (const auto& real : std::span(real_alignments, real_alignments_count)) {
        auto it = ours.find(real.name);
        if (it != ours.end()) {
            EXPECT_EQ(it->second, real.alignment) << real.name;
            ++compared;
        }
    }
    EXPECT_EQ(compared, 4);
}

}  // namespace
