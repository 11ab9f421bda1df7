#include "common/os/unix_socket.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <numeric>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "common/os/event_fd.hpp"
#include "tests/support/temp_dir.hpp"

namespace pvsim::os {
// This file's own names, apart from those of the other files of its folder,
// which compiles as one translation unit.
namespace unix_socket_test {

using ::testing::HasSubstr;

std::span<const std::byte> bytes_of(std::string_view text) {
    return std::as_bytes(std::span(text.data(), text.size()));
}

std::string text_of(std::span<const std::byte> buffer, std::size_t size) {
    return std::string(reinterpret_cast<const char*>(buffer.data()), size);
}

std::pair<UniqueFd, UniqueFd> make_pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) < 0) {
        throw_system_error("pipe2");
    }
    return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

TEST(SocketPair, IsAConnectedCloseOnExecUnixStreamPair) {
    auto [a, b] = make_socket_pair();
    EXPECT_NE(::fcntl(a.get(), F_GETFD) & FD_CLOEXEC, 0);
    EXPECT_NE(::fcntl(b.get(), F_GETFD) & FD_CLOEXEC, 0);
    ASSERT_EQ(::write(a.get(), "x", 1), 1);
    char c = 0;
    ASSERT_EQ(::read(b.get(), &c, 1), 1);
    EXPECT_EQ(c, 'x');
}

TEST(AdoptSocket, WrapsAnFdInAnAsioSocket) {
    boost::asio::io_context context;
    auto [a, b] = make_socket_pair();
    const int raw = a.get();
    LocalSocket socket = adopt_socket(context, std::move(a));
    EXPECT_EQ(socket.native_handle(), raw);
    EXPECT_TRUE(socket.is_open());
    ASSERT_EQ(::write(b.get(), "hi", 2), 2);
    char buffer[2];
    EXPECT_EQ(socket.read_some(boost::asio::buffer(buffer)), 2u);
}

TEST(AdoptSocket, RejectsWhatIsNotAUnixStreamSocket) {
    boost::asio::io_context context;
    auto [read_end, write_end] = make_pipe();
    try {
        (void)adopt_socket(context, std::move(read_end));
        FAIL() << "adopted a pipe";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code().value(), ENOTSOCK);
        EXPECT_THAT(e.what(), HasSubstr("adopt socket fd"));
    }
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
    UniqueFd other(sv[1]);
    try {
        (void)adopt_socket(context, UniqueFd(sv[0]));
        FAIL() << "adopted a datagram socket";
    } catch (const std::system_error& e) {
        EXPECT_THAT(e.what(), HasSubstr("not a unix stream socket"));
    }
}

TEST(FdPassing, AnFdArrivesWithItsBytesAndWorks) {
    auto [a, b] = make_socket_pair();
    auto [read_end, write_end] = make_pipe();
    const int fds[] = {write_end.get()};
    send_with_fds(a.get(), bytes_of("pipe"), fds);
    write_end.reset();

    std::vector<std::byte> buffer(16);
    ReceivedData received = receive_with_fds(b.get(), buffer, 4);
    EXPECT_EQ(text_of(buffer, received.size), "pipe");
    ASSERT_EQ(received.fds.size(), 1u);
    EXPECT_NE(::fcntl(received.fds[0].get(), F_GETFD) & FD_CLOEXEC, 0);
    ASSERT_EQ(::write(received.fds[0].get(), "through", 7), 7);
    received.fds.clear();
    char out[16] = {};
    EXPECT_EQ(::read(read_end.get(), out, sizeof(out)), 7);
    EXPECT_STREQ(out, "through");
}

TEST(FdPassing, ManyFdsInOrder) {
    auto [a, b] = make_socket_pair();
    std::vector<EventFd> events(8);
    std::vector<int> fds;
    for (const EventFd& e : events) {
        fds.push_back(e.fd());
    }
    send_with_fds(a.get(), bytes_of("8"), fds);
    std::vector<std::byte> buffer(4);
    ReceivedData received = receive_with_fds(b.get(), buffer, 8);
    ASSERT_EQ(received.fds.size(), 8u);
    for (std::size_t i = 0; i < 8; ++i) {
        EventFd(std::move(received.fds[i])).signal(i + 1);
        EXPECT_EQ(events[i].try_consume(), i + 1);
    }
}

TEST(FdPassing, DataWithoutFds) {
    auto [a, b] = make_socket_pair();
    send_with_fds(a.get(), bytes_of("plain"));
    std::vector<std::byte> buffer(16);
    ReceivedData received = receive_with_fds(b.get(), buffer, 2);
    EXPECT_EQ(text_of(buffer, received.size), "plain");
    EXPECT_TRUE(received.fds.empty());
}

TEST(FdPassing, FdsNeedBytesToTravelWith) {
    auto [a, b] = make_socket_pair();
    const int fds[] = {a.get()};
    EXPECT_THROW(send_with_fds(a.get(), {}, fds), std::invalid_argument);
    const std::vector<int> too_many(kMaxFdsPerMessage + 1, a.get());
    EXPECT_THROW(send_with_fds(a.get(), bytes_of("x"), too_many), std::invalid_argument);
}

// More fds than the receiver allows: MSG_CTRUNC (the kernel drops what does
// not fit) or a surplus (CMSG_SPACE rounding lets one more through). Either
// way an error, and every fd that did arrive is closed.
TEST(FdPassing, TooManyFdsIsAnErrorAndLeaksNothing) {
    for (const std::size_t sent : {2u, 3u, 9u}) {
        auto [a, b] = make_socket_pair();
        std::vector<EventFd> events(sent);
        std::vector<int> fds;
        for (const EventFd& e : events) {
            fds.push_back(e.fd());
        }
        send_with_fds(a.get(), bytes_of("too many"), fds);
        const int open_before = test::count_open_fds();
        std::vector<std::byte> buffer(16);
        try {
            (void)receive_with_fds(b.get(), buffer, 1);
            FAIL() << sent << " fds accepted with max_fds 1";
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code().value(), EMSGSIZE);
            EXPECT_THAT(e.what(), HasSubstr("more than 1 fds"));
        }
        EXPECT_EQ(test::count_open_fds(), open_before) << sent << " fds sent";
    }
}

TEST(FdPassing, NoFdsAllowedAtAll) {
    auto [a, b] = make_socket_pair();
    const int fds[] = {a.get()};
    send_with_fds(a.get(), bytes_of("x"), fds);
    const int open_before = test::count_open_fds();
    std::vector<std::byte> buffer(4);
    boost::system::error_code ec;
    (void)try_receive_with_fds(b.get(), buffer, 0, ec);
    EXPECT_EQ(ec, boost::asio::error::message_size);
    EXPECT_EQ(test::count_open_fds(), open_before);
}

TEST(FdPassing, TryReceiveReportsWouldBlockAndEof) {
    auto [a, b] = make_socket_pair();
    std::vector<std::byte> buffer(4);
    boost::system::error_code ec;
    (void)try_receive_with_fds(b.get(), buffer, 1, ec);
    EXPECT_EQ(ec, boost::asio::error::would_block);
    a.reset();
    ReceivedData received = try_receive_with_fds(b.get(), buffer, 1, ec);
    EXPECT_EQ(ec, boost::asio::error::eof);
    EXPECT_EQ(received.size, 0u);
    EXPECT_EQ(receive_with_fds(b.get(), buffer, 1).size, 0u);  // the blocking form: size 0
}

TEST(FdPassing, ReceiveIntoAnEmptyBufferIsRejected) {
    auto [a, b] = make_socket_pair();
    EXPECT_THROW((void)receive_with_fds(b.get(), {}, 1), std::system_error);
}

TEST(FdPassing, SendToAClosedPeerIsEpipeNotSigpipe) {
    auto [a, b] = make_socket_pair();
    b.reset();
    try {
        send_with_fds(a.get(), bytes_of("lost"));
        FAIL() << "no exception";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code().value(), EPIPE);
        EXPECT_THAT(e.what(), HasSubstr("sendmsg"));
    }
}

// A message bigger than the socket buffer goes out in several sendmsg calls
// (partial writes, and EAGAIN on a non-blocking socket); the fds come with
// the first bytes and every byte arrives in order.
TEST(FdPassing, LargeMessagesOnANonblockingSocket) {
    auto [a, b] = make_socket_pair();
    ASSERT_EQ(::fcntl(a.get(), F_SETFL, O_NONBLOCK), 0);
    std::vector<std::byte> message(4 << 20);
    for (std::size_t i = 0; i < message.size(); ++i) {
        message[i] = static_cast<std::byte>(i * 7 + i / 4096);
    }
    EventFd event;
    std::vector<std::byte> received_bytes;
    std::vector<UniqueFd> received_fds;
    std::thread reader([&, fd = b.get()] {
        std::vector<std::byte> buffer(64 << 10);
        while (received_bytes.size() < message.size()) {
            ReceivedData part = receive_with_fds(fd, buffer, 1);
            if (part.size == 0) {
                break;
            }
            received_bytes.insert(received_bytes.end(), buffer.begin(),
                                  buffer.begin() + static_cast<std::ptrdiff_t>(part.size));
            for (UniqueFd& fd_in : part.fds) {
                received_fds.push_back(std::move(fd_in));
            }
        }
    });
    const int fds[] = {event.fd()};
    send_with_fds(a.get(), message, fds);
    reader.join();
    EXPECT_TRUE(received_bytes == message);
    ASSERT_EQ(received_fds.size(), 1u);
    EventFd(std::move(received_fds[0])).signal(3);
    EXPECT_EQ(event.try_consume(), 3u);
}

TEST(AsyncReceive, CompletesWhenDataAndFdsArrive) {
    boost::asio::io_context context;
    auto [a, b] = make_socket_pair();
    LocalSocket socket = adopt_socket(context, std::move(b));
    std::vector<std::byte> buffer(32);
    std::optional<boost::system::error_code> result;
    ReceivedData received;
    async_receive_with_fds(socket, buffer, 2, [&](boost::system::error_code ec, ReceivedData data) {
        result = ec;
        received = std::move(data);
    });
    EXPECT_EQ(context.poll(), 0u);  // nothing to read yet: still waiting
    EXPECT_FALSE(result);

    EventFd event;
    const int fds[] = {event.fd()};
    send_with_fds(a.get(), bytes_of("evtchn"), fds);
    context.run();
    ASSERT_TRUE(result);
    EXPECT_FALSE(*result) << result->message();
    EXPECT_EQ(text_of(buffer, received.size), "evtchn");
    ASSERT_EQ(received.fds.size(), 1u);
    EventFd(std::move(received.fds[0])).signal();
    EXPECT_EQ(event.try_consume(), 1u);
}

TEST(AsyncReceive, ReportsEofWhenThePeerCloses) {
    boost::asio::io_context context;
    auto [a, b] = make_socket_pair();
    LocalSocket socket = adopt_socket(context, std::move(b));
    std::vector<std::byte> buffer(8);
    boost::system::error_code result;
    async_receive_with_fds(socket, buffer, 1,
                           [&](boost::system::error_code ec, ReceivedData) { result = ec; });
    a.reset();
    context.run();
    EXPECT_EQ(result, boost::asio::error::eof);
}

TEST(AsyncReceive, ReportsTooManyFds) {
    boost::asio::io_context context;
    auto [a, b] = make_socket_pair();
    LocalSocket socket = adopt_socket(context, std::move(b));
    std::vector<EventFd> events(4);
    const int fds[] = {events[0].fd(), events[1].fd(), events[2].fd(), events[3].fd()};
    send_with_fds(a.get(), bytes_of("x"), fds);
    std::vector<std::byte> buffer(8);
    boost::system::error_code result;
    std::size_t fds_seen = 99;
    async_receive_with_fds(socket, buffer, 1, [&](boost::system::error_code ec, ReceivedData data) {
        result = ec;
        fds_seen = data.fds.size();
    });
    context.run();
    EXPECT_EQ(result, boost::asio::error::message_size);
    EXPECT_EQ(fds_seen, 0u);
}

TEST(AsyncReceive, CanBeCancelled) {
    boost::asio::io_context context;
    auto [a, b] = make_socket_pair();
    LocalSocket socket = adopt_socket(context, std::move(b));
    std::vector<std::byte> buffer(8);
    boost::system::error_code result;
    async_receive_with_fds(socket, buffer, 1,
                           [&](boost::system::error_code ec, ReceivedData) { result = ec; });
    boost::asio::post(context, [&] { socket.cancel(); });
    context.run();
    EXPECT_EQ(result, boost::asio::error::operation_aborted);
}

TEST(AsyncReceive, SeveralMessagesInSequence) {
    boost::asio::io_context context;
    auto [a, b] = make_socket_pair();
    LocalSocket socket = adopt_socket(context, std::move(b));
    std::vector<std::byte> buffer(1);  // one byte at a time: each message is one byte
    std::string seen;
    std::size_t fds_seen = 0;
    std::function<void()> next = [&] {
        async_receive_with_fds(socket, buffer, 1,
                               [&](boost::system::error_code ec, ReceivedData data) {
                                   if (ec) {
                                       return;
                                   }
                                   seen += text_of(buffer, data.size);
                                   fds_seen += data.fds.size();
                                   next();
                               });
    };
    next();
    EventFd event;
    const int fds[] = {event.fd()};
    send_with_fds(a.get(), bytes_of("a"), fds);
    send_with_fds(a.get(), bytes_of("b"));
    send_with_fds(a.get(), bytes_of("c"), fds);
    a.reset();
    context.run();
    EXPECT_EQ(seen, "abc");
    EXPECT_EQ(fds_seen, 2u);
}

}  // namespace unix_socket_test
}  // namespace pvsim::os
