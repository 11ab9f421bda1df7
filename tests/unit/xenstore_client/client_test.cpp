// The xenstore client over a socket pair, xenstored played by a scripted
// peer answering with canned xs_wire frames: payloads as libxenstore sends
// them, replies matched by req_id among concurrent callers, XS_ERROR strings
// turned into exceptions with their errno, watch events dispatched to
// callbacks on their own thread, a peer that goes away, the
// XS_DIRECTORY_PART fallback, and transactions with the transact() loop.
#include "xenstore/client/client.hpp"

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include "common/os/environment.hpp"
#include "common/os/unix_socket.hpp"
#include "common/run_dir.hpp"
#include "scripted_xenstored.hpp"
#include "tests/support/temp_dir.hpp"
#include "xenstore/client/socket_transport.hpp"

namespace pvsim::xenstore::client {
namespace {

using namespace std::chrono_literals;
using test::fields;
using test::wire;
using xen::xs::Access;
using xen::xs::MessageType;

template <typename F>
auto in_background(F function) {
    return std::async(std::launch::async, std::move(function));
}

// Runs `call`, expecting it to throw client::Error; returns it.
template <typename F>
Error error_of(F&& call) {
    try {
        call();
    } catch (const Error& e) {
        return e;
    }
    throw std::runtime_error("the call did not fail");
}

// Watch events as a callback saw them, for the test thread to wait on.
class EventLog {
  public:
    WatchCallback callback() {
        return [this](const WatchEvent& event) {
            const std::lock_guard lock(mutex_);
            events_.push_back(event);
            threads_.insert(std::this_thread::get_id());
            changed_.notify_all();
        };
    }

    // Waits for `count` events in all; fails the test after 10 s.
    std::vector<WatchEvent> wait_for(std::size_t count) {
        std::unique_lock lock(mutex_);
        EXPECT_TRUE(changed_.wait_for(lock, 10s, [&] { return events_.size() >= count; }))
            << "only " << events_.size() << " of " << count << " watch events arrived";
        return events_;
    }
    std::vector<WatchEvent> events() {
        const std::lock_guard lock(mutex_);
        return events_;
    }
    std::set<std::thread::id> threads() {
        const std::lock_guard lock(mutex_);
        return threads_;
    }

  private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<WatchEvent> events_;
    std::set<std::thread::id> threads_;
};

class ClientTest : public ::testing::Test {
  protected:
    ClientTest() {
        auto [ours, theirs] = os::make_socket_pair();
        client_.emplace(std::make_unique<SocketTransport>(std::move(ours)));
        peer_.emplace(std::move(theirs));
    }

    // Registers a watch, answering the XS_WATCH as xenstored does.
    Watch watch(const std::string& path, const std::string& token, WatchCallback callback) {
        auto watch = in_background([&] { return client_->watch(path, token, callback); });
        const Message request = peer_->expect(MessageType::watch);
        EXPECT_EQ(request.payload, fields({path, token}));
        peer_->reply_ok(request);
        return watch.get();
    }

    // A full round trip: everything the peer sent before has been taken
    // off the socket by the client's reader thread.
    void round_trip() {
        auto value = in_background([&] { return client_->read("/sync"); });
        peer_->reply(peer_->expect(MessageType::read), "synced");
        EXPECT_EQ(value.get(), "synced");
    }

    std::optional<Client> client_;
    std::optional<test::ScriptedXenstored> peer_;
};

TEST_F(ClientTest, ReadSendsThePathAndReturnsTheValue) {
    auto value = in_background([&] { return client_->read("/local/domain/1/name"); });
    const Message request = peer_->expect(MessageType::read);
    EXPECT_EQ(request.payload, wire("/local/domain/1/name\0"));
    EXPECT_EQ(request.header.tx_id, 0u);
    EXPECT_EQ(request.header.len, request.payload.size());
    // Values come without a nul and may hold any bytes.
    peer_->reply(request, wire("guest\0one"));
    EXPECT_EQ(value.get(), wire("guest\0one"));
}

TEST_F(ClientTest, WritesMkdirAndRmSendLibxenstorePayloads) {
    auto write = in_background([&] { client_->write("device/vbd/51712/state", "4"); });
    Message request = peer_->expect(MessageType::write);
    // The path with its nul, then the value's bytes without one.
    EXPECT_EQ(request.payload, wire("device/vbd/51712/state\0"
                                    "4"));
    peer_->reply_ok(request);
    write.get();

    auto mkdir = in_background([&] { client_->mkdir("/a/b"); });
    request = peer_->expect(MessageType::mkdir);
    EXPECT_EQ(request.payload, wire("/a/b\0"));
    peer_->reply_ok(request);
    mkdir.get();

    auto rm = in_background([&] { client_->rm("/a"); });
    request = peer_->expect(MessageType::rm);
    EXPECT_EQ(request.payload, wire("/a\0"));
    peer_->reply_ok(request);
    rm.get();
}

TEST_F(ClientTest, RepliesAreMatchedByReqIdAmongConcurrentCallers) {
    constexpr int kCallers = 8;
    std::vector<std::future<std::string>> values;
    for (int i = 0; i < kCallers; ++i) {
        values.push_back(
            in_background([&, i] { return client_->read("/k/" + std::to_string(i)); }));
    }
    std::vector<Message> requests;
    std::set<std::uint32_t> req_ids;
    for (int i = 0; i < kCallers; ++i) {
        requests.push_back(peer_->expect(MessageType::read));
        req_ids.insert(requests.back().header.req_id);
    }
    EXPECT_EQ(req_ids.size(), static_cast<std::size_t>(kCallers)) << "req_ids must differ";
    // Answered in the reverse order: each caller still gets its own reply.
    for (auto it = requests.rbegin(); it != requests.rend(); ++it) {
        const std::string path = it->payload.substr(0, it->payload.size() - 1);
        peer_->reply(*it, "value of " + path);
    }
    for (int i = 0; i < kCallers; ++i) {
        EXPECT_EQ(values[i].get(), "value of /k/" + std::to_string(i));
    }
}

TEST_F(ClientTest, AnErrorReplyBecomesAnExceptionWithItsErrno) {
    auto read = in_background([&] { return error_of([&] { client_->read("/x/y"); }); });
    peer_->reply_error(peer_->expect(MessageType::read), "ENOENT");
    const Error error = read.get();
    EXPECT_EQ(error.errnum(), ENOENT);
    EXPECT_EQ(error.error_name(), "ENOENT");
    EXPECT_EQ(error.request(), MessageType::read);
    EXPECT_STREQ(error.what(), "xenstore READ /x/y: ENOENT");

    auto write = in_background([&] { return error_of([&] { client_->write("/ro", "1"); }); });
    peer_->reply_error(peer_->expect(MessageType::write), "EACCES");
    const Error denied = write.get();
    EXPECT_EQ(denied.errnum(), EACCES);
    EXPECT_STREQ(denied.what(), "xenstore WRITE /ro: EACCES");

    // A name xsd_errors does not have is EINVAL, as in libxenstore.
    auto odd = in_background([&] { return error_of([&] { client_->mkdir("/m"); }); });
    peer_->reply_error(peer_->expect(MessageType::mkdir), "EWEIRD");
    const Error unknown = odd.get();
    EXPECT_EQ(unknown.errnum(), EINVAL);
    EXPECT_EQ(unknown.error_name(), "EWEIRD");
    EXPECT_TRUE(client_->connected());
}

TEST_F(ClientTest, TryReadReturnsNothingForAMissingNodeOnly) {
    auto missing = in_background([&] { return client_->try_read("/nope"); });
    peer_->reply_error(peer_->expect(MessageType::read), "ENOENT");
    EXPECT_EQ(missing.get(), std::nullopt);

    auto present = in_background([&] { return client_->try_read("/yes"); });
    peer_->reply(peer_->expect(MessageType::read), "here");
    EXPECT_EQ(present.get(), "here");

    auto denied = in_background([&] { return error_of([&] { client_->try_read("/secret"); }); });
    peer_->reply_error(peer_->expect(MessageType::read), "EACCES");
    EXPECT_EQ(denied.get().errnum(), EACCES);
}

TEST_F(ClientTest, AReplyOfAnotherTypeIsAProtocolError) {
    auto read = in_background([&] { return error_of([&] { client_->read("/a"); }); });
    const Message request = peer_->expect(MessageType::read);
    peer_->send(MessageType::write, request.header.req_id, 0, wire("OK\0"));
    const Error error = read.get();
    EXPECT_EQ(error.errnum(), EPROTO);
    EXPECT_NE(std::string(error.what()).find("XS_WRITE"), std::string::npos) << error.what();
}

TEST_F(ClientTest, RepliesNoCallWaitsForAreDropped) {
    auto read = in_background([&] { return client_->read("/a"); });
    const Message request = peer_->expect(MessageType::read);
    peer_->send(MessageType::read, request.header.req_id + 1000, 0, "stray");
    peer_->reply(request, "mine");
    EXPECT_EQ(read.get(), "mine");
    EXPECT_TRUE(client_->connected());
}

TEST_F(ClientTest, PayloadsOverTheLimitAreRefusedBeforeSending) {
    const std::string path = "/big";
    const Error error = error_of([&] { client_->write(path, std::string(5000, 'x')); });
    EXPECT_EQ(error.errnum(), E2BIG);
    EXPECT_EQ(error.error_name(), "E2BIG");
    EXPECT_EQ(std::string(error.what()).rfind("xenstore WRITE /big: E2BIG", 0), 0u) << error.what();
    EXPECT_TRUE(peer_->nothing_sent());

    // Exactly XENSTORE_PAYLOAD_MAX is allowed.
    const std::string value(xen::xs::kPayloadMax - path.size() - 1, 'y');
    auto write = in_background([&] { client_->write(path, value); });
    const Message request = peer_->expect(MessageType::write);
    EXPECT_EQ(request.payload.size(), xen::xs::kPayloadMax);
    peer_->reply_ok(request);
    write.get();
}

TEST_F(ClientTest, EndOfStreamFailsEveryWaitingCallAndLaterCallsAtOnce) {
    std::vector<std::future<Error>> calls;
    for (int i = 0; i < 3; ++i) {
        calls.push_back(in_background(
            [&, i] { return error_of([&] { client_->read("/w/" + std::to_string(i)); }); }));
    }
    for (int i = 0; i < 3; ++i) {
        peer_->expect(MessageType::read);
    }
    peer_->hang_up();
    for (auto& call : calls) {
        const Error error = call.get();
        EXPECT_EQ(error.errnum(), ECONNRESET);
        EXPECT_NE(std::string(error.what()).find("xenstored closed the connection"),
                  std::string::npos)
            << error.what();
    }
    EXPECT_FALSE(client_->connected());
    const Error later = error_of([&] { client_->write("/after", "1"); });
    EXPECT_EQ(later.errnum(), ECONNRESET);
    EXPECT_EQ(std::string(later.what()).rfind("xenstore WRITE /after: ECONNRESET", 0), 0u)
        << later.what();
}

TEST_F(ClientTest, AnOverlongFrameBreaksTheConnection) {
    auto read = in_background([&] { return error_of([&] { client_->read("/a"); }); });
    const Message request = peer_->expect(MessageType::read);
    const xen::xs::MessageHeader header{static_cast<std::uint32_t>(MessageType::read),
                                        request.header.req_id, 0, 5000};
    peer_->send_raw(header, std::string(5000, 'z'));
    const Error error = read.get();
    EXPECT_EQ(error.errnum(), ECONNRESET);
    EXPECT_NE(std::string(error.what()).find("5000 bytes"), std::string::npos) << error.what();
    EXPECT_FALSE(client_->connected());
}

TEST_F(ClientTest, CloseFailsWaitingCalls) {
    auto read = in_background([&] { return error_of([&] { client_->read("/a"); }); });
    peer_->expect(MessageType::read);
    client_->close();
    const Error error = read.get();
    EXPECT_EQ(error.errnum(), ECONNRESET);
    EXPECT_NE(std::string(error.what()).find("the client closed the connection"), std::string::npos)
        << error.what();
    EXPECT_FALSE(client_->connected());
}

TEST_F(ClientTest, DirectoryListsTheChildren) {
    auto list = in_background([&] { return client_->directory("/local/domain"); });
    Message request = peer_->expect(MessageType::directory);
    EXPECT_EQ(request.payload, wire("/local/domain\0"));
    peer_->reply(request, wire("0\0"
                               "1\0"
                               "17\0"));
    EXPECT_EQ(list.get(), (std::vector<std::string>{"0", "1", "17"}));

    auto empty = in_background([&] { return client_->directory("/leaf"); });
    peer_->reply(peer_->expect(MessageType::directory), "");
    EXPECT_TRUE(empty.get().empty());
}

TEST_F(ClientTest, DirectoryFallsBackToDirectoryPartOnE2BIG) {
    auto list = in_background([&] { return client_->directory("/d"); });
    peer_->reply_error(peer_->expect(MessageType::directory), "E2BIG");

    Message part = peer_->expect(MessageType::directory_part);
    EXPECT_EQ(part.payload, fields({"/d", "0"}));
    peer_->reply(part, wire("1f\0alpha\0beta\0"));
    // The next part starts after the bytes received: "alpha\0beta\0".
    part = peer_->expect(MessageType::directory_part);
    EXPECT_EQ(part.payload, fields({"/d", "11"}));
    peer_->reply(part, wire("1f\0gamma\0\0"));  // an empty name ends the list
    EXPECT_EQ(list.get(), (std::vector<std::string>{"alpha", "beta", "gamma"}));
}

TEST_F(ClientTest, DirectoryPartStartsOverWhenTheNodeChanges) {
    auto list = in_background([&] { return client_->directory("/d"); });
    peer_->reply_error(peer_->expect(MessageType::directory), "E2BIG");
    peer_->reply(peer_->expect(MessageType::directory_part), wire("5\0a\0"));
    Message part = peer_->expect(MessageType::directory_part);
    EXPECT_EQ(part.payload, fields({"/d", "2"}));
    peer_->reply(part, wire("6\0b\0"));  // another generation: changed meanwhile
    part = peer_->expect(MessageType::directory_part);
    EXPECT_EQ(part.payload, fields({"/d", "0"}));
    peer_->reply(part, wire("6\0x\0y\0\0"));
    EXPECT_EQ(list.get(), (std::vector<std::string>{"x", "y"}));
}

TEST_F(ClientTest, DirectoryWithoutDirectoryPartSupportIsE2BIG) {
    auto list = in_background([&] { return error_of([&] { client_->directory("/d"); }); });
    peer_->reply_error(peer_->expect(MessageType::directory), "E2BIG");
    peer_->reply_error(peer_->expect(MessageType::directory_part), "ENOSYS");
    const Error error = list.get();
    EXPECT_EQ(error.errnum(), E2BIG);
    EXPECT_EQ(error.request(), MessageType::directory);
}

TEST_F(ClientTest, PermissionsTravelAsLetterAndDomid) {
    auto get = in_background([&] { return client_->get_perms("/p"); });
    Message request = peer_->expect(MessageType::get_perms);
    EXPECT_EQ(request.payload, wire("/p\0"));
    peer_->reply(request, wire("w0\0r5\0"));
    EXPECT_EQ(get.get(), (xen::xs::Permissions{{Access::write, 0}, {Access::read, 5}}));

    auto set = in_background([&] {
        client_->set_perms("/p", {{Access::none, 3}, {Access::both, 7}});
    });
    request = peer_->expect(MessageType::set_perms);
    EXPECT_EQ(request.payload, fields({"/p", "n3", "b7"}));
    peer_->reply_ok(request);
    set.get();

    auto bad = in_background([&] { return error_of([&] { client_->get_perms("/q"); }); });
    peer_->reply(peer_->expect(MessageType::get_perms), wire("x9\0"));
    EXPECT_EQ(bad.get().errnum(), EPROTO);
}

TEST_F(ClientTest, WatchEventsRunTheCallbackOnTheDispatchThread) {
    EventLog log;
    auto watching = in_background([&] { return client_->watch("/a", "tok", log.callback()); });
    const Message request = peer_->expect(MessageType::watch);
    EXPECT_EQ(request.payload, fields({"/a", "tok"}));
    // xenstored may fire the registration event before its reply arrives.
    peer_->watch_event("/a", "tok");
    peer_->reply_ok(request);
    Watch watch = watching.get();
    EXPECT_TRUE(watch);
    EXPECT_EQ(watch.path(), "/a");
    EXPECT_EQ(watch.token(), "tok");
    peer_->watch_event("/a/b/c", "tok");

    const std::vector<WatchEvent> events = log.wait_for(2);
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[0].path, "/a");
    EXPECT_EQ(events[0].token, "tok");
    EXPECT_EQ(events[1].path, "/a/b/c");
    const std::set<std::thread::id> threads = log.threads();
    ASSERT_EQ(threads.size(), 1u);
    EXPECT_NE(*threads.begin(), std::this_thread::get_id());

    auto unwatching = in_background([&] { watch.unwatch(); });
    peer_->reply_ok(peer_->expect(MessageType::unwatch));
    unwatching.get();
}

TEST_F(ClientTest, AWatchCallbackMayCallTheClient) {
    std::promise<std::string> seen;
    Watch watch = this->watch("/fe/state", "w", [&](const WatchEvent& event) {
        seen.set_value(client_->read(event.path));
    });
    peer_->watch_event("/fe/state", "w");
    const Message request = peer_->expect(MessageType::read);
    EXPECT_EQ(request.payload, wire("/fe/state\0"));
    peer_->reply(request, "4");
    auto value = seen.get_future();
    ASSERT_EQ(value.wait_for(10s), std::future_status::ready);
    EXPECT_EQ(value.get(), "4");

    auto unwatching = in_background([&] { watch.unwatch(); });
    peer_->reply_ok(peer_->expect(MessageType::unwatch));
    unwatching.get();
}

TEST_F(ClientTest, EventsGoToTheWatchWhoseTokenAndPathMatch) {
    EventLog a1;
    EventLog b1;
    EventLog a2;
    EventLog root;
    Watch wa1 = watch("/a", "t1", a1.callback());
    Watch wb1 = watch("/b", "t1", b1.callback());
    Watch wa2 = watch("/a", "t2", a2.callback());
    Watch wroot = watch("/", "r", root.callback());
    peer_->watch_event("/a/x", "t1");
    peer_->watch_event("/ab", "t1");  // not below /a
    peer_->watch_event("/b", "t1");
    peer_->watch_event("/a", "t2");
    peer_->watch_event("/any/where", "r");
    root.wait_for(1);  // events are dispatched in order: all have been

    ASSERT_EQ(a1.events().size(), 1u);
    EXPECT_EQ(a1.events()[0].path, "/a/x");
    ASSERT_EQ(b1.events().size(), 1u);
    EXPECT_EQ(b1.events()[0].path, "/b");
    ASSERT_EQ(a2.events().size(), 1u);
    EXPECT_EQ(a2.events()[0].path, "/a");
    EXPECT_EQ(root.events()[0].path, "/any/where");

    client_->close();  // the handles' unwatch then fails quietly
}

TEST_F(ClientTest, DestroyingTheWatchUnwatchesAndStopsItsCallback) {
    EventLog log;
    std::optional<Watch> watch = this->watch("/a", "tok", log.callback());
    auto unwatching = in_background([&] { watch.reset(); });
    const Message request = peer_->expect(MessageType::unwatch);
    EXPECT_EQ(request.payload, fields({"/a", "tok"}));
    peer_->reply_ok(request);
    unwatching.get();

    peer_->watch_event("/a", "tok");  // already on its way
    EventLog marker;
    Watch other = this->watch("/m", "m", marker.callback());
    peer_->watch_event("/m", "m");
    marker.wait_for(1);
    EXPECT_TRUE(log.events().empty());
    client_->close();
}

TEST_F(ClientTest, UnwatchWaitsForTheRunningCallback) {
    std::promise<void> entered;
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    Watch watch = this->watch("/slow", "s", [&](const WatchEvent&) {
        entered.set_value();
        released.wait();
    });
    peer_->watch_event("/slow", "s");
    ASSERT_EQ(entered.get_future().wait_for(10s), std::future_status::ready);

    auto unwatching = in_background([&] { watch.unwatch(); });
    // Nothing goes out while the callback still runs...
    EXPECT_TRUE(peer_->nothing_sent(100));
    EXPECT_EQ(unwatching.wait_for(0s), std::future_status::timeout);
    release.set_value();
    // ...and once it has returned, the unwatch proceeds.
    peer_->reply_ok(peer_->expect(MessageType::unwatch));
    unwatching.get();
}

TEST_F(ClientTest, AWatchMayBeRemovedFromItsOwnCallback) {
    std::optional<Watch> watch;
    std::promise<void> done;
    watch = this->watch("/once", "o", [&](const WatchEvent&) {
        watch->unwatch();
        done.set_value();
    });
    peer_->watch_event("/once", "o");
    peer_->reply_ok(peer_->expect(MessageType::unwatch));
    ASSERT_EQ(done.get_future().wait_for(10s), std::future_status::ready);
}

TEST_F(ClientTest, ClientUnwatchAndResetWatchesDropCallbacks) {
    EventLog a;
    EventLog b;
    Watch wa = watch("/a", "ta", a.callback());
    Watch wb = watch("/b", "tb", b.callback());

    auto unwatching = in_background([&] { client_->unwatch("/a", "ta"); });
    Message request = peer_->expect(MessageType::unwatch);
    EXPECT_EQ(request.payload, fields({"/a", "ta"}));
    peer_->reply_ok(request);
    unwatching.get();

    auto resetting = in_background([&] { client_->reset_watches(); });
    request = peer_->expect(MessageType::reset_watches);
    EXPECT_EQ(request.payload, wire("\0"));
    peer_->reply_ok(request);
    resetting.get();

    peer_->watch_event("/a", "ta");
    peer_->watch_event("/b", "tb");
    EventLog marker;
    Watch wm = watch("/m", "m", marker.callback());
    peer_->watch_event("/m", "m");
    marker.wait_for(1);
    EXPECT_TRUE(a.events().empty());
    EXPECT_TRUE(b.events().empty());

    // The handles of watches already gone send nothing when dropped.
    wa.unwatch();
    wb.unwatch();
    EXPECT_TRUE(peer_->nothing_sent());
    client_->close();
}

TEST_F(ClientTest, TransactionCallsCarryTheTransactionId) {
    auto starting = in_background([&] { return client_->transaction_start(); });
    Message request = peer_->expect(MessageType::transaction_start);
    EXPECT_EQ(request.payload, wire("\0"));
    EXPECT_EQ(request.header.tx_id, 0u);
    peer_->reply(request, wire("7\0"));
    Transaction transaction = starting.get();
    EXPECT_EQ(transaction.id(), 7u);
    EXPECT_TRUE(transaction.active());

    auto writing = in_background([&] { transaction.write("/x", "1"); });
    request = peer_->expect(MessageType::write);
    EXPECT_EQ(request.header.tx_id, 7u);
    peer_->reply_ok(request);
    writing.get();

    auto committing = in_background([&] { return transaction.commit(); });
    request = peer_->expect(MessageType::transaction_end);
    EXPECT_EQ(request.header.tx_id, 7u);
    EXPECT_EQ(request.payload, wire("T\0"));
    peer_->reply_ok(request);
    EXPECT_TRUE(committing.get());
    EXPECT_FALSE(transaction.active());
    EXPECT_THROW(transaction.read("/x"), std::logic_error);
}

TEST_F(ClientTest, ATransactionNotEndedIsAbortedWhenDropped) {
    auto scope = in_background([&] {
        Transaction transaction = client_->transaction_start();
        transaction.mkdir("/t");
    });
    peer_->reply(peer_->expect(MessageType::transaction_start), wire("3\0"));
    peer_->reply_ok(peer_->expect(MessageType::mkdir));
    const Message end = peer_->expect(MessageType::transaction_end);
    EXPECT_EQ(end.header.tx_id, 3u);
    EXPECT_EQ(end.payload, wire("F\0"));
    peer_->reply_ok(end);
    scope.get();
}

TEST_F(ClientTest, CommitAnsweredEAGAINReturnsFalse) {
    auto committing = in_background([&] {
        Transaction transaction = client_->transaction_start();
        const bool committed = transaction.commit();
        return std::make_pair(committed, transaction.active());
    });
    peer_->reply(peer_->expect(MessageType::transaction_start), wire("9\0"));
    peer_->reply_error(peer_->expect(MessageType::transaction_end), "EAGAIN");
    EXPECT_EQ(committing.get(), std::make_pair(false, false));
    EXPECT_TRUE(peer_->nothing_sent());  // no abort after the end
}

TEST_F(ClientTest, TransactRetriesOnEAGAINAtCommit) {
    int runs = 0;
    auto result = in_background([&] {
        return client_->transact([&](Transaction& transaction) {
            ++runs;
            transaction.write("/x", "v");
            return transaction.id();
        });
    });
    for (std::uint32_t id : {1u, 2u}) {
        peer_->reply(peer_->expect(MessageType::transaction_start), std::to_string(id) + '\0');
        const Message write = peer_->expect(MessageType::write);
        EXPECT_EQ(write.header.tx_id, id);
        peer_->reply_ok(write);
        const Message end = peer_->expect(MessageType::transaction_end);
        EXPECT_EQ(end.payload, wire("T\0"));
        if (id == 1) {
            peer_->reply_error(end, "EAGAIN");
        } else {
            peer_->reply_ok(end);
        }
    }
    EXPECT_EQ(result.get(), 2u);  // the body's result from the committed run
    EXPECT_EQ(runs, 2);
}

TEST_F(ClientTest, TransactRetriesWhenACallInsideAnswersEAGAIN) {
    int runs = 0;
    auto done = in_background([&] {
        client_->transact([&](Transaction& transaction) {
            ++runs;
            transaction.write("/x", "v");
        });
    });
    peer_->reply(peer_->expect(MessageType::transaction_start), wire("1\0"));
    peer_->reply_error(peer_->expect(MessageType::write), "EAGAIN");
    Message end = peer_->expect(MessageType::transaction_end);
    EXPECT_EQ(end.payload, wire("F\0"));  // the failed run is aborted
    peer_->reply_ok(end);
    peer_->reply(peer_->expect(MessageType::transaction_start), wire("2\0"));
    peer_->reply_ok(peer_->expect(MessageType::write));
    end = peer_->expect(MessageType::transaction_end);
    EXPECT_EQ(end.payload, wire("T\0"));
    peer_->reply_ok(end);
    done.get();
    EXPECT_EQ(runs, 2);
}

TEST_F(ClientTest, TransactGivesUpAfterItsAttempts) {
    auto failing =
        in_background([&] { return error_of([&] { client_->transact([](Transaction&) {}, 2); }); });
    for (int i = 1; i <= 2; ++i) {
        peer_->reply(peer_->expect(MessageType::transaction_start), std::to_string(i) + '\0');
        peer_->reply_error(peer_->expect(MessageType::transaction_end), "EAGAIN");
    }
    const Error error = failing.get();
    EXPECT_EQ(error.errnum(), EAGAIN);
    EXPECT_TRUE(peer_->nothing_sent());
}

TEST_F(ClientTest, TransactDoesNotRetryOtherErrors) {
    int runs = 0;
    auto failing = in_background([&] {
        return error_of([&] {
            client_->transact([&](Transaction& transaction) {
                ++runs;
                transaction.write("/ro", "v");
            });
        });
    });
    peer_->reply(peer_->expect(MessageType::transaction_start), wire("4\0"));
    peer_->reply_error(peer_->expect(MessageType::write), "EACCES");
    peer_->reply_ok(peer_->expect(MessageType::transaction_end));
    EXPECT_EQ(failing.get().errnum(), EACCES);
    EXPECT_EQ(runs, 1);
}

TEST_F(ClientTest, DomainCallsSendDecimalFields) {
    auto introducing = in_background([&] { client_->introduce(3, 1, 7); });
    Message request = peer_->expect(MessageType::introduce);
    EXPECT_EQ(request.payload, fields({"3", "1", "7"}));
    peer_->reply_ok(request);
    introducing.get();

    auto asking = in_background([&] { return client_->is_domain_introduced(3); });
    request = peer_->expect(MessageType::is_domain_introduced);
    EXPECT_EQ(request.payload, fields({"3"}));
    peer_->reply(request, wire("T\0"));
    EXPECT_TRUE(asking.get());
    asking = in_background([&] { return client_->is_domain_introduced(4); });
    peer_->reply(peer_->expect(MessageType::is_domain_introduced), wire("F\0"));
    EXPECT_FALSE(asking.get());

    auto path = in_background([&] { return client_->get_domain_path(3); });
    request = peer_->expect(MessageType::get_domain_path);
    EXPECT_EQ(request.payload, fields({"3"}));
    peer_->reply(request, wire("/local/domain/3\0"));
    EXPECT_EQ(path.get(), "/local/domain/3");

    auto releasing = in_background([&] { client_->release(3); });
    request = peer_->expect(MessageType::release);
    EXPECT_EQ(request.payload, fields({"3"}));
    peer_->reply_ok(request);
    releasing.get();

    auto controlling = in_background([&] { return client_->control({"log", "on"}); });
    request = peer_->expect(MessageType::control);
    EXPECT_EQ(request.payload, fields({"log", "on"}));
    peer_->reply(request, wire("OK\0"));
    EXPECT_EQ(controlling.get(), "OK");

    auto refused = in_background([&] { return error_of([&] { client_->introduce(3, 1, 7); }); });
    peer_->reply_error(peer_->expect(MessageType::introduce), "EEXIST");
    EXPECT_STREQ(refused.get().what(), "xenstore INTRODUCE 3: EEXIST");
}

// A listening socket standing in for pvsim-xenstored's.
class Listener {
  public:
    explicit Listener(const std::filesystem::path& path)
        : acceptor_(context_, boost::asio::local::stream_protocol::endpoint(path.string())) {}

    test::ScriptedXenstored accept() {
        boost::asio::local::stream_protocol::socket socket(context_);
        acceptor_.accept(socket);
        return test::ScriptedXenstored(os::UniqueFd(socket.release()));
    }

  private:
    boost::asio::io_context context_;
    boost::asio::local::stream_protocol::acceptor acceptor_;
};

void expect_working(Client& client, Listener& listener) {
    test::ScriptedXenstored peer = listener.accept();
    auto value = in_background([&] { return client.read("/x"); });
    peer.reply(peer.expect(MessageType::read), "1");
    EXPECT_EQ(value.get(), "1");
}

TEST(ClientConnectTest, FromEnvironmentUsesXenstoredPath) {
    pvsim::test::TempDir dir;
    const std::filesystem::path socket = dir.path() / "xs.sock";
    Listener listener(socket);
    Client client = Client::from_environment(os::Environment::from_map(
        {{"XENSTORED_PATH", socket.string()}, {"PVSIM_RUN_DIR", "/nonexistent"}}));
    expect_working(client, listener);
}

TEST(ClientConnectTest, FromEnvironmentFallsBackToTheRunDirectory) {
    pvsim::test::TempDir dir;
    const RunDir run = RunDir::open(dir.path());
    Listener listener(run.xenstored_socket());
    Client client = Client::from_environment(os::Environment::from_map(
        {{"XENSTORED_PATH", ""}, {"PVSIM_RUN_DIR", dir.path().string()}}));
    expect_working(client, listener);
}

TEST(ClientConnectTest, ConnectNamesTheSocketWhenNothingListens) {
    pvsim::test::TempDir dir;
    const std::filesystem::path socket = dir.path() / "absent";
    try {
        Client::connect(socket);
        FAIL() << "connected to nothing";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code().value(), ENOENT);
        EXPECT_NE(std::string(e.what()).find(socket.string()), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace pvsim::xenstore::client
