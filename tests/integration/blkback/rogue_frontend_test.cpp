// A hostile guest against the real pvsim-backend, attached through the
// normal path (the toolstack's vbd, the guest's own frontend keys over its
// xenstore ring): the guest lays out blkif requests byte by byte in its own
// ring page (pvsim_test_domain's write-hex), so that it can write what no
// blkfront would. Beside it a second guest runs the real blkfront with
// verified I/O. For each attack: pvsim-backend lives, the second guest's
// writes read back intact after it, and the backend's log has a line naming
// the offender (its ring's lines begin "<backend path> (dom<domid>): ").
// Each case follows a Linux 6.1 xen-blkback function, named at the test.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "common/xen/blkif.hpp"
#include "common/xen/ring.hpp"
#include "common/xen/vbd_interface.hpp"
#include "tests/support/blkback_fixture.hpp"
#include "tests/support/hex_bytes.hpp"

namespace pvsim::test {
namespace rogue_frontend_test {

using tools::toolstack::VbdPaths;
using xen::BlkifOp;
using xen::BlkifRequest;
using xen::BlkifResponse;
using xen::BlkifStatus;
using xen::XenbusState;

constexpr std::uint64_t kImageBytes = 4 << 20;
constexpr std::uint64_t kImageSectors = kImageBytes / 512;
// xen/io/ring.h: the entries follow the 64-byte sring header; a one-page
// blkif ring has 32 slots of 112 bytes (blkif.h, DEFINE_RING_TYPES).
constexpr std::size_t kEntriesOffset = sizeof(xen::SharedRing);
constexpr std::size_t kSlotBytes = sizeof(xen::BlkifSringEntry);
constexpr xen::RingIdx kRingSize = xen::blkif_ring_size(0);

class RogueFrontendTest : public BlkbackFixture {
  protected:
    RogueFrontendTest() : good_(hv_, "good"), rogue_(hv_, "rogue") {
        introduce(good_);
        introduce(rogue_);
        (void)tools::toolstack::attach_vbd(
            dom0_, spec(good_.domid(), "xvda", make_image("good.img", kImageBytes)));
        good_.ok("blk-open " + std::to_string(xen::vdev_number("xvda")));
        good_.ok("blk-write 0 64 1");
        paths_ = tools::toolstack::attach_vbd(
            dom0_, spec(rogue_.domid(), "xvda", make_image("rogue.img", kImageBytes)));
    }

    // What blkfront's talk_to_blkback writes, done by the guest itself with
    // a ring page and a port of its own, then Connected at both ends.
    void connect_rogue_ring() {
        ring_gfn_ = rogue_.ok_number("alloc-page");
        const std::string ref = rogue_.ok("grant 0 " + std::to_string(ring_gfn_) + " rw");
        port_ = rogue_.ok("alloc-unbound 0");
        for (const auto& [key, value] :
             {std::pair{"ring-ref", ref}, std::pair{"event-channel", port_},
              std::pair{"protocol", std::string("x86_64-abi")},
              std::pair{"state", std::string("3")}}) {
            rogue_.ok("xs-write " + paths_.frontend + "/" + key + " " + value);
        }
        expect_state(paths_.backend + "/state", XenbusState::connected);
        rogue_.ok("xs-write " + paths_.frontend + "/state 4");
    }

    // A page of the rogue's granted to dom0, its grant ref (and its frame).
    xen::GrantRef granted_page(const std::string& mode = "rw", std::uint64_t* gfn = nullptr) {
        const std::uint64_t page = rogue_.ok_number("alloc-page");
        if (gfn != nullptr) {
            *gfn = page;
        }
        return static_cast<xen::GrantRef>(
            rogue_.ok_number("grant 0 " + std::to_string(page) + " " + mode));
    }

    // Writes `request` from byte `from` on into slot `index`.
    template <typename Request>
    void put(xen::RingIdx index, const Request& request, std::size_t from = 0) {
        rogue_.ok("write-hex " + std::to_string(ring_gfn_) + " " +
                  std::to_string(kEntriesOffset + (index % kRingSize) * kSlotBytes + from) + " " +
                  hex_of(request).substr(2 * from));
    }
    // req_prod := `value`, then the event (RING_PUSH_REQUESTS, notify).
    void push(xen::RingIdx value) {
        rogue_.ok("write-hex " + std::to_string(ring_gfn_) + " 0 " + hex_of(value));
        rogue_.ok("notify " + port_);
    }
    xen::RingIdx rsp_prod() {
        return from_hex<xen::RingIdx>(
            rogue_.ok("read-hex " + std::to_string(ring_gfn_) + " " +
                      std::to_string(offsetof(xen::SharedRing, rsp_prod)) + " 4"));
    }
    BlkifResponse response(xen::RingIdx index) {
        return from_hex<BlkifResponse>(
            rogue_.ok("read-hex " + std::to_string(ring_gfn_) + " " +
                      std::to_string(kEntriesOffset + (index % kRingSize) * kSlotBytes) + " " +
                      std::to_string(sizeof(BlkifResponse))));
    }
    // Waits for the responses up to `count` and returns them.
    std::vector<BlkifResponse> responses(xen::RingIdx count) {
        EXPECT_TRUE(eventually([&] { return rsp_prod() >= count; })) << backend_->log();
        std::vector<BlkifResponse> out;
        for (xen::RingIdx i = 0; i < count; ++i) {
            out.push_back(response(i));
        }
        return out;
    }

    // A whole ring of good reads (ids 1..32) into one page, pushed; the
    // page's grant ref.
    xen::GrantRef fill_ring() {
        const xen::GrantRef page = granted_page();
        for (xen::RingIdx i = 0; i < kRingSize; ++i) {
            put(i, read_request(i + 1, i * 8, page));
        }
        push(kRingSize);
        return page;
    }

    // Waits for a whole ring's answers: ids 1..32, each once.
    void expect_each_answered_once() {
        std::vector<bool> seen(kRingSize + 1, false);
        for (const BlkifResponse& r : responses(kRingSize)) {
            ASSERT_GE(r.id, 1u);
            ASSERT_LE(r.id, kRingSize);
            EXPECT_FALSE(seen[r.id]) << r.id;
            seen[r.id] = true;
        }
    }

    // Pushes the `count` requests put from slot 0 on: each is answered
    // BLKIF_RSP_ERROR but the last, a good one (the ring goes on), okay.
    void expect_refused_but_the_last(xen::RingIdx count) {
        push(count);
        const auto answered = responses(count);
        for (xen::RingIdx i = 0; i + 1 < count; ++i) {
            EXPECT_EQ(answered[i].status, BlkifStatus::error) << answered[i].id;
        }
        EXPECT_EQ(answered.back().status, BlkifStatus::okay);
    }

    static BlkifRequest read_request(std::uint64_t id, std::uint64_t sector, xen::GrantRef ref) {
        BlkifRequest request{};
        request.operation = BlkifOp::read;
        request.nr_segments = 1;
        request.handle = static_cast<xen::BlkifVdev>(xen::vdev_number("xvda"));
        request.id = id;
        request.sector_number = sector;
        request.seg[0] = {ref, 0, 7, {}};
        return request;
    }

    // The backend lives, and the good guest's earlier data and a new write
    // read back intact.
    void expect_no_one_else_hurt() {
        EXPECT_TRUE(backend_->alive()) << backend_->log();
        EXPECT_EQ(good_.ok("blk-read 0 64 1"), "match");
        good_.ok("blk-write 64 64 2");
        EXPECT_EQ(good_.ok("blk-read 64 64 2"), "match");
    }
    // That, and a backend log line names the rogue's vbd with `what`.
    void expect_only_the_rogue_hurt(const std::string& what) {
        expect_no_one_else_hurt();
        EXPECT_TRUE(eventually([&] { return offender_line(what); })) << backend_->log();
    }
    bool offender_line(const std::string& what) {
        const std::string log = backend_->log();
        const std::string ring = paths_.backend + " (dom" + std::to_string(rogue_.domid()) + "): ";
        for (std::size_t at = log.find(ring); at != std::string::npos;
             at = log.find(ring, at + 1)) {
            const std::size_t end = log.find('\n', at);
            if (log.substr(at, end - at).find(what) != std::string::npos) {
                return true;
            }
        }
        return false;
    }

    TestGuest good_;
    TestGuest rogue_;
    VbdPaths paths_;
    std::uint64_t ring_gfn_ = 0;
    std::string port_;
};

// __do_block_io_op: RING_REQUEST_PROD_OVERFLOW(&blk_rings->common, rp)
// ("Frontend provided bogus ring requests ... Halting ring processing"):
// req_prod more than a ring ahead of the responses halts that ring alone.
TEST_F(RogueFrontendTest, AProducerBeyondTheRingHaltsThatRingAlone) {
    connect_rogue_ring();
    push(kRingSize + 1);
    expect_only_the_rogue_hurt("halting ring processing");
    EXPECT_EQ(rsp_prod(), 0u);
}

// dispatch_rw_block_io: xen_vbd_translate refuses a range past the end of
// the disk ("access denied"), and a segment whose last_sect is past the
// page or before first_sect (the "preq.nr_sects" loop's -EINVAL) is an
// error too: each answered BLKIF_RSP_ERROR, the ring going on.
TEST_F(RogueFrontendTest, SectorsPastTheDiskAndBadSegmentsAreAnsweredWithAnError) {
    connect_rogue_ring();
    const xen::GrantRef page = granted_page();
    put(0, read_request(1, kImageSectors, page));
    BlkifRequest backwards = read_request(2, 0, page);
    backwards.seg[0] = {page, 5, 2, {}};
    put(1, backwards);
    BlkifRequest past_page = read_request(3, 0, page);
    past_page.seg[0] = {page, 0, 8, {}};
    put(2, past_page);
    BlkifRequest too_many = read_request(4, 0, page);
    too_many.nr_segments = xen::kBlkifMaxSegmentsPerRequest + 1;
    put(3, too_many);
    put(4, read_request(5, 0, page));
    expect_refused_but_the_last(5);
    expect_only_the_rogue_hurt("request 1 (BLKIF_OP_READ 0): a sector range past the end");
}

// xen_blkbk_map: a grant that does not map (unallocated, read-only for a
// read, which writes into the page: GNTMAP_readonly is set for writes
// only; revoked before the push; granted to another domain) fails the
// request, BLKIF_RSP_ERROR, nothing else.
TEST_F(RogueFrontendTest, GrantsThatDoNotMapAreAnsweredWithAnError) {
    connect_rogue_ring();
    put(0, read_request(1, 0, 4000));  // never allocated
    put(1, read_request(2, 0, granted_page("ro")));
    const xen::GrantRef revoked = granted_page();
    rogue_.ok("end-access " + std::to_string(revoked));
    put(2, read_request(3, 0, revoked));
    // Granted to the good guest, not to dom0.
    const std::uint64_t foreign = rogue_.ok_number("alloc-page");
    put(3, read_request(4, 0,
                        static_cast<xen::GrantRef>(
                            rogue_.ok_number("grant " + std::to_string(good_.domid()) + " " +
                                             std::to_string(foreign) + " rw"))));
    put(4, read_request(5, 0, granted_page()));
    expect_refused_but_the_last(5);
    expect_only_the_rogue_hurt("request 1: grant 4000 of dom" + std::to_string(rogue_.domid()) +
                               " does not map");
}

// __do_block_io_op: RING_COPY_REQUEST copies each request once before it
// is checked (XSA-155): a guest that rewrites a slot after moving req_prod
// gets one answer per request, okay or error, whatever it wrote when.
TEST_F(RogueFrontendTest, ARequestRewrittenAfterThePushIsAnsweredOnce) {
    connect_rogue_ring();
    fill_ring();
    // From the sector on: the first 16 bytes of a slot are where its
    // response goes (blkif_response overlays blkif_request), which the
    // backend may have written already.
    const BlkifRequest rewritten = read_request(999, kImageSectors * 16, 4000);
    for (xen::RingIdx i = 0; i < kRingSize; ++i) {
        put(i, rewritten, offsetof(BlkifRequest, sector_number));
    }
    expect_each_answered_once();
    expect_no_one_else_hurt();
}

// gnttab_end_foreign_access_ref in the guest against xen_blkbk_map in the
// backend: a grant revoked while its request is in flight is either gone
// before the backend maps it (the map fails, BLKIF_RSP_ERROR) or pinned by
// the mapping (the revocation fails), never half: each request is answered
// once, and a grant pinned then is the guest's again after its answer.
TEST_F(RogueFrontendTest, GrantsRevokedWhileTheirRequestsAreInFlightAreAnsweredOnceAndGivenBack) {
    connect_rogue_ring();
    std::vector<xen::GrantRef> pages;
    for (xen::RingIdx i = 0; i < kRingSize; ++i) {
        pages.push_back(granted_page());
        put(i, read_request(i + 1, i * 8, pages.back()));
    }
    push(kRingSize);
    std::vector<std::string> pinned;
    for (const xen::GrantRef page : pages) {
        if (rogue_.ok("end-access " + std::to_string(page)) == "pinned") {
            pinned.push_back(std::to_string(page));
        }
    }
    expect_each_answered_once();
    for (const std::string& page : pinned) {
        EXPECT_TRUE(eventually([&] { return rogue_.ok("end-access " + page) == "ended"; }))
            << page << "\n"
            << backend_->log();
    }
    expect_no_one_else_hurt();
}

// xen_blkbk_parse_indirect and dispatch_rw_block_io's "Bad number of
// segments in request": an indirect request with no segment, more than the
// backend offered (feature-max-indirect-segments), a bad segment inside its
// indirect page or an indirect page that does not map is answered
// BLKIF_RSP_ERROR alone; the ring goes on.
TEST_F(RogueFrontendTest, IndirectRequestsWithBadCountsAreAnsweredWithAnError) {
    connect_rogue_ring();
    const xen::GrantRef data = granted_page();
    std::uint64_t segments_gfn = 0;
    const xen::GrantRef segments = granted_page("rw", &segments_gfn);
    std::array<xen::BlkifRequestSegment, 2> list{};
    list[0] = {data, 0, 7, {}};
    list[1] = {data, 0, 9, {}};  // past its page
    rogue_.ok("write-hex " + std::to_string(segments_gfn) + " 0 " + hex_of(list));
    const auto indirect = [&](std::uint64_t id, std::uint16_t count, xen::GrantRef page) {
        xen::BlkifRequestIndirect request{};
        request.operation = BlkifOp::indirect;
        request.indirect_op = BlkifOp::read;
        request.nr_segments = count;
        request.id = id;
        request.handle = static_cast<xen::BlkifVdev>(xen::vdev_number("xvda"));
        request.indirect_grefs[0] = page;
        return request;
    };
    put(0, indirect(1, 0, segments));
    put(1, indirect(2, 257, segments));  // the backend offers 256
    put(2, indirect(3, 2, segments));
    put(3, indirect(4, 1, 4000));
    put(4, indirect(5, 1, segments));
    expect_refused_but_the_last(5);
    expect_only_the_rogue_hurt("indirect request 3: ");
}

// xen_blkif_be_int only wakes the ring's thread, events coalesce, and
// XSA-332's fix takes the events of a storm late (xen_irq_lateeoi_locked(),
// backend/data_plane/late_eoi.hpp): a flood of notifications with nothing
// on the ring leaves the ring answering, the other guest served, and a
// line naming the rogue's ring.
TEST_F(RogueFrontendTest, ANotificationFloodLeavesTheRingAndTheOtherGuestServed) {
    connect_rogue_ring();
    const xen::GrantRef page = granted_page();
    rogue_.ok("notify " + port_ + " 100000");
    put(0, read_request(1, 0, page));
    push(1);
    EXPECT_EQ(responses(1).at(0).status, BlkifStatus::okay);
    expect_only_the_rogue_hurt("times in a row with no new request on the ring");
}

// frontend_changed(XenbusStateClosed) -> xen_blkif_disconnect, which waits
// for the requests in flight ("xen_blkif_disconnect: ... inflight") before
// it unmaps the ring: a guest that closes with its ring full and never
// reads an answer has its grants given back, and the backend is Closed.
TEST_F(RogueFrontendTest, AGuestThatAbandonsItsRingWithRequestsInFlightGetsItsGrantsBack) {
    connect_rogue_ring();
    const xen::GrantRef page = fill_ring();
    rogue_.ok("xs-write " + paths_.frontend + "/state 6");
    expect_state(paths_.backend + "/state", XenbusState::closed);
    EXPECT_EQ(rogue_.ok("end-access " + std::to_string(page)), "ended");
    expect_no_one_else_hurt();
    EXPECT_NE(backend_->log().find(paths_.backend + ": frontend " + paths_.frontend + " is Closed"),
              std::string::npos)
        << backend_->log();
}

// A guest that dies with requests on its ring (its process killed, as a
// crashed domain's): the backend finishes them into a ring nobody reads
// and serves the other guest as before. The hypervisor names the dead
// domain (Xen's "Domain N crashed" on the console; the backend learns of it
// only when the toolstack tears the vbd down).
TEST_F(RogueFrontendTest, AGuestThatDiesWithRequestsInFlightHurtsNoOneElse) {
    connect_rogue_ring();
    fill_ring();
    rogue_.send("crash");
    EXPECT_TRUE(eventually([&] {
        for (const auto& domain : hv_.control().list()) {
            if (domain.at("domid") == rogue_.domid() && domain.at("state") == "running") {
                return false;
            }
        }
        return true;
    })) << backend_->log();
    expect_no_one_else_hurt();
    EXPECT_NE(hv_.log().find("domain " + std::to_string(rogue_.domid()) + " (rogue) died"),
              std::string::npos)
        << hv_.log();
}

}  // namespace rogue_frontend_test
}  // namespace pvsim::test
