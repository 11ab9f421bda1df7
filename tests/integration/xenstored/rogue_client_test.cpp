// Hostile xenstore clients (DESIGN.md §9 "Rogue-peer tests"): a guest that
// fills its quotas, floods watches, runs a huge transaction or writes
// malformed frames on its ring, against the real pvsim-xenstored beside a
// second guest and a dom0 client of the socket. For each, the rogue is
// refused as C xenstored (Xen 4.17 tools/xenstore/) refuses it, xenstored
// stays up, dom0 and the other guest keep reading and writing what they
// should, and xenstored's log names the rogue domain. A quota given on the
// command line keeps a test short; the defaults are C xenstored's
// (tests/unit/xenstore_store/quotas_test.cpp, QuotaDefaults).
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "common/xen/xs_ring.hpp"
#include "tests/integration/xenstored/guest_ring.hpp"
#include "tests/integration/xenstored/raw_client.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/hypervisor_process.hpp"
#include "tests/support/xenstored_process.hpp"

namespace pvsim::test::rogue_client_test {

using xs::DomainInterface;
using xs::MessageType;

// A hypervisor, its xenstored, the rogue guest and a well-behaved one (both
// introduced, each owning its home), and dom0 on the socket.
struct RogueRun {
    explicit RogueRun(std::vector<std::string> xenstored_args = {})
        : xenstored(hypervisor, std::move(xenstored_args)),
          rogue(hypervisor, "rogue"),
          good(hypervisor, "good"),
          admin(xenstored.socket_path()) {
        for (RingGuest* g : {&rogue, &good}) {
            expect_xs_ok(g->introduce(admin));
            g->give_home(admin);
        }
    }

    bool logged(const std::string& text) const {
        return xenstored.log().find(text) != std::string::npos;
    }
    // Whether one line of xenstored's log names the rogue (as the store's
    // lines do: "dom <N> (connection <M>): ", or the ring's: "dom <N> ring
    // (connection <M>)") and says `what`.
    bool logged_of_rogue(const std::string& what, bool ring_line = false) const {
        const std::string named =
            "dom " + rogue.domid() + (ring_line ? " ring" : "") + " (connection ";
        std::istringstream in(xenstored.log());
        for (std::string line; std::getline(in, line);) {
            if (line.find(named) != std::string::npos && line.find(what) != std::string::npos) {
                return true;
            }
        }
        return false;
    }

    // dom0 and the good guest are served with the right values, and the
    // daemon still runs. `round` makes the values new each time.
    void expect_others_served(const std::string& round) {
        EXPECT_TRUE(xenstored.process().running());
        admin.write("/tool/rogue-test/" + round, "dom0-" + round);
        EXPECT_EQ(RawXsClient(xenstored.socket_path()).read("/tool/rogue-test/" + round),
                  "dom0-" + round);
        std::string write = xs_args({"mine-" + round});
        write += "good-" + round;
        expect_xs_ok(good.ring.request(MessageType::write, write));
        EXPECT_EQ(admin.read(good.home() + "/mine-" + round), "good-" + round);
        admin.write(good.home() + "/from-dom0-" + round, "to-good-" + round);
        EXPECT_EQ(good.ring.request(MessageType::read, xs_args({"from-dom0-" + round})).payload,
                  "to-good-" + round);
        EXPECT_FALSE(logged("dom " + good.domid() + " (connection ")) << xenstored.log();
    }

    HypervisorProcess hypervisor;
    XenstoredProcess xenstored;
    RingGuest rogue;
    RingGuest good;
    RawXsClient admin;
};

std::string write_payload(const std::string& path, const std::string& value) {
    return xs_args({path}) + value;
}

TEST(RogueClient, AGuestAtItsNodeAndNodeSizeQuotasIsRefusedAndNamed) {
    RogueRun run({"--entry-nb", "10"});
    // Nodes: its home is one of its 10; then ENOSPC (C xenstored answers a
    // node quota with ENOSPC: tools/xenstore/xenstored_core.c create_node()).
    int created = 0;
    std::optional<XsMessage> refused;
    for (int i = 0; i < 20 && !refused; ++i) {
        const XsMessage reply =
            run.rogue.ring.request(MessageType::write, write_payload("n" + std::to_string(i), "v"));
        if (reply.type() == MessageType::error) {
            refused = reply;
        } else {
            ++created;
        }
    }
    ASSERT_TRUE(refused.has_value());
    expect_xs_error(*refused, "ENOSPC");
    EXPECT_EQ(created, 9);
    // Node size: C xenstored 4.17's quota_max_entry_size, 2048 bytes,
    // counting 16 bytes of header, 8 per permission, the value and the
    // children's names: one permission leaves 2024 bytes of value.
    expect_xs_ok(
        run.rogue.ring.request(MessageType::write, write_payload("n0", std::string(2024, 'v'))));
    expect_xs_error(
        run.rogue.ring.request(MessageType::write, write_payload("n0", std::string(2025, 'v'))),
        "ENOSPC");
    EXPECT_EQ(run.admin.read(run.rogue.home() + "/n0"), std::string(2024, 'v'));

    EXPECT_TRUE(run.logged_of_rogue("XS_WRITE refused with ENOSPC: at its nodes quota of 10"))
        << run.xenstored.log();
    EXPECT_TRUE(run.logged_of_rogue("XS_WRITE refused with ENOSPC: at its node-size quota of 2048"))
        << run.xenstored.log();
    // The good guest has its own 10 nodes: it is not refused.
    run.expect_others_served("a");
    run.expect_others_served("b");
}

// XSA-326's attack: a guest within its node quotas makes xenstored hold
// more by what it writes inside transactions, whose copies C xenstored 4.17
// charges to it (core.c: do_tdb_write(), get_acc_domid()) against its
// memory quota (domain.c: domain_chk_quota(); -Q memory=, 2.5 MiB by
// default; the soft one, -q memory=, 2 MiB, is only logged). The write that
// would reach it is refused with ENOMEM and dooms the transaction.
TEST(RogueClient, AGuestHoardingStoreMemoryIsRefusedWithEnomemAndNamed) {
    RogueRun run({"--quota", "memory=65536", "--quota-soft", "memory=32768"});
    RingGuest& rogue = run.rogue;
    const std::string old_value(2000, 'o');
    for (int i = 0; i < 17; ++i) {  // each about 2 KiB: 34 KiB in all
        expect_xs_ok(rogue.ring.request(MessageType::write,
                                        write_payload("m/" + std::to_string(i), old_value)));
    }
    EXPECT_TRUE(eventually([&] {
        return run.logged("dom " + rogue.domid() + " holds ") &&
               run.logged("over its soft memory quota of 32768");
    })) << run.xenstored.log();

    const XsMessage started = rogue.ring.request(MessageType::transaction_start, xs_args({""}));
    ASSERT_EQ(started.type(), MessageType::transaction_start) << started.text();
    const auto tx = static_cast<std::uint32_t>(std::stoul(started.text()));
    std::optional<XsMessage> refused;
    int copies = 0;
    for (; copies < 17 && !refused; ++copies) {
        const XsMessage reply = rogue.ring.request(
            MessageType::write,
            write_payload("m/" + std::to_string(copies), std::string(2000, 'n')), tx);
        if (reply.type() == MessageType::error) {
            refused = reply;
        }
    }
    ASSERT_TRUE(refused.has_value()) << "17 copies of 2 KiB were all taken";
    expect_xs_error(*refused, "ENOMEM");
    EXPECT_GT(copies, 10);  // about 30 KiB of copies fit beside the 34 KiB of nodes
    expect_xs_error(rogue.ring.request(MessageType::transaction_end, xs_args({"T"}), tx), "ENOMEM");
    EXPECT_EQ(run.admin.read(rogue.home() + "/m/0"), old_value);
    EXPECT_TRUE(run.logged_of_rogue("XS_WRITE refused with ENOMEM: at its memory quota of 65536"))
        << run.xenstored.log();
    // Its store memory is what its nodes take again: it may go on writing.
    expect_xs_ok(rogue.ring.request(MessageType::write, write_payload("m/0", "small")));
    run.expect_others_served("a");
    run.expect_others_served("b");
}

TEST(RogueClient, AWatchFloodIsBoundedAndNamedWhileOthersHearTheirEvents) {
    // C xenstored 4.17: quota-max-watch (-W) refuses with E2BIG; watch
    // events a domain does not take within the watch-event timeout (-w /
    // --timeout watch-event=, 20 s by default) are dropped.
    RogueRun run({"--watch-nb", "8", "--timeout", "watch-event=1"});
    RingGuest& rogue = run.rogue;
    expect_xs_ok(rogue.ring.request(MessageType::watch, xs_args({"data", "flood"})));
    for (int i = 1; i < 8; ++i) {
        expect_xs_ok(
            rogue.ring.request(MessageType::watch, xs_args({"w" + std::to_string(i), "t"})));
    }
    expect_xs_error(rogue.ring.request(MessageType::watch, xs_args({"w8", "t"})), "E2BIG");
    EXPECT_TRUE(run.logged_of_rogue("XS_WATCH refused with E2BIG: at its watches quota of 8"))
        << run.xenstored.log();

    // The good guest watches its own data and takes its first event.
    expect_xs_ok(run.good.ring.request(MessageType::watch, xs_args({"data", "mine"})));
    ASSERT_TRUE(run.good.ring.next_event().has_value());

    // Far more events for the rogue than its response ring holds (one
    // commit changing 100 nodes: one event each), which it never takes.
    const XsMessage started = run.admin.request(MessageType::transaction_start, xs_args({""}));
    const auto tx = static_cast<std::uint32_t>(std::stoul(started.text()));
    for (int i = 0; i < 100; ++i) {
        expect_xs_ok(run.admin.request(
            MessageType::write, write_payload(rogue.home() + "/data/y" + std::to_string(i), "1"),
            tx));
    }
    expect_xs_ok(run.admin.request(MessageType::transaction_end, xs_args({"T"}), tx));

    // Meanwhile the good guest hears of its own change, and only of it.
    run.admin.write(run.good.home() + "/data/now", "1");
    const std::optional<XsMessage> event = run.good.ring.next_event();
    ASSERT_TRUE(event.has_value());
    EXPECT_EQ(event->payload, xs_args({"data/now", "mine"}));
    run.expect_others_served("a");

    // The rogue's events go once the timeout has passed, and xenstored says
    // whose they were.
    EXPECT_TRUE(eventually([&] {
        return run.logged_of_rogue(" watch events not taken within 1000 ms (", true);
    })) << run.xenstored.log();
    run.expect_others_served("b");
}

TEST(RogueClient, AHugeTransactionIsDoomedAndTooManyAreRefused) {
    // C xenstored 4.17: quota-trans-nodes (default 1024) fails the request
    // with ENOSPC and dooms the transaction, whose commit is ENOMEM
    // (transaction.c); quota-max-transaction (default 10) refuses the next
    // XS_TRANSACTION_START with ENOSPC.
    RogueRun run({"--quota", "transaction-nodes=16"});
    RingGuest& rogue = run.rogue;
    const XsMessage started = rogue.ring.request(MessageType::transaction_start, xs_args({""}));
    ASSERT_EQ(started.type(), MessageType::transaction_start) << started.text();
    const auto tx = static_cast<std::uint32_t>(std::stoul(started.text()));
    std::optional<XsMessage> refused;
    int writes = 0;
    // Each write touches at least its own node: the 17th distinct node comes
    // within 17 writes.
    while (!refused && writes < 17) {
        const XsMessage reply = rogue.ring.request(
            MessageType::write, write_payload("t/" + std::to_string(writes), "v"), tx);
        ++writes;
        if (reply.type() == MessageType::error) {
            refused = reply;
        }
    }
    ASSERT_TRUE(refused.has_value());
    expect_xs_error(*refused, "ENOSPC");
    expect_xs_error(rogue.ring.request(MessageType::transaction_end, xs_args({"T"}), tx), "ENOMEM");
    expect_xs_error(run.admin.request(MessageType::read, xs_args({rogue.home() + "/t"})), "ENOENT");
    EXPECT_TRUE(
        run.logged_of_rogue("XS_WRITE refused with ENOSPC: at its transaction-nodes quota of 16"))
        << run.xenstored.log();

    // Ten open transactions, and no eleventh.
    for (int i = 0; i < 10; ++i) {
        const XsMessage reply = rogue.ring.request(MessageType::transaction_start, xs_args({""}));
        ASSERT_EQ(reply.type(), MessageType::transaction_start) << i << ": " << reply.text();
    }
    expect_xs_error(rogue.ring.request(MessageType::transaction_start, xs_args({""})), "ENOSPC");
    EXPECT_TRUE(
        run.logged_of_rogue("XS_TRANSACTION_START refused with ENOSPC: at its "
                            "transactions quota of 10"))
        << run.xenstored.log();

    // The good guest's transaction commits.
    const XsMessage mine = run.good.ring.request(MessageType::transaction_start, xs_args({""}));
    const auto good_tx = static_cast<std::uint32_t>(std::stoul(mine.text()));
    expect_xs_ok(run.good.ring.request(MessageType::write, write_payload("in-tx", "yes"), good_tx));
    expect_xs_ok(run.good.ring.request(MessageType::transaction_end, xs_args({"T"}), good_tx));
    EXPECT_EQ(run.admin.read(run.good.home() + "/in-tx"), "yes");
    run.expect_others_served("a");
}

TEST(RogueClient, MalformedFramesOnItsRingAreRefusedThenItsRingIsStopped) {
    RogueRun run;
    GuestRing& ring = run.rogue.ring;
    // An unknown type: ENOSYS, and C xenstored's process_message() logs
    // "Client unknown operation"; the ring goes on.
    expect_xs_error(ring.request(static_cast<MessageType>(99), ""), "ENOSYS");
    EXPECT_TRUE(run.logged_of_rogue("unknown request type 99: ENOSYS")) << run.xenstored.log();
    // An argument without its NUL, and names is_valid_nodename() refuses
    // (core.c: a "//", a trailing "/", characters outside alnum and "-/_@"):
    // EINVAL.
    expect_xs_error(ring.request(MessageType::read, "data"), "EINVAL");
    for (const char* bad : {"a//b", "a/", "a b", "../0"}) {
        expect_xs_error(ring.request(MessageType::write, write_payload(bad, "v")), "EINVAL");
    }
    EXPECT_TRUE(run.logged("(domain " + run.rogue.domid() + "): XS_WRITE: EINVAL"))
        << run.xenstored.log();
    expect_xs_ok(ring.request(MessageType::write, write_payload("still", "served")));
    run.expect_others_served("a");

    // A payload longer than XENSTORE_PAYLOAD_MAX (4096, xs_wire.h): C
    // xenstored's read_message() "Client tried to feed us" and
    // ignore_connection(): the ring is stopped with XENSTORE_ERROR_PROTO in
    // its page, the domain stays introduced.
    ring.put(
        xs_header_bytes(static_cast<std::uint32_t>(MessageType::read), 1, 0, xs::kPayloadMax + 1));
    ring.notify();
    EXPECT_TRUE(eventually([&] { return ring.field(&DomainInterface::error) == xs::kErrorProto; }));
    EXPECT_TRUE(eventually([&] { return run.logged_of_rogue(") stopped: ", true); }))
        << run.xenstored.log();
    EXPECT_EQ(
        run.admin.request(MessageType::is_domain_introduced, xs_args({run.rogue.domid()})).payload,
        xs_args({"T"}));
    EXPECT_EQ(run.admin.read(run.rogue.home() + "/still"), "served");
    run.expect_others_served("b");
}

}  // namespace pvsim::test::rogue_client_test
