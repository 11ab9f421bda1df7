// Transactions as C xenstored runs them (transaction.c): private changes,
// EAGAIN at commit if anything touched changed meanwhile, watch events at
// commit, per-connection ids.
#include "store_fixture.hpp"

namespace pvsim::xenstore::store::test {
namespace {

using Transactions = StoreTest;

TEST_F(Transactions, StartRepliesTheIdAsADecimalString) {
    Reply reply = request(kDom0, MessageType::transaction_start, "\0"s);
    EXPECT_EQ(reply.type, MessageType::transaction_start);
    EXPECT_EQ(reply.payload, "1\0"s);
    reply = request(kDom0, MessageType::transaction_start, "\0"s);
    EXPECT_EQ(reply.payload, "2\0"s);
    // Ids are per connection.
    const ConnectionId other = add_dom0_connection();
    EXPECT_EQ(request(other, MessageType::transaction_start, "\0"s).payload, "1\0"s);
}

TEST_F(Transactions, ChangesAreVisibleInsideOnlyUntilCommit) {
    write(kDom0, "/t/old", "before");
    const std::uint32_t tx = start_transaction(kDom0);
    write(kDom0, "/t/new/deep", "v", tx);
    write(kDom0, "/t/old", "changed", tx);
    EXPECT_EQ(read(kDom0, "/t/new/deep", tx), "v");
    EXPECT_EQ(read(kDom0, "/t/old", tx), "changed");
    EXPECT_EQ(request(kDom0, MessageType::directory, "/t\0"s, tx).payload, "old\0new\0"s);
    EXPECT_EQ(request(kDom0, MessageType::read, "/t/new/deep\0"s).error(), "ENOENT");
    EXPECT_EQ(read(kDom0, "/t/old"), "before");
    EXPECT_EQ(end_transaction(kDom0, tx, true), "");
    EXPECT_EQ(read(kDom0, "/t/new/deep"), "v");
    EXPECT_EQ(read(kDom0, "/t/old"), "changed");
    EXPECT_EQ(request(kDom0, MessageType::directory, "/t\0"s).payload, "old\0new\0"s);
}

TEST_F(Transactions, AbortDiscardsEverything) {
    write(kDom0, "/t/keep", "k");
    const std::uint32_t tx = start_transaction(kDom0);
    write(kDom0, "/t/new", "n", tx);
    EXPECT_TRUE(request(kDom0, MessageType::rm, "/t/keep\0"s, tx).is_ok());
    EXPECT_EQ(request(kDom0, MessageType::read, "/t/keep\0"s, tx).error(), "ENOENT");
    EXPECT_EQ(end_transaction(kDom0, tx, false), "");
    EXPECT_EQ(read(kDom0, "/t/keep"), "k");
    EXPECT_EQ(request(kDom0, MessageType::read, "/t/new\0"s).error(), "ENOENT");
}

TEST_F(Transactions, SecondOfTwoTransactionsWritingTheSameNodeGetsEagain) {
    write(kDom0, "/n", "0");
    const std::uint32_t first = start_transaction(kDom0);
    const std::uint32_t second = start_transaction(kDom0);
    write(kDom0, "/n", "first", first);
    write(kDom0, "/n", "second", second);
    EXPECT_EQ(end_transaction(kDom0, first, true), "");
    EXPECT_EQ(end_transaction(kDom0, second, true), "EAGAIN");
    EXPECT_EQ(read(kDom0, "/n"), "first");
}

TEST_F(Transactions, TwoTransactionsCreatingTheSameNodeConflict) {
    const std::uint32_t first = start_transaction(kDom0);
    const std::uint32_t second = start_transaction(kDom0);
    write(kDom0, "/fresh", "first", first);
    write(kDom0, "/fresh", "second", second);
    EXPECT_EQ(end_transaction(kDom0, first, true), "");
    EXPECT_EQ(end_transaction(kDom0, second, true), "EAGAIN");
    EXPECT_EQ(read(kDom0, "/fresh"), "first");
}

TEST_F(Transactions, ANodeReadThatChangedMeanwhileFailsTheCommit) {
    write(kDom0, "/in", "1");
    const std::uint32_t tx = start_transaction(kDom0);
    EXPECT_EQ(read(kDom0, "/in", tx), "1");
    write(kDom0, "/in", "2");
    // The transaction keeps seeing the node as it first read it.
    EXPECT_EQ(read(kDom0, "/in", tx), "1");
    write(kDom0, "/out", "derived", tx);
    EXPECT_EQ(end_transaction(kDom0, tx, true), "EAGAIN");
    EXPECT_EQ(request(kDom0, MessageType::read, "/out\0"s).error(), "ENOENT");
    EXPECT_EQ(read(kDom0, "/in"), "2");
}

TEST_F(Transactions, UnchangedReadsCommit) {
    write(kDom0, "/in", "1");
    write(kDom0, "/elsewhere", "x");
    const std::uint32_t tx = start_transaction(kDom0);
    EXPECT_EQ(read(kDom0, "/in", tx), "1");
    write(kDom0, "/elsewhere", "y");  // not touched by the transaction
    write(kDom0, "/out", "derived", tx);
    EXPECT_EQ(end_transaction(kDom0, tx, true), "");
    EXPECT_EQ(read(kDom0, "/out"), "derived");
}

TEST_F(Transactions, CommitAfterTheNodeWasRemovedFails) {
    write(kDom0, "/victim", "v");
    const std::uint32_t tx = start_transaction(kDom0);
    write(kDom0, "/victim", "changed", tx);
    EXPECT_TRUE(request(kDom0, MessageType::rm, "/victim\0"s).is_ok());
    EXPECT_EQ(end_transaction(kDom0, tx, true), "EAGAIN");
    EXPECT_EQ(request(kDom0, MessageType::read, "/victim\0"s).error(), "ENOENT");
}

TEST_F(Transactions, ANodeFoundAbsentThatAppearedFailsTheCommit) {
    const std::uint32_t tx = start_transaction(kDom0);
    EXPECT_EQ(request(kDom0, MessageType::read, "/later\0"s, tx).error(), "ENOENT");
    write(kDom0, "/later", "now");
    write(kDom0, "/other", "x", tx);
    EXPECT_EQ(end_transaction(kDom0, tx, true), "EAGAIN");
}

TEST_F(Transactions, AChangedDirectoryListingFailsTheCommit) {
    write(kDom0, "/dir/a", "");
    const std::uint32_t tx = start_transaction(kDom0);
    EXPECT_EQ(request(kDom0, MessageType::directory, "/dir\0"s, tx).payload, "a\0"s);
    write(kDom0, "/dir/b", "");
    write(kDom0, "/count", "1", tx);
    EXPECT_EQ(end_transaction(kDom0, tx, true), "EAGAIN");
}

TEST_F(Transactions, WatchEventsFireAtCommitNotBefore) {
    const ConnectionId watcher = add_dom0_connection();
    watch(watcher, "/w", "t");
    take_events(watcher);
    const std::uint32_t tx = start_transaction(kDom0);
    write(kDom0, "/w/a", "1", tx);
    write(kDom0, "/w/a", "2", tx);
    write(kDom0, "/w/b", "", tx);
    EXPECT_EQ(take_events(watcher), std::vector<Event>{});
    EXPECT_EQ(end_transaction(kDom0, tx, true), "");
    // One event per changed node.
    EXPECT_EQ(take_events(watcher), (std::vector<Event>{{"/w/a", "t"}, {"/w/b", "t"}}));

    const std::uint32_t aborted = start_transaction(kDom0);
    write(kDom0, "/w/c", "", aborted);
    EXPECT_EQ(end_transaction(kDom0, aborted, false), "");
    const std::uint32_t failed = start_transaction(kDom0);
    write(kDom0, "/w/a", "3", failed);
    write(kDom0, "/w/a", "outside");
    take_events(watcher);
    EXPECT_EQ(end_transaction(kDom0, failed, true), "EAGAIN");
    EXPECT_EQ(take_events(watcher), std::vector<Event>{});
}

TEST_F(Transactions, RemovalInATransactionFiresForEachRemovedNodeAtCommit) {
    const ConnectionId guest = add_guest(1);
    write(kDom0, "/local/domain/1/tree/leaf", "");
    watch(guest, "tree/leaf", "leaf");
    watch(guest, "tree", "tree");
    take_events(guest);
    const std::uint32_t tx = start_transaction(kDom0);
    EXPECT_TRUE(request(kDom0, MessageType::rm, "/local/domain/1/tree\0"s, tx).is_ok());
    EXPECT_EQ(take_events(guest), std::vector<Event>{});
    EXPECT_EQ(end_transaction(kDom0, tx, true), "");
    // In the order the transaction first touched the nodes, as transaction.c.
    EXPECT_EQ(take_events(guest), (std::vector<Event>{{"tree", "tree"}, {"tree/leaf", "leaf"}}));
}

TEST_F(Transactions, EndingNeedsTOrFAndAnOpenTransaction) {
    const std::uint32_t tx = start_transaction(kDom0);
    EXPECT_EQ(request(kDom0, MessageType::transaction_end, "X\0"s, tx).error(), "EINVAL");
    EXPECT_EQ(request(kDom0, MessageType::transaction_end, "T"s, tx).error(), "EINVAL");
    EXPECT_EQ(request(kDom0, MessageType::transaction_end, "T\0"s, 0).error(), "ENOENT");
    EXPECT_EQ(request(kDom0, MessageType::transaction_end, "T\0"s, tx + 1).error(), "ENOENT");
    EXPECT_EQ(end_transaction(kDom0, tx, true), "");
    // Ended, also after EAGAIN: the id is gone.
    EXPECT_EQ(request(kDom0, MessageType::read, "/\0"s, tx).error(), "ENOENT");
    EXPECT_EQ(end_transaction(kDom0, tx, true), "ENOENT");
}

TEST_F(Transactions, AnotherConnectionsTransactionIsUnknown) {
    const ConnectionId other = add_dom0_connection();
    const std::uint32_t tx = start_transaction(other);
    const std::uint32_t mine = start_transaction(kDom0);
    EXPECT_EQ(tx, mine);  // both 1: ids are per connection
    EXPECT_EQ(request(add_dom0_connection(), MessageType::read, "/\0"s, tx).error(), "ENOENT");
}

TEST_F(Transactions, NestedStartIsEbusy) {
    const std::uint32_t tx = start_transaction(kDom0);
    EXPECT_EQ(request(kDom0, MessageType::transaction_start, "\0"s, tx).error(), "EBUSY");
}

TEST_F(Transactions, WatchRequestsIgnoreTheTransactionId) {
    EXPECT_TRUE(request(kDom0, MessageType::watch, "/x\0t\0"s, 77).is_ok());
    EXPECT_TRUE(request(kDom0, MessageType::unwatch, "/x\0t\0"s, 77).is_ok());
}

TEST_F(Transactions, DisconnectEndsTheConnectionsTransactions) {
    const ConnectionId other = add_dom0_connection();
    const std::uint32_t tx = start_transaction(other);
    write(other, "/never", "", tx);
    store().disconnect(other);
    EXPECT_EQ(request(kDom0, MessageType::read, "/never\0"s).error(), "ENOENT");
}

TEST_F(Transactions, GuestTransactionsKeepThePermissionRules) {
    const ConnectionId guest = add_guest(1);
    const std::uint32_t tx = start_transaction(guest);
    EXPECT_EQ(request(guest, MessageType::write, "/tool/x\0v"s, tx).error(), "EACCES");
    write(guest, "state", "4", tx);
    EXPECT_EQ(end_transaction(guest, tx, true), "");
    EXPECT_EQ(read(kDom0, "/local/domain/1/state"), "4");
    EXPECT_EQ(request(kDom0, MessageType::get_perms, "/local/domain/1/state\0"s).payload, "n1\0"s);
}

}  // namespace
}  // namespace pvsim::xenstore::store::test
