// One event channel port's logic (xen/common/event_channel.c semantics as
// hypervisor/client/event_channel.hpp describes them): the pending bit fed
// from the port's eventfd, coalescing, masking, the fast path to the peer's
// eventfd while the binding's generation holds, and close. The shared-info
// object is a real shared-memory object; the hypervisor's side is the test,
// which sets bits and generations and scripts the few hypercalls.
#include "hypervisor/client/event_channel.hpp"

#include <cerrno>
#include <memory>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

#include "hypervisor/client/session.hpp"
#include "scripted_peer.hpp"

namespace pvsim::hypervisor {
namespace {

constexpr xen::EvtchnPort kPort = 70;  // word 1, bit 6: not the first word

class EventChannelTest : public ::testing::Test {
  protected:
    EventChannelTest() {
        auto [client, server] = os::make_socket_pair();
        session_ = std::make_shared<Session>(std::move(client));
        peer_.emplace(std::move(server));
        session_->shared_info_memory.emplace(shm_.create("info", wire::kSharedInfoBytes));
        session_->shared_info = wire::SharedInfoView(session_->shared_info_memory->data());
    }

    wire::SharedInfoView info() const { return session_->shared_info; }

    // A port whose incoming eventfd the test (as the hypervisor) keeps a
    // copy of in `incoming_`.
    EventChannel make_channel(xen::EvtchnPort port = kPort) {
        os::EventFd incoming;
        incoming_.emplace(incoming.duplicate());
        return EventChannel(session_, port, std::move(incoming));
    }

    // Closes `channel` as the hypervisor would answer, and checks the call.
    void close(EventChannel& channel) {
        const xen::EvtchnPort port = channel.port();
        peer_->reply(wire::Op::evtchn_close, 0, test::bytes_of(wire::EvtchnPortOp{port, 0, 0, 0}));
        channel.close();
        const test::Request request = peer_->read_request();
        EXPECT_EQ(request.op(), wire::Op::evtchn_close);
        EXPECT_EQ(request.as<wire::EvtchnPortOp>().port, port);
    }

    void script_send_reply(std::uint32_t delivered, std::uint32_t generation,
                           const os::EventFd* peer_fd) {
        const wire::EvtchnPortOp out{kPort, delivered, generation, 0};
        if (peer_fd != nullptr) {
            const int fds[] = {peer_fd->fd()};
            peer_->reply(wire::Op::evtchn_send, 0, test::bytes_of(out), fds);
        } else {
            peer_->reply(wire::Op::evtchn_send, 0, test::bytes_of(out));
        }
    }

    void expect_send_request() {
        const test::Request request = peer_->read_request();
        EXPECT_EQ(request.op(), wire::Op::evtchn_send);
        EXPECT_EQ(request.as<wire::EvtchnPortOp>().port, kPort);
    }

    test::TestShm shm_;
    std::shared_ptr<Session> session_;
    std::optional<test::ScriptedPeer> peer_;
    std::optional<os::EventFd> incoming_;
};

TEST_F(EventChannelTest, SendsWhileNotLookingCoalesceIntoOneEvent) {
    EventChannel channel = make_channel();
    EXPECT_EQ(channel.port(), kPort);
    EXPECT_TRUE(channel);
    EXPECT_FALSE(channel.poll());
    incoming_->signal();
    incoming_->signal();
    incoming_->signal();
    EXPECT_TRUE(channel.poll());
    EXPECT_FALSE(channel.poll());
    EXPECT_FALSE(channel.pending());
    EXPECT_EQ(info().events_delivered().load(), 1u);
    close(channel);
}

TEST_F(EventChannelTest, ThePendingBitLivesInSharedInfoAtXensPlace) {
    EventChannel channel = make_channel();
    incoming_->signal();
    channel.mask();
    EXPECT_FALSE(channel.poll());
    // xen.h shared_info: evtchn_pending[] at 2048, evtchn_mask[] at 2560.
    const auto* words =
        reinterpret_cast<const std::uint64_t*>(session_->shared_info_memory->data());
    EXPECT_EQ(words[2048 / 8 + 1], std::uint64_t{1} << 6);
    EXPECT_EQ(words[2560 / 8 + 1], std::uint64_t{1} << 6);
    EXPECT_EQ(words[2048 / 8], 0u);
    channel.mask();  // idempotent, and no hypercall
    EXPECT_TRUE(peer_->nothing_sent());
    info().mask_word(kPort).store(0);
    EXPECT_TRUE(channel.poll());
    close(channel);
}

TEST_F(EventChannelTest, APendingBitSetByTheHypervisorIsDelivered) {
    EventChannel channel = make_channel();
    info().pending_word(kPort).fetch_or(wire::SharedInfoView::bit(kPort));
    EXPECT_TRUE(channel.pending());
    EXPECT_TRUE(channel.poll());
    EXPECT_FALSE(channel.pending());
    close(channel);
}

TEST_F(EventChannelTest, AMaskedPortKeepsItsEventPendingAndUnmaskReraisesIt) {
    EventChannel channel = make_channel();
    channel.mask();
    EXPECT_TRUE(channel.masked());
    incoming_->signal();
    EXPECT_FALSE(channel.poll());
    EXPECT_FALSE(channel.poll());
    EXPECT_TRUE(channel.pending());
    EXPECT_EQ(info().events_delivered().load(), 0u);

    peer_->reply(wire::Op::evtchn_unmask, 0, test::bytes_of(wire::EvtchnPortOp{kPort, 0, 0, 0}));
    channel.unmask();
    EXPECT_FALSE(channel.masked());
    const test::Request request = peer_->read_request();
    EXPECT_EQ(request.op(), wire::Op::evtchn_unmask);
    EXPECT_EQ(request.as<wire::EvtchnPortOp>().port, kPort);
    EXPECT_TRUE(channel.poll());
    EXPECT_FALSE(channel.poll());
    close(channel);
}

TEST_F(EventChannelTest, UnmaskingWithNothingPendingMakesNoHypercall) {
    EventChannel channel = make_channel();
    channel.mask();
    channel.unmask();
    EXPECT_FALSE(channel.masked());
    EXPECT_TRUE(peer_->nothing_sent());
    close(channel);
}

TEST_F(EventChannelTest, OtherPortsBitsAreLeftAlone) {
    EventChannel channel = make_channel();
    const xen::EvtchnPort neighbour = kPort + 1;
    info().pending_word(neighbour).fetch_or(wire::SharedInfoView::bit(neighbour));
    info().mask_word(neighbour).fetch_or(wire::SharedInfoView::bit(neighbour));
    EXPECT_FALSE(channel.poll());
    EXPECT_FALSE(channel.masked());
    incoming_->signal();
    EXPECT_TRUE(channel.poll());
    channel.mask();
    channel.unmask();
    EXPECT_EQ(info().pending_word(neighbour).load(), wire::SharedInfoView::bit(neighbour));
    EXPECT_EQ(info().mask_word(neighbour).load(), wire::SharedInfoView::bit(neighbour));
    close(channel);
}

TEST_F(EventChannelTest, SendsGoStraightToThePeerWhileTheGenerationHolds) {
    EventChannel channel = make_channel();
    os::EventFd peer_incoming;
    info().generation(kPort).store(5);

    // The first send asks the hypervisor, which delivers and hands back the
    // peer's eventfd at generation 5.
    script_send_reply(1, 5, &peer_incoming);
    channel.notify();
    expect_send_request();
    EXPECT_EQ(info().events_sent_fast().load(), 0u);

    // The next ones are writes to that eventfd, no hypercall.
    channel.notify();
    channel.notify();
    EXPECT_TRUE(peer_->nothing_sent());
    EXPECT_EQ(peer_incoming.try_consume(), 2u);
    EXPECT_EQ(info().events_sent_fast().load(), 2u);

    // The binding changed: back to the hypervisor, which drops the send.
    info().generation(kPort).store(6);
    script_send_reply(0, 6, nullptr);
    channel.notify();
    expect_send_request();
    EXPECT_EQ(peer_incoming.try_consume(), 0u);
    // And with nothing cached, every send asks again.
    script_send_reply(0, 6, nullptr);
    channel.notify();
    expect_send_request();
    EXPECT_EQ(info().events_sent_fast().load(), 2u);
    close(channel);
}

TEST_F(EventChannelTest, ARefusedSendIsAHypercallError) {
    EventChannel channel = make_channel();
    peer_->reply(wire::Op::evtchn_send, -EINVAL, {});
    try {
        channel.notify();
        ADD_FAILURE() << "no error";
    } catch (const HypercallError& e) {
        EXPECT_EQ(e.error(), EINVAL);
        EXPECT_STREQ(e.what(), "EVTCHNOP_send(port 70): Invalid argument");
    }
    expect_send_request();
    close(channel);
}

TEST_F(EventChannelTest, WaitReturnsOnceAnEventArrives) {
    EventChannel channel = make_channel();
    std::thread sender([this] { incoming_->signal(); });
    channel.wait();
    sender.join();
    EXPECT_FALSE(channel.poll());
    close(channel);
}

TEST_F(EventChannelTest, CloseIsOneHypercallAndIdempotent) {
    EventChannel channel = make_channel();
    close(channel);
    EXPECT_FALSE(channel);
    EXPECT_EQ(channel.fd(), -1);
    channel.close();
    EXPECT_TRUE(peer_->nothing_sent());
    EXPECT_THROW(channel.poll(), std::logic_error);
    EXPECT_THROW(channel.notify(), std::logic_error);
}

TEST_F(EventChannelTest, ClosingAfterTheConnectionIsGoneIsQuiet) {
    EventChannel channel = make_channel();
    EventChannel other = make_channel(kPort + 1);
    peer_->hang_up();
    EXPECT_NO_THROW(channel.close());
    // and the destructor of `other` does the same.
}

TEST_F(EventChannelTest, MovingHandsThePortOverAndAssigningClosesTheOldOne) {
    EventChannel first = make_channel();
    const int fd = first.fd();
    EventChannel moved(std::move(first));
    EXPECT_FALSE(first);
    EXPECT_EQ(first.fd(), -1);
    EXPECT_EQ(moved.port(), kPort);
    EXPECT_EQ(moved.fd(), fd);
    first.close();  // nothing to close: no hypercall
    EXPECT_TRUE(peer_->nothing_sent());

    EventChannel second = make_channel(kPort + 1);
    peer_->reply(wire::Op::evtchn_close, 0, test::bytes_of(wire::EvtchnPortOp{kPort, 0, 0, 0}));
    second = std::move(moved);
    const test::Request request = peer_->read_request();
    EXPECT_EQ(request.op(), wire::Op::evtchn_close);
    EXPECT_EQ(request.as<wire::EvtchnPortOp>().port, kPort + 1);
    EXPECT_EQ(second.port(), kPort);
    close(second);
}

TEST(EventChannelEmpty, AChannelWithoutAPortHasNoFdAndRefusesWork) {
    EventChannel channel;
    EXPECT_FALSE(channel);
    EXPECT_EQ(channel.fd(), -1);
    EXPECT_THROW(channel.poll(), std::logic_error);
    EXPECT_THROW(channel.mask(), std::logic_error);
    EXPECT_NO_THROW(channel.close());
}

TEST_F(EventChannelTest, PortsOutsideTheSharedInfoBitmapsAreRejected) {
    EXPECT_THROW(make_channel(0), std::invalid_argument);
    EXPECT_THROW(make_channel(wire::kMaxEvtchnPorts), std::invalid_argument);
}

}  // namespace
}  // namespace pvsim::hypervisor
