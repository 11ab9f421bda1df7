// Notifications at a queue depth of 32 (issue: "Counters per vbd"): the
// whole batch pushed by one RING_PUSH_REQUESTS_AND_CHECK_NOTIFY notifies the
// backend at most once, and each RING_PUSH_RESPONSES_AND_CHECK_NOTIFY the
// frontend at most once; an end takes no more events than the other sent
// (sends coalesce while pending). These hold whatever the speed of either
// end; how many responses one push carries does not, and is only printed.
// Counted by both ends: blkfront's own counters (the guest's blk-counters)
// and blkback's, which pvsim-backend logs for the vbd when it disconnects.
#include <gtest/gtest.h>

#include <cstdint>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/integration/blk/blk_fixture.hpp"

namespace pvsim::test {
// This file's own names, apart from those of the other files of its folder,
// which compiles as one translation unit.
namespace notification_test {

using tools::toolstack::VbdPaths;

constexpr std::uint64_t kImageBytes = 8 << 20;
// 512 one-page requests each way, in submit batches of kBlkDepth (32).
constexpr std::uint64_t kSectors = 4096;
constexpr std::uint64_t kRequests = 2 * kSectors / 8;
constexpr std::uint64_t kBatches = kRequests / kBlkDepth;

class BlkNotificationTest : public BlkFixture {};

TEST_F(BlkNotificationTest, AtDepth32EachBatchNotifiesAtMostOnceAndEventsCoalesce) {
    TestGuest guest(hv_, "guest");
    introduce(guest);
    const VbdPaths paths = tools::toolstack::attach_vbd(
        dom0_, spec(guest.domid(), "xvda", make_image("disk.img", kImageBytes)));
    guest.ok("blk-open " + std::to_string(kXvda));
    guest.ok("blk-write 0 " + std::to_string(kSectors) + " 11");
    EXPECT_EQ(guest.command("blk-read 0 " + std::to_string(kSectors) + " 11"), "ok match");

    const nlohmann::json front = nlohmann::json::parse(guest.ok("blk-counters"));
    detach(paths);
    const nlohmann::json back = backend_counters(paths);
    ASSERT_TRUE(back.is_object()) << backend_->log();
    std::cout << "blkfront " << front.dump() << "\nblkback " << back.dump() << "\n";

    // What went over the ring, seen from both ends.
    EXPECT_EQ(front.at("requests").get<std::uint64_t>(), kRequests);
    EXPECT_EQ(front.at("segments").get<std::uint64_t>(), kRequests);
    EXPECT_EQ(front.at("responses").get<std::uint64_t>(), kRequests);
    EXPECT_EQ(front.at("bytes").get<std::uint64_t>(), 2 * kSectors * 512);
    EXPECT_EQ(back.at("requests").get<std::uint64_t>(), kRequests);
    EXPECT_EQ(back.at("responses").get<std::uint64_t>(), kRequests);
    EXPECT_EQ(back.at("segments").get<std::uint64_t>(), kRequests);
    EXPECT_EQ(back.at("bytes_written").get<std::uint64_t>(), kSectors * 512);
    EXPECT_EQ(back.at("bytes_read").get<std::uint64_t>(), kSectors * 512);
    // Both ends use persistent grants by default (Linux's): blkback maps
    // each page of blkfront's pool once, at most a page per request in
    // flight, and unmaps them when it disconnects.
    EXPECT_GE(back.at("grant_maps").get<std::uint64_t>(), 1u);
    EXPECT_LE(back.at("grant_maps").get<std::uint64_t>(), kBlkDepth);
    EXPECT_EQ(back.at("grant_unmaps").get<std::uint64_t>(),
              back.at("grant_maps").get<std::uint64_t>());

    // Frontend to backend: one push per submit batch, each notifying or
    // suppressed by req_event.
    const std::uint64_t front_sent = front.at("notifications_sent").get<std::uint64_t>();
    const std::uint64_t back_received = back.at("notifications_received").get<std::uint64_t>();
    EXPECT_EQ(front_sent + front.at("notifications_suppressed").get<std::uint64_t>(), kBatches);
    EXPECT_LE(back_received, front_sent);

    // Backend to frontend: every push of responses notified or was
    // suppressed by rsp_event, and carried at least one response.
    const std::uint64_t back_sent = back.at("notifications_sent").get<std::uint64_t>();
    const std::uint64_t back_pushes =
        back_sent + back.at("notifications_suppressed").get<std::uint64_t>();
    const std::uint64_t front_received = front.at("notifications_received").get<std::uint64_t>();
    EXPECT_GE(back_pushes, 1u);
    EXPECT_LE(back_pushes, kRequests);
    EXPECT_LE(front_received, back_sent);
    guest.ok("blk-close");
}

}  // namespace notification_test
}  // namespace pvsim::test
