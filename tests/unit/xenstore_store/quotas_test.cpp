// Per-domain quotas (C xenstored's hard_quotas in domain.c): what a guest
// hits, with the errno C xenstored answers, and dom0 never does.
#include "store_fixture.hpp"
#include "tests/support/log_capture.hpp"

namespace pvsim::xenstore::store::test {
namespace {

class Quota : public StoreTest {
  protected:
    // What XS_CONTROL "quota <domid>" reports as the domain's memory.
    std::size_t memory_used(xen::DomId domid) {
        const std::string usage =
            request(kDom0, MessageType::control, "quota\0"s + std::to_string(domid) + '\0').payload;
        const std::size_t at = usage.find("memory           :");
        EXPECT_NE(at, std::string::npos) << usage;
        return at == std::string::npos ? 0 : std::stoul(usage.substr(at + 18));
    }
};

TEST(QuotaDefaults, AreThoseOfCXenstored) {
    // Xen 4.17 tools/xenstore/xenstored_core.c: quota_nb_entry_per_domain,
    // quota_max_entry_size, quota_nb_watch_per_domain, quota_max_transaction,
    // quota_req_outstanding, quota_nb_perms_per_node, quota_trans_nodes,
    // quota_memory_per_domain_soft and quota_memory_per_domain_hard.
    const Quotas quotas;
    EXPECT_EQ(quotas.nodes, 1000u);
    EXPECT_EQ(quotas.node_size, 2048u);
    EXPECT_EQ(quotas.watches, 128u);
    EXPECT_EQ(quotas.transactions, 10u);
    EXPECT_EQ(quotas.outstanding_requests, 20u);
    EXPECT_EQ(quotas.node_permissions, 5u);
    EXPECT_EQ(quotas.transaction_nodes, 1024u);
    EXPECT_EQ(quotas.memory_soft, 2u * 1024 * 1024);
    EXPECT_EQ(quotas.memory_hard, 2u * 1024 * 1024 + 512 * 1024);
}

TEST_F(Quota, ARefusalNamesTheDomainAndTheQuotaOnceAsAWarning) {
    pvsim::test::LogCapture log;
    quotas_.nodes = 2;
    quotas_.watches = 1;
    const ConnectionId guest = add_guest(1);  // owns its home: 1 node
    const ConnectionId other = add_guest(2);
    write(guest, "a", "");
    EXPECT_EQ(request(guest, MessageType::write, "b\0"s).error(), "ENOSPC");
    EXPECT_EQ(request(guest, MessageType::mkdir, "c\0"s).error(), "ENOSPC");
    watch(guest, "a", "t");
    EXPECT_EQ(request(guest, MessageType::watch, "b\0t\0"s).error(), "E2BIG");
    EXPECT_EQ(log.warnings_with({"dom 1 ", "XS_WRITE refused with ENOSPC: at its nodes quota of 2"})
                  .size(),
              1u);
    // The same quota again: not another warning.
    EXPECT_TRUE(log.warnings_with({"XS_MKDIR"}).empty());
    EXPECT_EQ(
        log.warnings_with({"dom 1 ", "XS_WATCH refused with E2BIG: at its watches quota of 1"})
            .size(),
        1u);
    // Another domain at the same quota is named on its own.
    write(other, "a", "");
    EXPECT_EQ(request(other, MessageType::write, "b\0"s).error(), "ENOSPC");
    EXPECT_EQ(log.warnings_with({"dom 2 ", "nodes quota"}).size(), 1u);
    // dom0 is at no quota.
    write(kDom0, "/local/domain/1/x/y/z", "");
    EXPECT_TRUE(log.warnings_with({"dom 0 "}).empty());
}

TEST_F(Quota, NodesAGuestOwns) {
    quotas_.nodes = 4;
    const ConnectionId guest = add_guest(1);  // owns its home: 1 node
    write(guest, "a", "");
    write(guest, "b", "");
    // Two missing nodes where one is left: nothing is created.
    EXPECT_EQ(request(guest, MessageType::write, "c/d\0"s).error(), "ENOSPC");
    EXPECT_EQ(request(guest, MessageType::read, "c\0"s).error(), "ENOENT");
    write(guest, "c", "");
    EXPECT_EQ(request(guest, MessageType::write, "e\0"s).error(), "ENOSPC");
    EXPECT_EQ(request(guest, MessageType::mkdir, "e\0"s).error(), "ENOSPC");
    // Changing existing nodes is fine, and removing makes room.
    write(guest, "a", "changed");
    EXPECT_TRUE(request(guest, MessageType::rm, "b\0"s).is_ok());
    write(guest, "e", "");
    // dom0 creates what it likes, even nodes the guest then owns.
    write(kDom0, "/local/domain/1/from-dom0/x", "");
    EXPECT_EQ(request(kDom0, MessageType::get_perms, "/local/domain/1/from-dom0/x\0"s).payload,
              "n1\0"s);
}

TEST_F(Quota, NodesCreatedInsideATransaction) {
    quotas_.nodes = 3;
    const ConnectionId guest = add_guest(1);
    const std::uint32_t tx = start_transaction(guest);
    write(guest, "a", "", tx);
    write(guest, "b", "", tx);
    EXPECT_EQ(request(guest, MessageType::write, "c\0"s, tx).error(), "ENOSPC");
    EXPECT_EQ(end_transaction(guest, tx, true), "");
}

TEST_F(Quota, NodesAreCheckedAgainAtCommit) {
    quotas_.nodes = 3;
    const ConnectionId guest = add_guest(1);
    write(guest, "dir", "");
    const std::uint32_t tx = start_transaction(guest);
    write(guest, "dir/x", "", tx);              // 3 of 3 as the transaction sees it
    write(kDom0, "/local/domain/1/other", "");  // the guest's too, outside the transaction
    EXPECT_EQ(end_transaction(guest, tx, true), "ENOSPC");
    EXPECT_EQ(request(kDom0, MessageType::read, "/local/domain/1/dir/x\0"s).error(), "ENOENT");
}

TEST_F(Quota, NodeSizeCountsHeaderPermsValueAndChildren) {
    quotas_.node_size = 100;
    const ConnectionId guest = add_guest(1);
    // 16 header + 8 for "n1" + 76 bytes of value = 100.
    write(guest, "fits", std::string(76, 'v'));
    EXPECT_EQ(request(guest, MessageType::write, "big\0"s + std::string(77, 'v')).error(),
              "ENOSPC");
    EXPECT_EQ(request(guest, MessageType::write, "fits\0"s + std::string(77, 'v')).error(),
              "ENOSPC");
    EXPECT_EQ(read(guest, "fits"), std::string(76, 'v'));
    // More permissions make the node bigger too.
    EXPECT_EQ(request(guest, MessageType::set_perms, "fits\0n1\0r2\0"s).error(), "ENOSPC");
    // dom0 is not limited.
    write(kDom0, "/local/domain/1/huge", std::string(4000, 'h'));
}

TEST_F(Quota, WatchesPerConnectionAreE2big) {
    quotas_.watches = 2;
    const ConnectionId guest = add_guest(1);
    watch(guest, "a", "t");
    watch(guest, "b", "t");
    EXPECT_EQ(request(guest, MessageType::watch, "c\0t\0"s).error(), "E2BIG");
    EXPECT_TRUE(request(guest, MessageType::unwatch, "a\0t\0"s).is_ok());
    watch(guest, "c", "t");
    for (int i = 0; i < 5; ++i) {
        watch(kDom0, "/w" + std::to_string(i), "t");
    }
}

TEST_F(Quota, TransactionsPerConnection) {
    quotas_.transactions = 2;
    const ConnectionId guest = add_guest(1);
    const std::uint32_t first = start_transaction(guest);
    start_transaction(guest);
    EXPECT_EQ(request(guest, MessageType::transaction_start, "\0"s).error(), "ENOSPC");
    EXPECT_EQ(end_transaction(guest, first, false), "");
    start_transaction(guest);
    for (int i = 0; i < 5; ++i) {
        start_transaction(kDom0);
    }
}

TEST_F(Quota, PermissionsPerNode) {
    quotas_.node_permissions = 2;
    const ConnectionId guest = add_guest(1);
    write(guest, "p", "");
    set_perms(guest, "p", "n1\0r2\0"s);
    EXPECT_EQ(request(guest, MessageType::set_perms, "p\0n1\0r2\0r3\0"s).error(), "ENOSPC");
    set_perms(kDom0, "/local/domain/1/p", "n1\0r2\0r3\0r4\0"s);
}

TEST_F(Quota, NodesOneTransactionTouchesDoomIt) {
    quotas_.transaction_nodes = 3;
    const ConnectionId guest = add_guest(1);
    write(guest, "a", "");
    write(guest, "b", "");
    write(guest, "c", "");
    const std::uint32_t tx = start_transaction(guest);
    read(guest, "a", tx);
    read(guest, "b", tx);
    read(guest, "c", tx);
    EXPECT_EQ(request(guest, MessageType::read, "a\0"s, tx).payload, "");  // already touched
    EXPECT_EQ(request(guest, MessageType::read, "/local/domain/1\0"s, tx).error(), "ENOSPC");
    // C xenstored answers a doomed transaction's commit with ENOMEM.
    EXPECT_EQ(end_transaction(guest, tx, true), "ENOMEM");
}

// domain.c: domain_memory_add() as core.c: do_tdb_write() and watch.c:
// do_watch() call it: a node costs its owner the record (16-byte header, 8
// bytes per permission, value, child names) and its name; a watch its path
// and token; a transaction's copy of a node it wrote costs the transaction's
// domain until the transaction ends.
TEST_F(Quota, MemoryCountsNodesWithTheirNamesWatchesAndTransactionCopies) {
    const ConnectionId guest = add_guest(1);
    // "/local/domain/1": 16 + 8 ("n1") + 15 for the name.
    EXPECT_EQ(memory_used(1), 39u);
    write(guest, "a", std::string(100, 'v'));
    // "/local/domain/1/a": 16 + 8 + 100 + 17, and "a\0" in its parent.
    EXPECT_EQ(memory_used(1), 39u + 141 + 2);
    watch(guest, "a", "tok");  // the absolute path and the token
    EXPECT_EQ(memory_used(1), 182u + 17 + 3);
    const std::uint32_t tx = start_transaction(guest);
    write(guest, "a", std::string(50, 'w'), tx);
    EXPECT_EQ(memory_used(1), 202u + 16 + 8 + 50 + 17);  // the copy
    EXPECT_EQ(end_transaction(guest, tx, true), "");
    EXPECT_EQ(memory_used(1), 202u - 50);  // the copy is the node now
    EXPECT_TRUE(request(guest, MessageType::rm, "a\0"s).is_ok());
    EXPECT_EQ(memory_used(1), 39u + 20);
    // dom0's nodes are its own.
    write(kDom0, "/tool/big", std::string(1000, 'd'));
    EXPECT_EQ(memory_used(1), 59u);
}

// domain.c: domain_chk_quota(): a change that would take a domain to its
// hard quota is refused with ENOMEM and changes nothing; shrinking is
// always allowed; the charge is the node owner's whoever writes, so dom0
// is refused too when it would grow a guest's node past it; inside a
// transaction the refusal dooms it (core.c: write_node() ->
// fail_transaction()).
TEST_F(Quota, AChangeReachingTheHardMemoryQuotaIsRefusedWithEnomem) {
    pvsim::test::LogCapture log;
    quotas_.memory_hard = 1000;
    const ConnectionId guest = add_guest(1);
    write(guest, "a", std::string(400, 'a'));
    write(guest, "b", std::string(400, 'b'));
    const std::size_t full = memory_used(1);
    EXPECT_EQ(full, 39u + 2 * (441 + 2));
    EXPECT_EQ(request(guest, MessageType::write, "c\0"s + std::string(100, 'c')).error(), "ENOMEM");
    EXPECT_EQ(request(guest, MessageType::read, "c\0"s).error(), "ENOENT");
    EXPECT_EQ(request(guest, MessageType::write, "a\0"s + std::string(500, 'a')).error(), "ENOMEM");
    EXPECT_EQ(read(guest, "a"), std::string(400, 'a'));
    EXPECT_EQ(request(guest, MessageType::watch, "b\0"s + std::string(100, 't') + '\0').error(),
              "ENOMEM");
    EXPECT_EQ(
        request(kDom0, MessageType::write, "/local/domain/1/a\0"s + std::string(500, 'd')).error(),
        "ENOMEM");
    EXPECT_EQ(memory_used(1), full);
    EXPECT_EQ(
        log.warnings_with({"dom 1 ", "refused with ENOMEM: at its memory quota of 1000"}).size(),
        1u);
    // dom0 was refused for the guest's memory: the line says whose quota.
    EXPECT_EQ(
        log.warnings_with(
               {"dom 0 ", "XS_WRITE refused with ENOMEM: dom 1 is at its memory quota of 1000"})
            .size(),
        1u);

    write(guest, "a", "small");  // shrinking is fine
    const std::uint32_t tx = start_transaction(guest);
    write(guest, "b", std::string(300, 'b'), tx);
    EXPECT_EQ(request(guest, MessageType::write, "b\0"s + std::string(450, 'b'), tx).error(),
              "ENOMEM");
    EXPECT_EQ(end_transaction(guest, tx, true), "ENOMEM");
    EXPECT_EQ(read(guest, "b"), std::string(400, 'b'));
    // dom0's own nodes are at no quota.
    write(kDom0, "/tool/big", std::string(4000, 'd'));
}

TEST_F(Quota, PassingTheSoftMemoryQuotaIsLoggedOnce) {
    pvsim::test::LogCapture log;
    quotas_.memory_soft = 300;
    const ConnectionId guest = add_guest(1);
    write(guest, "a", std::string(100, 'a'));
    EXPECT_TRUE(log.warnings_with({"soft memory quota"}).empty());
    write(guest, "b", std::string(100, 'b'));
    EXPECT_EQ(
        log.warnings_with({"dom 1 holds 325 bytes, over its soft memory quota of 300"}).size(), 1u);
    write(guest, "c", std::string(100, 'c'));
    EXPECT_EQ(log.warnings_with({"soft memory quota"}).size(), 1u);
}

// Xen 4.17 domain_memory_add() checks the quota of the domain it charges:
// dom0 growing a guest's node takes the guest past its soft quota, and the
// line names the guest at once, not at the guest's next request.
TEST_F(Quota, ANodeDom0GrowsIsChargedToItsOwnerWhosePassingTheSoftQuotaIsLogged) {
    pvsim::test::LogCapture log;
    quotas_.memory_soft = 300;
    const ConnectionId guest = add_guest(1);
    write(guest, "a", std::string(100, 'a'));
    EXPECT_TRUE(log.warnings_with({"soft memory quota"}).empty());
    write(kDom0, "/local/domain/1/a", std::string(400, 'a'));
    EXPECT_EQ(log.warnings_with({"dom 1 holds", "over its soft memory quota of 300"}).size(), 1u);
}

}  // namespace
}  // namespace pvsim::xenstore::store::test
