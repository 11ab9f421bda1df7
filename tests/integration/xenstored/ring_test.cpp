// Guests' rings (DESIGN.md §1, §4): pvsim-xenstored beside a real
// pvsim-hypervisor, a real guest process whose xenstore page and store
// event channel the hypervisor made, XS_INTRODUCE from a dom0 client, and
// the guest's requests on its ring. Behaviour as C xenstored's domain.c:
// introduce maps and binds, @introduceDomain / @releaseDomain fire, a guest
// that dies is forgotten (VIRQ_DOM_EXC), broken rings stop with `error`
// set, and a guest that does not take its replies is not read from once it
// has its quota of outstanding requests.
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/xen/xs_ring.hpp"
#include "tests/integration/xenstored/guest_ring.hpp"
#include "tests/integration/xenstored/raw_client.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/hypervisor_process.hpp"
#include "tests/support/thread_state.hpp"
#include "tests/support/xenstored_process.hpp"

namespace pvsim::test {
namespace {

using namespace std::chrono_literals;
using xs::DomainInterface;

// A hypervisor, its xenstored, one guest and a dom0 client of the socket.
struct GuestRun {
    explicit GuestRun(std::vector<std::string> xenstored_args = {})
        : xenstored(hypervisor, std::move(xenstored_args)),
          one(hypervisor, "guest"),
          admin(xenstored.socket_path()) {}

    std::string domid() const { return one.domid(); }
    std::string home() const { return one.home(); }

    XsMessage introduce() { return one.introduce(admin); }
    bool introduced() {
        return admin.request(xs::MessageType::is_domain_introduced, xs_args({domid()})).payload ==
               xs_args({"T"});
    }
    // What a toolstack does: the guest's home, owned by the guest.
    void give_home() { one.give_home(admin); }
    // Nothing that an event sent before this call woke xenstored for is
    // still under way: the guest's send writes xenstored's eventfd before it
    // returns, which makes a thread polling it runnable until it is done.
    bool xenstored_waits() { return all_threads_blocked(xenstored.process().pid()); }
    static void expect_ok(const XsMessage& reply) { expect_xs_ok(reply); }

    HypervisorProcess hypervisor;
    XenstoredProcess xenstored;
    RingGuest one;
    TestGuest& guest = one.guest;
    GuestRing& ring = one.ring;
    RawXsClient admin;
};

void expect_error(const XsMessage& reply, std::string_view error) {
    expect_xs_error(reply, error);
}

TEST(XenstoredRing, GuestRequestsAreAnsweredOnItsRing) {
    GuestRun run;
    GuestRun::expect_ok(run.introduce());
    run.give_home();
    EXPECT_EQ(run.ring.field(&DomainInterface::server_features), xs::kServerFeatureError);
    EXPECT_EQ(run.ring.field(&DomainInterface::connection), xs::kConnected);

    // A relative path is the guest's own home.
    std::string write = xs_args({"data/x"});
    write += "from the guest";
    GuestRun::expect_ok(run.ring.request(xs::MessageType::write, write));
    EXPECT_EQ(run.admin.read(run.home() + "/data/x"), "from the guest");
    const XsMessage read = run.ring.request(xs::MessageType::read, xs_args({"data/x"}));
    EXPECT_EQ(read.type(), xs::MessageType::read);
    EXPECT_EQ(read.payload, "from the guest");
    const XsMessage path =
        run.ring.request(xs::MessageType::get_domain_path, xs_args({run.domid()}));
    EXPECT_EQ(path.payload, xs_args({run.home()}));
    EXPECT_EQ(run.ring.field(&DomainInterface::error), xs::kErrorNone);
}

TEST(XenstoredRing, GuestIsConfinedToWhatItMayAccess) {
    GuestRun run;
    GuestRun::expect_ok(run.introduce());
    run.admin.write("/tool/secret", "dom0's");
    expect_error(run.ring.request(xs::MessageType::read, xs_args({"/tool/secret"})), "EACCES");
    std::string write = xs_args({"/tool/secret"});
    write += "mine now";
    expect_error(run.ring.request(xs::MessageType::write, write), "EACCES");
    // Privileged requests are not a guest's.
    expect_error(run.ring.request(xs::MessageType::introduce, xs_args({"9", "0", "1"})), "EACCES");
    EXPECT_EQ(run.admin.read("/tool/secret"), "dom0's");
}

TEST(XenstoredRing, WatchEventsReachTheGuest) {
    GuestRun run;
    GuestRun::expect_ok(run.introduce());
    run.give_home();
    GuestRun::expect_ok(run.ring.request(xs::MessageType::watch, xs_args({"data", "tok"})));
    // The event registration fires, with the path as the guest gave it.
    std::optional<XsMessage> first = run.ring.next_event();
    ASSERT_TRUE(first.has_value());
    EXPECT_EQ(first->payload, xs_args({"data", "tok"}));
    // A dom0 write below it: the event comes with no request of the guest's.
    run.admin.write(run.home() + "/data/y", "2");
    std::optional<XsMessage> event = run.ring.next_event();
    ASSERT_TRUE(event.has_value());
    EXPECT_EQ(event->type(), xs::MessageType::watch_event);
    EXPECT_EQ(event->payload, xs_args({"data/y", "tok"}));
}

TEST(XenstoredRing, IntroductionAndDeathFireTheSpecialWatches) {
    GuestRun run;
    RawXsClient watcher(run.xenstored.socket_path());
    GuestRun::expect_ok(
        watcher.request(xs::MessageType::watch, xs_args({"@introduceDomain", "in"})));
    GuestRun::expect_ok(
        watcher.request(xs::MessageType::watch, xs_args({"@releaseDomain", "out"})));
    EXPECT_EQ(watcher.next_event()->payload, xs_args({"@introduceDomain", "in"}));
    EXPECT_EQ(watcher.next_event()->payload, xs_args({"@releaseDomain", "out"}));

    EXPECT_FALSE(run.introduced());
    GuestRun::expect_ok(run.introduce());
    EXPECT_EQ(watcher.next_event()->payload, xs_args({"@introduceDomain", "in"}));
    EXPECT_TRUE(run.introduced());
    run.give_home();
    run.admin.write(run.home() + "/name", "guest");

    // The guest dies: the hypervisor raises VIRQ_DOM_EXC and xenstored
    // finds the domain gone (domain.c check_domains()).
    run.guest.send("crash");
    const std::optional<XsMessage> released = watcher.next_event(30s);
    ASSERT_TRUE(released.has_value());
    EXPECT_EQ(released->payload, xs_args({"@releaseDomain", "out"}));
    EXPECT_FALSE(run.introduced());
    // What the domain owned went with it.
    expect_error(run.admin.request(xs::MessageType::read, xs_args({run.home() + "/name"})),
                 "ENOENT");
}

TEST(XenstoredRing, ReleaseStopsTheRingAndAnIntroductionStartsItAgain) {
    GuestRun run;
    GuestRun::expect_ok(run.introduce());
    const XsMessage before =
        run.ring.request(xs::MessageType::get_domain_path, xs_args({run.domid()}));
    EXPECT_EQ(before.payload, xs_args({run.home()}));

    GuestRun::expect_ok(run.admin.request(xs::MessageType::release, xs_args({run.domid()})));
    EXPECT_FALSE(run.introduced());
    // Released: what the guest writes now stays in its ring.
    const std::uint32_t req_id = run.ring.send(xs::MessageType::get_domain_path, xs_args({"0"}));
    ASSERT_TRUE(eventually([&] { return run.xenstored_waits(); }));
    EXPECT_FALSE(run.ring.receive(0ms).has_value());

    // Introduced again, the request it had queued is answered.
    GuestRun::expect_ok(run.introduce());
    const std::optional<XsMessage> reply = run.ring.receive();
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->header.req_id, req_id);
    EXPECT_EQ(reply->payload, xs_args({"/local/domain/0"}));
}

TEST(XenstoredRing, SecondIntroductionStartsTheRingOver) {
    GuestRun run;
    GuestRun::expect_ok(run.introduce());
    run.give_home();
    GuestRun::expect_ok(run.ring.request(xs::MessageType::watch, xs_args({"data", "tok"})));
    ASSERT_TRUE(run.ring.next_event().has_value());
    EXPECT_NE(run.ring.field(&DomainInterface::req_prod), 0u);

    // Introduced again (domain.c do_introduce + domain_conn_reset).
    GuestRun::expect_ok(run.introduce());
    EXPECT_EQ(run.ring.field(&DomainInterface::req_cons), 0u);
    EXPECT_EQ(run.ring.field(&DomainInterface::req_prod), 0u);
    EXPECT_EQ(run.ring.field(&DomainInterface::rsp_cons), 0u);
    EXPECT_EQ(run.ring.field(&DomainInterface::rsp_prod), 0u);
    EXPECT_TRUE(run.introduced());

    // The ring works from the start, and the old watch is gone: an event
    // of the write, queued to the guest as the write was made, would have
    // come before the reply to the read made after it (request() keeps the
    // events that come while it waits).
    run.admin.write(run.home() + "/data/z", "1");
    const XsMessage read = run.ring.request(xs::MessageType::read, xs_args({"data/z"}));
    EXPECT_EQ(read.payload, "1");
    EXPECT_FALSE(run.ring.next_event(0ms).has_value());
}

TEST(XenstoredRing, BrokenIndicesStopTheRingWithAnError) {
    GuestRun run;
    GuestRun::expect_ok(run.introduce());
    ASSERT_EQ(run.ring.request(xs::MessageType::get_domain_path, xs_args({"0"})).type(),
              xs::MessageType::get_domain_path);
    // A producer index more than a ring ahead of the consumer's.
    const std::uint32_t cons = run.ring.field(&DomainInterface::req_cons);
    run.ring.set_field(&DomainInterface::req_prod, cons + 2 * xs::kRingSize);
    run.ring.notify();
    EXPECT_TRUE(
        eventually([&] { return run.ring.field(&DomainInterface::error) == xs::kErrorRingIdx; }));
    // The domain stays introduced (C xenstored ignores the connection until
    // the domain goes), and everyone else is served.
    EXPECT_TRUE(run.introduced());
    run.admin.write("/tool/after", "fine");
    EXPECT_EQ(RawXsClient(run.xenstored.socket_path()).read("/tool/after"), "fine");
    // Mended indices do not bring the ring back.
    run.ring.set_field(&DomainInterface::req_prod, cons);
    run.ring.send(xs::MessageType::get_domain_path, xs_args({"0"}));
    ASSERT_TRUE(eventually([&] { return run.xenstored_waits(); }));
    EXPECT_FALSE(run.ring.receive(0ms).has_value());
    EXPECT_NE(run.xenstored.log().find("broken indexes"), std::string::npos) << run.xenstored.log();
}

TEST(XenstoredRing, OversizedHeaderOnTheRingIsAProtocolError) {
    GuestRun run;
    GuestRun::expect_ok(run.introduce());
    run.ring.put(xs_header_bytes(static_cast<std::uint32_t>(xs::MessageType::read), 1, 0,
                                 xs::kPayloadMax + 1));
    run.ring.notify();
    EXPECT_TRUE(
        eventually([&] { return run.ring.field(&DomainInterface::error) == xs::kErrorProto; }));
    EXPECT_TRUE(run.introduced());
    EXPECT_EQ(run.admin.request(xs::MessageType::get_domain_path, xs_args({"0"})).payload,
              xs_args({"/local/domain/0"}));
}

// Six reads of a 1000-byte value, queued at once by a guest that then does
// not take the replies: one reply and a bit fit the response ring.
struct StalledReader {
    static constexpr int kRequests = 6;
    static constexpr std::size_t kValueSize = 1000;

    explicit StalledReader(GuestRun& run) : run_(run) {
        GuestRun::expect_ok(run.introduce());
        run.give_home();
        run.admin.write(run.home() + "/big", std::string(kValueSize, 'v'));
        std::string requests;
        for (int i = 1; i <= kRequests; ++i) {
            requests += GuestRing::request_bytes(xs::MessageType::read,
                                                 static_cast<std::uint32_t>(i), xs_args({"big"}));
        }
        run.ring.put(requests);
        run.ring.notify();
        // The response ring fills up...
        EXPECT_TRUE(eventually([&] {
            return run.ring.field(&DomainInterface::rsp_prod) -
                       run.ring.field(&DomainInterface::rsp_cons) ==
                   xs::kRingSize;
        }));
        // ...and xenstored settles: it has nothing left to do until the
        // guest takes replies. It serves every connection on one thread, a
        // round of a connection in one handler (and a round a reply that
        // went out scheduled, before it), so once it has answered a request
        // sent after the ring was full, the rounds that filled it are over.
        (void)run.admin.read(run.home() + "/big");
    }

    std::uint32_t unread_requests() {
        return run_.ring.field(&DomainInterface::req_prod) -
               run_.ring.field(&DomainInterface::req_cons);
    }

    // The guest finally takes its replies: all six, in order.
    void expect_all_replies() {
        for (int i = 1; i <= kRequests; ++i) {
            const std::optional<XsMessage> reply = run_.ring.receive();
            ASSERT_TRUE(reply.has_value()) << "reply " << i;
            EXPECT_EQ(reply->header.req_id, static_cast<std::uint32_t>(i));
            EXPECT_EQ(reply->payload, std::string(kValueSize, 'v'));
        }
        EXPECT_EQ(unread_requests(), 0u);
    }

    GuestRun& run_;
};

TEST(XenstoredRing, OutstandingQuotaLeavesRequestsInTheRingOfAGuestThatDoesNotRead) {
    GuestRun run({"--quota", "outstanding=2"});
    StalledReader reader(run);
    // Two replies are pending (one half written), so no more requests are
    // taken: the rest stay in the guest's ring (all are taken within the
    // quota: WithinTheQuotaEveryRequestIsTakenAtOnce).
    EXPECT_GT(reader.unread_requests(), 0u);
    reader.expect_all_replies();
    // Other clients were served all along.
    EXPECT_EQ(run.admin.read(run.home() + "/big").size(), StalledReader::kValueSize);
}

TEST(XenstoredRing, WithinTheQuotaEveryRequestIsTakenAtOnce) {
    GuestRun run;  // the default quota: 20 outstanding requests
    StalledReader reader(run);
    EXPECT_EQ(reader.unread_requests(), 0u);
    reader.expect_all_replies();
}

TEST(XenstoredRing, WatchEventsAGuestDoesNotTakeAreDroppedAfterTheTimeout) {
    GuestRun run({"--timeout", "watch-event=1"});
    GuestRun::expect_ok(run.introduce());
    run.give_home();
    GuestRun::expect_ok(run.ring.request(xs::MessageType::watch, xs_args({"data", "tok"})));
    ASSERT_TRUE(run.ring.next_event().has_value());

    // Far more events than the response ring holds, all queued at once (one
    // commit changing every node: one event each), and a guest that does
    // not take them until xenstored says the timeout went by.
    constexpr int kWrites = 100;
    const XsMessage started = run.admin.request(xs::MessageType::transaction_start, xs_args({""}));
    const auto tx = static_cast<std::uint32_t>(std::stoul(started.text()));
    for (int i = 0; i < kWrites; ++i) {
        std::string write = xs_args({run.home() + "/data/y" + std::to_string(i)});
        write += "1";
        GuestRun::expect_ok(run.admin.request(xs::MessageType::write, write, tx));
    }
    GuestRun::expect_ok(run.admin.request(xs::MessageType::transaction_end, xs_args({"T"}), tx));
    const std::string dropped_line = " watch events not taken within 1000 ms (";
    ASSERT_TRUE(eventually([&] {
        return run.xenstored.log().find(dropped_line) != std::string::npos;
    })) << run.xenstored.log();
    const std::string log = run.xenstored.log();
    const int first_dropped = std::stoi(log.substr(log.find(dropped_line) + dropped_line.size()));

    // The guest takes what is left, up to an event written after all
    // this: what fitted in the ring (and the event begun in it) comes, the
    // expired events, never begun, do not; and the watch itself lives on.
    run.admin.write(run.home() + "/data/after", "1");
    int received = 0;
    for (;;) {
        const std::optional<XsMessage> event = run.ring.next_event();
        ASSERT_TRUE(event.has_value()) << "after " << received << " events";
        if (event->payload == xs_args({"data/after", "tok"})) {
            break;
        }
        EXPECT_EQ(event->payload.rfind("data/y", 0), 0u) << event->payload;
        ++received;
    }
    EXPECT_GT(first_dropped, 0);
    EXPECT_GT(received, 0);
    EXPECT_LE(received + first_dropped, kWrites);
}

TEST(XenstoredRing, IntroduceWithWhatCannotBeMappedOrBoundIsAnError) {
    GuestRun run;
    // A port the guest never allocated.
    expect_error(run.admin.request(xs::MessageType::introduce,
                                   xs_args({run.domid(), std::to_string(run.ring.gfn()),
                                            std::to_string(run.ring.port() + 100)})),
                 "EINVAL");
    // A domain that does not exist.
    expect_error(run.admin.request(xs::MessageType::introduce, xs_args({"999", "0", "1"})),
                 "EINVAL");
    // A frame past the guest's memory.
    expect_error(run.admin.request(xs::MessageType::introduce,
                                   xs_args({run.domid(), std::to_string(1ull << 30),
                                            std::to_string(run.ring.port())})),
                 "EINVAL");
    EXPECT_FALSE(run.introduced());
    // Nothing was left half done: the right arguments work.
    GuestRun::expect_ok(run.introduce());
    EXPECT_EQ(run.ring.request(xs::MessageType::get_domain_path, xs_args({"0"})).payload,
              xs_args({"/local/domain/0"}));
}

TEST(XenstoredRing, LosingTheHypervisorStopsTheDaemonAsTheHostIsDown) {
    GuestRun run;
    GuestRun::expect_ok(run.introduce());
    run.hypervisor.stop();
    // DESIGN.md §1, "The host": xenstored ends with its hypervisor, saying so.
    const os::ExitStatus status = run.xenstored.process().wait();
    EXPECT_EQ(status.describe(), "exited with status 1");
    EXPECT_NE(run.xenstored.log().find("lost the hypervisor"), std::string::npos)
        << run.xenstored.log();
    EXPECT_FALSE(std::filesystem::exists(run.xenstored.socket_path()));
}

}  // namespace
}  // namespace pvsim::test
