// A hostile driver domain against pvsim's real blkfront, attached through
// the normal path: the toolstack puts the victim's disk under the rogue
// domain's backend directory (libxl's disk backend=, a qdisk so that no
// hotplug script runs), and the rogue plays blkback from its own domain
// process (pvsim_test_domain): its own xenstore ring for the backend keys
// and states, the victim's ring grant mapped and its event channel bound,
// and every response laid out byte by byte in the mapped ring
// (map-write-hex), so that it can write what no blkback would. Beside them
// a second guest runs verified I/O on dom0's pvsim-backend. For each
// attack: the victim's process lives and answers, the second guest's
// writes read back intact after it, and the victim's log (its console) has
// a line naming the offender: the backend's path and domain, or its domain
// where the ring alone speaks ("backend dom<N> answered ...").
// Each case follows a Linux 6.1 xen-blkfront function, named at the test.
#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <future>
#include <sstream>
#include <string>
#include <vector>

#include "common/xen/blkif.hpp"
#include "common/xen/ring.hpp"
#include "common/xen/vbd_interface.hpp"
#include "tests/support/blkback_fixture.hpp"
#include "tests/support/hex_bytes.hpp"

namespace pvsim::test {
namespace rogue_backend_test {

using tools::toolstack::VbdPaths;
using xen::BlkifOp;
using xen::BlkifRequest;
using xen::BlkifResponse;
using xen::BlkifStatus;
using xen::XenbusState;

constexpr std::uint64_t kImageBytes = 4 << 20;
constexpr std::uint32_t kXvda = 51712;  // vdev_number("xvda")
// xen/io/ring.h: the slots follow the 64-byte sring header (req_prod at 0,
// rsp_prod at 8); one page holds 32 slots of 112 bytes (blkif.h).
constexpr std::size_t kSlots = sizeof(xen::SharedRing);
constexpr std::size_t kSlotBytes = sizeof(xen::BlkifSringEntry);
constexpr xen::RingIdx kRingSize = xen::blkif_ring_size(0);
// blkif.h defines BLKIF_RSP_EOPNOTSUPP (-2), BLKIF_RSP_ERROR (-1) and
// BLKIF_RSP_OKAY (0) only.
constexpr auto kUndefinedStatus = static_cast<BlkifStatus>(77);
// What blk-read and blk-write answer for a request that failed with ENODEV
// (the device disabled or gone) or EIO (the backend's error):
// test_domain_blk.cpp's "error <op> at sector N failed: strerror".
const std::string kNoDevice = "No such device";
const std::string kIoError = "Input/output error";

class RogueBackendTest : public BlkbackFixture {
  protected:
    RogueBackendTest() : good_(hv_, "good"), rogue_(hv_, "rogue"), victim_(hv_, "victim") {
        introduce(good_);
        introduce(rogue_);
        introduce(victim_);
        (void)tools::toolstack::attach_vbd(
            dom0_, spec(good_.domid(), "xvda", make_image("good.img", kImageBytes)));
        good_.ok("blk-open " + std::to_string(kXvda));
        good_.ok("blk-write 0 64 1");
        connect_victim();
    }

    // The toolstack attaches the victim's disk with the rogue as its
    // backend domain; the rogue then does what blkback's probe and
    // connect_ring do (InitWait; the frontend's ring mapped and its event
    // channel bound; the disk's nodes, Connected), and the victim's
    // blkfront opens the disk.
    void connect_victim() {
        tools::toolstack::VbdSpec vbd =
            spec(victim_.domid(), "xvda", make_image("victim.img", kImageBytes));
        vbd.backend_domid = rogue_.domid();
        vbd.backend = tools::toolstack::DiskBackend::qdisk;
        paths_ = VbdPaths::of(vbd.backend_domid, vbd.domid, kXvda, *vbd.backend);
        auto attached = std::async(std::launch::async, [this, vbd] {
            auto toolstack = xenstore::client::Client::connect(xenstored_.socket_path());
            return tools::toolstack::attach_vbd(toolstack, vbd);
        });
        ASSERT_TRUE(eventually([&] {
            return rogue_.command("xs-read " + paths_.backend + "/state").rfind("ok", 0) == 0;
        }));
        rogue_.ok("xs-write " + paths_.backend + "/state 2");
        ASSERT_EQ(attached.get().backend, paths_.backend);

        victim_.send("blk-open " + std::to_string(kXvda));
        expect_state(paths_.frontend + "/state", XenbusState::initialised);
        const std::string victim = std::to_string(victim_.domid());
        ring_ = rogue_.ok("map " + victim + " " + read(paths_.frontend + "/ring-ref") + " rw");
        port_ = rogue_.ok("bind " + victim + " " + read(paths_.frontend + "/event-channel"));
        for (const auto& [key, value] :
             {std::pair<std::string, std::string>{"sectors", std::to_string(kImageBytes / 512)},
              {"info", "0"},
              {"sector-size", "512"},
              {"state", "4"}}) {
            rogue_.ok("xs-write " + paths_.backend + "/" + key + " " + value);
        }
        ASSERT_EQ(victim_.read_reply(), "ok");
    }

    // The next request the victim puts on the ring (after `taken` others),
    // once its req_prod says it is there.
    BlkifRequest next_request() {
        EXPECT_TRUE(eventually([&] { return ring_word(0) > taken_; })) << victim_log();
        return from_hex<BlkifRequest>(rogue_.ok("map-read-hex " + ring_ + " " +
                                                std::to_string(slot(taken_++)) + " " +
                                                std::to_string(sizeof(BlkifRequest))));
    }
    // Writes `responses` into the next slots, then rsp_prod and the event
    // (RING_PUSH_RESPONSES, notify_remote_via_irq).
    void respond(const std::vector<BlkifResponse>& responses) {
        for (const BlkifResponse& response : responses) {
            rogue_.ok("map-write-hex " + ring_ + " " + std::to_string(slot(answered_++)) + " " +
                      hex_of(response));
        }
        publish(answered_);
    }
    void publish(xen::RingIdx rsp_prod) {
        rogue_.ok("map-write-hex " + ring_ + " " +
                  std::to_string(offsetof(xen::SharedRing, rsp_prod)) + " " + hex_of(rsp_prod));
        rogue_.ok("notify " + port_);
    }
    static BlkifResponse answer(const BlkifRequest& request,
                                BlkifStatus status = BlkifStatus::okay) {
        BlkifResponse response{};
        response.id = request.id;
        response.operation = request.operation;
        response.status = status;
        return response;
    }

    // The victim's blkfront disabled its disk: its line names the backend
    // and says why; the victim lives, and its disk refuses I/O from now on.
    void expect_disabled_naming_the_rogue(const std::string& why) {
        const std::string line =
            "backend " + paths_.backend + " (dom" + std::to_string(rogue_.domid()) + "): " + why;
        EXPECT_TRUE(eventually([&] { return victim_line(line, "disabled for further use"); }))
            << line << "\n"
            << victim_log();
        EXPECT_EQ(victim_.command("blk-read 0 8 1"), "error read at sector 0 failed: " + kNoDevice);
    }
    // The other guest's earlier data and a new write read back intact, and
    // dom0's backend lives.
    void expect_the_other_guest_unaffected() {
        EXPECT_TRUE(backend_->alive()) << backend_->log();
        EXPECT_EQ(good_.ok("blk-read 0 64 1"), "match");
        good_.ok("blk-write 64 64 2");
        EXPECT_EQ(good_.ok("blk-read 64 64 2"), "match");
    }

    bool victim_line(const std::string& what, const std::string& and_then = {}) {
        std::istringstream log(victim_log());
        for (std::string line; std::getline(log, line);) {
            const std::size_t at = line.find(what);
            if (at != std::string::npos && line.find(and_then, at) != std::string::npos) {
                return true;
            }
        }
        return false;
    }
    std::string victim_log() const {
        std::ifstream in(hv_.run_dir().log_file("victim.console"));
        std::stringstream text;
        text << in.rdbuf();
        return text.str();
    }

    xen::RingIdx ring_word(std::size_t offset) {
        return from_hex<xen::RingIdx>(
            rogue_.ok("map-read-hex " + ring_ + " " + std::to_string(offset) + " 4"));
    }
    static std::size_t slot(xen::RingIdx index) {
        return kSlots + (index % kRingSize) * kSlotBytes;
    }

    TestGuest good_;
    TestGuest rogue_;
    TestGuest victim_;
    VbdPaths paths_;
    std::string ring_;  // the rogue's handle of the victim's ring page
    std::string port_;  // the rogue's end of the victim's event channel
    xen::RingIdx taken_ = 0;
    xen::RingIdx answered_ = 0;
};

// blkif_interrupt: "if (id >= BLK_RING_SIZE(info)) ... response has
// incorrect id" -> err: BLKIF_STATE_ERROR, "disabled for further use". The
// request in flight fails (pvsim's blkfront ends it with ENODEV, where
// Linux's would wait for ever), and so does every later one.
TEST_F(RogueBackendTest, AResponseWithAnUnknownIdDisablesTheDisk) {
    victim_.send("blk-read 0 8 1");
    BlkifResponse bogus = answer(next_request());
    bogus.id = 1000;
    respond({bogus});
    EXPECT_EQ(victim_.read_reply(), "error read at sector 0 failed: " + kNoDevice);
    expect_disabled_naming_the_rogue("response has incorrect id 1000");
    expect_the_other_guest_unaffected();
}

// blkif_interrupt: "if (rinfo->shadow[id].status != REQ_WAITING) ...
// response references no pending request": the first answer completes its
// request, the same answer again disables the disk, failing the other
// request of the batch.
TEST_F(RogueBackendTest, AResponseGivenTwiceDisablesTheDisk) {
    victim_.send("blk-write 0 16 5");  // two one-page requests
    const BlkifRequest first = next_request();
    (void)next_request();
    respond({answer(first), answer(first)});
    EXPECT_EQ(victim_.read_reply(), "error write at sector 8 failed: " + kNoDevice);
    expect_disabled_naming_the_rogue("response id " + std::to_string(first.id) +
                                     " references no pending request");
    expect_the_other_guest_unaffected();
}

// blkif_interrupt: "if (bret.operation != op) ... response has wrong
// operation (%u instead of %u)".
TEST_F(RogueBackendTest, AResponseWithTheWrongOperationDisablesTheDisk) {
    victim_.send("blk-read 0 8 1");
    BlkifResponse wrong = answer(next_request());
    wrong.operation = BlkifOp::write;
    respond({wrong});
    EXPECT_EQ(victim_.read_reply(), "error read at sector 0 failed: " + kNoDevice);
    expect_disabled_naming_the_rogue("response id " + std::to_string(wrong.id) +
                                     " has wrong operation BLKIF_OP_WRITE (1) instead of "
                                     "BLKIF_OP_READ (0)");
    expect_the_other_guest_unaffected();
}

// blkif_interrupt: "if (bret.status == BLKIF_RSP_OKAY) ... else
// BLK_STS_IOERR": a status blkif.h does not define fails that request
// with EIO and nothing else; the disk goes on (the next write is served).
// Linux says so at dev_dbg ("Bad return from blkdev data request"); pvsim
// warns, naming the backend domain.
TEST_F(RogueBackendTest, AStatusOutsideTheEnumFailsThatRequestAlone) {
    victim_.send("blk-read 0 8 1");
    respond({answer(next_request(), kUndefinedStatus)});
    EXPECT_EQ(victim_.read_reply(), "error read at sector 0 failed: " + kIoError);
    EXPECT_TRUE(victim_line("backend dom" + std::to_string(rogue_.domid()) +
                            " answered BLKIF_OP_READ at sector 0 with status 77, which blkif.h "
                            "does not define"))
        << victim_log();
    victim_.send("blk-write 8 8 6");
    respond({answer(next_request())});
    EXPECT_EQ(victim_.read_reply(), "ok");
    EXPECT_FALSE(victim_line("disabled for further use")) << victim_log();
    expect_the_other_guest_unaffected();
}

// blkif_interrupt: "if (RING_RESPONSE_PROD_OVERFLOW(&rinfo->ring, rp)) ...
// illegal number of responses" (XSA-396): rsp_prod more than a ring ahead
// of rsp_cons is not read at all.
TEST_F(RogueBackendTest, AResponseProducerBeyondTheRingDisablesTheDisk) {
    victim_.send("blk-read 0 8 1");
    (void)next_request();
    publish(kRingSize + 1);
    EXPECT_EQ(victim_.read_reply(), "error read at sector 0 failed: " + kNoDevice);
    expect_disabled_naming_the_rogue("illegal number of responses: rsp_prod 33");
    expect_the_other_guest_unaffected();
}

// A backend that never answers. Linux 6.1's blkfront_mq_ops has no
// .timeout, so blk-mq's request timeout (blk_mq_rq_timed_out) only re-arms
// its timer: the request waits until the device goes. The toolstack's
// detach (libxl__initiate_device_generic_remove: online=0, Closing) gets
// no Closed from such a backend, and after its timeout libxl removes the
// device by force (the directories go); blkfront_remove -> blkif_free then
// takes the disk away. pvsim's blkfront fails what the backend never
// answered with ENODEV there, naming it, and the victim can close the
// disk.
TEST_F(RogueBackendTest, ABackendThatNeverAnswersIsDetachedByForceAndTheIoFails) {
    victim_.send("blk-read 0 8 1");
    (void)next_request();
    tools::toolstack::DetachOptions force;
    // libxl waits LIBXL_DESTROY_TIMEOUT (10 s) for the Closed; this
    // backend never writes one, so any wait ends the same way.
    force.timeout = std::chrono::milliseconds(100);
    force.force = true;
    tools::toolstack::detach_vbd(dom0_, paths_, force);
    EXPECT_EQ(victim_.read_reply(), "error read at sector 0 failed: " + kNoDevice);
    EXPECT_TRUE(victim_line("1 request(s) the backend " + paths_.backend + " (dom" +
                            std::to_string(rogue_.domid()) + ") never answered"))
        << victim_log();
    EXPECT_EQ(read(paths_.frontend), "<none>");
    EXPECT_EQ(read(paths_.backend), "<none>");
    victim_.ok("blk-close");
    expect_the_other_guest_unaffected();
}

// blkif_completion (Linux 5.17+, XSA-396): without persistent grants
// "if (!gnttab_try_end_foreign_access(...gref)) ... backed has not
// unmapped grant" -> err: the disk is disabled, and the grant is not
// ended while the backend maps it, so the page stays out of reuse: the
// write is not finished until the backend lets go; then it fails.
TEST_F(RogueBackendTest, ABackendThatKeepsAGrantMappedAfterItsAnswerDisablesTheDisk) {
    victim_.send("blk-write 0 8 7");
    const BlkifRequest request = next_request();
    const std::string gref = std::to_string(request.seg[0].gref);
    const std::string victim = std::to_string(victim_.domid());
    const std::string kept = rogue_.ok("map " + victim + " " + gref + " rw");
    respond({answer(request)});
    const std::string line = "backend " + paths_.backend + " (dom" +
                             std::to_string(rogue_.domid()) + "): backend has not unmapped grant " +
                             gref;
    EXPECT_TRUE(eventually([&] { return victim_line(line, "disabled for further use"); }))
        << victim_log();
    // The grant is still the rogue's to map (and write through), and the
    // write has not come back to the victim's caller. (That it cannot come
    // before the unmap, DataPlaneTest's
    // GrantStillMappedAfterTheAnswerFailsTheDeviceAndDelaysTheCompletion
    // shows against a later request; here nothing has begun of it.)
    const std::string again = rogue_.ok("map " + victim + " " + gref + " rw");
    rogue_.ok("map-write-hex " + again + " 0 deadbeef");
    EXPECT_FALSE(victim_.reply_started());
    rogue_.ok("unmap " + again);
    rogue_.ok("unmap " + kept);
    EXPECT_EQ(victim_.read_reply(), "error write at sector 0 failed: " + kNoDevice);
    // Once let go the grant is ended: it no longer maps.
    EXPECT_EQ(rogue_.command("map " + victim + " " + gref + " rw").rfind("error", 0), 0u);
    expect_the_other_guest_unaffected();
}

}  // namespace rogue_backend_test
}  // namespace pvsim::test
