// The hypercall framing (hypervisor/protocol/hypercall.hpp) against a peer
// thread that plays a hypervisor misbehaving on purpose: replies for the
// wrong op, too long, cut off, or dribbled out in pieces.
#include "hypervisor/client/hypercall_channel.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/os/event_fd.hpp"
#include "scripted_peer.hpp"

namespace pvsim::hypervisor {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::byte> text(const std::string& s) {
    const auto bytes = std::as_bytes(std::span(s.data(), s.size()));
    return {bytes.begin(), bytes.end()};
}

class HypercallChannelTest : public ::testing::Test {
  protected:
    HypercallChannelTest() {
        auto [client, server] = os::make_socket_pair();
        channel_.emplace(std::move(client));
        peer_.emplace(std::move(server));
    }
    ~HypercallChannelTest() override {
        if (thread_.joinable()) {
            thread_.join();
        }
    }

    // Runs `serve` as the hypervisor, on its own thread.
    void serve(std::function<void(test::ScriptedPeer&)> serve) {
        thread_ = std::thread([this, serve = std::move(serve)] { serve(*peer_); });
    }

    // The error of a call that must fail.
    HypercallError failed_call(wire::Op op = wire::Op::domain_info) {
        try {
            (void)channel_->call(op, text("request"));
        } catch (const HypercallError& e) {
            return e;
        }
        ADD_FAILURE() << "the call succeeded";
        return HypercallError("none", 0);
    }

    std::optional<HypercallChannel> channel_;
    std::optional<test::ScriptedPeer> peer_;
    std::thread thread_;
};

TEST_F(HypercallChannelTest, ACallSendsOneFramedRequestAndReturnsItsReply) {
    serve([](test::ScriptedPeer& peer) {
        const test::Request request = peer.read_request();
        EXPECT_EQ(request.op(), wire::Op::evtchn_status);
        EXPECT_EQ(request.payload, text("status?"));
        peer.reply(wire::Op::evtchn_status, 0, text("answer"));
    });
    const HypercallReply reply = channel_->call(wire::Op::evtchn_status, text("status?"));
    EXPECT_EQ(reply.result, 0);
    EXPECT_EQ(reply.payload, text("answer"));
    EXPECT_TRUE(reply.fds.empty());
}

TEST_F(HypercallChannelTest, ARefusedCallReturnsItsNegativeResult) {
    serve([](test::ScriptedPeer& peer) {
        (void)peer.read_request();
        peer.reply(wire::Op::evtchn_close, -EINVAL, {});
        (void)peer.read_request();
        peer.reply(wire::Op::evtchn_close, 0, {});
    });
    EXPECT_EQ(channel_->call(wire::Op::evtchn_close, text("x")).result, -EINVAL);
    // The connection lives on.
    EXPECT_EQ(channel_->call(wire::Op::evtchn_close, text("x")).result, 0);
}

TEST_F(HypercallChannelTest, AReplySplitAcrossWritesIsReassembledWithItsFds) {
    os::EventFd first;
    os::EventFd second;
    serve([&](test::ScriptedPeer& peer) {
        (void)peer.read_request();
        const std::vector<std::byte> payload = text("a payload in three pieces");
        const wire::ReplyHeader header{static_cast<std::uint32_t>(wire::Op::evtchn_send), 0,
                                       static_cast<std::uint32_t>(payload.size()), 2};
        const auto head = test::bytes_of(header);
        const int fds[] = {first.fd(), second.fd()};
        // The fds ride on the first byte; the rest trickles in.
        peer.send_raw(head.subspan(0, 3), fds);
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        peer.send_raw(head.subspan(3));
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        peer.send_raw(std::span(payload).subspan(0, 4));
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        peer.send_raw(std::span(payload).subspan(4));
    });
    HypercallReply reply = channel_->call(wire::Op::evtchn_send, text("send"));
    EXPECT_EQ(reply.payload, text("a payload in three pieces"));
    ASSERT_EQ(reply.fds.size(), 2u);
    // They are the peer's eventfds, in order.
    os::EventFd received_first(std::move(reply.fds[0]));
    os::EventFd received_second(std::move(reply.fds[1]));
    received_first.signal(3);
    received_second.signal(5);
    EXPECT_EQ(first.try_consume(), 3u);
    EXPECT_EQ(second.try_consume(), 5u);
}

TEST_F(HypercallChannelTest, AReplyForAnotherOpIsAProtocolError) {
    serve([](test::ScriptedPeer& peer) {
        (void)peer.read_request();
        peer.reply(wire::Op::grant_map, 0, text("not yours"));
    });
    const HypercallError error = failed_call(wire::Op::grant_unmap);
    EXPECT_EQ(error.error(), EPROTO);
    EXPECT_THAT(error.what(), HasSubstr("grant_unmap"));
    // The stream is no longer at a message boundary: later calls fail at
    // once rather than read a stranger's bytes.
    EXPECT_EQ(failed_call().error(), ECONNRESET);
}

TEST_F(HypercallChannelTest, AnOversizedReplyIsAProtocolError) {
    serve([](test::ScriptedPeer& peer) {
        (void)peer.read_request();
        const wire::ReplyHeader header{static_cast<std::uint32_t>(wire::Op::domain_info), 0,
                                       static_cast<std::uint32_t>(wire::kMaxPayload + 1), 0};
        peer.send_raw(test::bytes_of(header));
    });
    EXPECT_EQ(failed_call().error(), EPROTO);
}

TEST_F(HypercallChannelTest, AReplyWithFewerFdsThanAnnouncedIsAProtocolError) {
    os::EventFd only;
    serve([&](test::ScriptedPeer& peer) {
        (void)peer.read_request();
        const int fds[] = {only.fd()};
        const wire::ReplyHeader header{static_cast<std::uint32_t>(wire::Op::domain_info), 0, 0, 2};
        peer.send_raw(test::bytes_of(header), fds);
    });
    EXPECT_EQ(failed_call().error(), EPROTO);
}

TEST_F(HypercallChannelTest, EndOfStreamInTheMiddleOfAReplyIsAConnectionReset) {
    serve([](test::ScriptedPeer& peer) {
        (void)peer.read_request();
        const wire::ReplyHeader header{static_cast<std::uint32_t>(wire::Op::domain_info), 0, 100,
                                       0};
        peer.send_raw(test::bytes_of(header));
        peer.send_raw(text("only ten b"));
        peer.hang_up();
    });
    const HypercallError error = failed_call();
    EXPECT_EQ(error.error(), ECONNRESET);
    EXPECT_THAT(error.what(), HasSubstr("closed"));
}

TEST_F(HypercallChannelTest, EndOfStreamInTheMiddleOfAHeaderIsAConnectionReset) {
    serve([](test::ScriptedPeer& peer) {
        (void)peer.read_request();
        const wire::ReplyHeader header{static_cast<std::uint32_t>(wire::Op::domain_info), 0, 0, 0};
        peer.send_raw(test::bytes_of(header).subspan(0, 5));
        peer.hang_up();
    });
    EXPECT_EQ(failed_call().error(), ECONNRESET);
}

TEST_F(HypercallChannelTest, ACallOnAClosedConnectionIsAConnectionReset) {
    peer_->hang_up();
    EXPECT_EQ(failed_call().error(), ECONNRESET);
}

TEST_F(HypercallChannelTest, AnOversizedRequestIsRefusedBeforeSending) {
    const std::vector<std::byte> payload(wire::kMaxPayload + 1);
    try {
        (void)channel_->call(wire::Op::grant_copy, payload);
        ADD_FAILURE() << "the call succeeded";
    } catch (const HypercallError& e) {
        EXPECT_EQ(e.error(), E2BIG);
    }
    EXPECT_TRUE(peer_->nothing_sent());
}

TEST_F(HypercallChannelTest, TheWelcomeComesUnaskedWithItsFds) {
    os::EventFd a;
    os::EventFd b;
    os::EventFd c;
    const int fds[] = {a.fd(), b.fd(), c.fd()};
    peer_->reply(wire::Op::welcome, 0, text("welcome"), fds);
    const HypercallReply welcome = channel_->receive_welcome();
    EXPECT_EQ(welcome.payload, text("welcome"));
    EXPECT_EQ(welcome.fds.size(), 3u);
    EXPECT_TRUE(peer_->nothing_sent());
}

TEST_F(HypercallChannelTest, AnotherMessageInPlaceOfTheWelcomeIsAProtocolError) {
    peer_->reply(wire::Op::domain_info, 0, {});
    try {
        (void)channel_->receive_welcome();
        ADD_FAILURE() << "accepted";
    } catch (const HypercallError& e) {
        EXPECT_EQ(e.error(), EPROTO);
    }
}

TEST_F(HypercallChannelTest, ConcurrentCallersEachGetTheirOwnReply) {
    constexpr int kCalls = 200;
    serve([](test::ScriptedPeer& peer) {
        // Echo every request, so that a reply shows whose it was.
        for (int i = 0; i < 2 * kCalls; ++i) {
            const test::Request request = peer.read_request();
            peer.reply(request.op(), 0, request.payload);
        }
    });
    auto caller = [this](const std::string& name) {
        for (int i = 0; i < kCalls; ++i) {
            const std::vector<std::byte> payload = text(name + std::to_string(i));
            EXPECT_EQ(channel_->call(wire::Op::domain_info, payload).payload, payload);
        }
    };
    std::thread other(caller, "other-");
    caller("main-");
    other.join();
}

}  // namespace
}  // namespace pvsim::hypervisor
