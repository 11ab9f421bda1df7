// The client over a guest's xenstore page: a DomainInterface in this
// process's memory, an eventfd pair standing in for the store event channel,
// and a thread serving the other side with common/xen/xs_ring.hpp as
// xenstored would (it waits on its eventfd only after finding the ring
// empty, and notifies by Linux's rules, so lost wake-ups would hang here).
// Messages of up to 4 KiB cross the 1 KiB rings in pieces and wrap them many
// times; broken indexes fail the connection.
#include "xenstore/client/ring_transport.hpp"

#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/os/event_fd.hpp"
#include "common/xen/xs_ring.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/thread_state.hpp"
#include "xenstore/client/client.hpp"

namespace pvsim::xenstore::client {
namespace {

using namespace std::chrono_literals;
using xen::xs::DomainInterface;
using xen::xs::MessageHeader;
using xen::xs::MessageType;
using xen::xs::RingSide;

// Both directions of an event channel: each end's incoming eventfd, and a
// count of the notifications each end sent.
struct EventPair {
    os::EventFd guest{os::EventFd::Options{.nonblocking = true}};
    os::EventFd server{os::EventFd::Options{.nonblocking = true}};
    std::atomic<int> guest_notified{0};
};

class TestEvents final : public RingEvents {
  public:
    explicit TestEvents(EventPair& pair) : pair_(pair) {}
    int fd() const override { return pair_.guest.fd(); }
    bool take() override { return pair_.guest.try_consume() != 0; }
    void notify() override {
        ++pair_.guest_notified;
        pair_.server.signal();
    }

  private:
    EventPair& pair_;
};

// The xenstored side of the page: a tiny store answering READ, WRITE and
// WATCH (which fires at once, as xenstored's does) until stopped.
class RingServer {
  public:
    RingServer(DomainInterface& page, EventPair& events) : page_(page), events_(events) {
        thread_ = std::thread([this] { serve(); });
    }
    ~RingServer() {
        stop_ = true;
        events_.server.signal();
        thread_.join();
    }

    int requests() const { return requests_.load(); }

  private:
    // Blocks until `ready()` or stopped; false when stopped.
    template <typename Ready>
    bool wait(Ready ready) {
        for (;;) {
            if (stop_) {
                return false;
            }
            if (ready()) {
                return true;
            }
            pollfd pfd{.fd = events_.server.fd(), .events = POLLIN, .revents = 0};
            ::poll(&pfd, 1, 1000);
            events_.server.try_consume();
        }
    }

    bool read_exactly(char* data, std::size_t size) {
        while (size > 0) {
            if (!wait([&] { return xen::xs::readable(page_, RingSide::server) > 0; })) {
                return false;
            }
            const auto done = xen::xs::read_some(page_, RingSide::server, {data, size});
            data += done.bytes;
            size -= done.bytes;
            if (done.notify) {
                events_.guest.signal();
            }
        }
        return true;
    }

    bool write_all(std::string_view bytes) {
        while (!bytes.empty()) {
            if (!wait([&] { return xen::xs::writable(page_, RingSide::server) > 0; })) {
                return false;
            }
            const auto done = xen::xs::write_some(page_, RingSide::server, bytes);
            bytes.remove_prefix(done.bytes);
            if (done.notify) {
                events_.guest.signal();
            }
        }
        return true;
    }

    bool send(MessageType type, const MessageHeader& request, std::string_view payload) {
        const MessageHeader header{static_cast<std::uint32_t>(type), request.req_id, request.tx_id,
                                   static_cast<std::uint32_t>(payload.size())};
        std::string frame(reinterpret_cast<const char*>(&header), sizeof header);
        frame += payload;
        return write_all(frame);
    }

    void serve() {
        for (;;) {
            MessageHeader header{};
            if (!read_exactly(reinterpret_cast<char*>(&header), sizeof header)) {
                return;
            }
            std::string payload(header.len, '\0');
            if (!read_exactly(payload.data(), payload.size())) {
                return;
            }
            ++requests_;
            const std::string path = payload.substr(0, payload.find('\0'));
            bool ok = true;
            switch (static_cast<MessageType>(header.type)) {
                case MessageType::read:
                    if (auto it = nodes_.find(path); it != nodes_.end()) {
                        ok = send(MessageType::read, header, it->second);
                    } else {
                        ok = send(MessageType::error, header, std::string("ENOENT") + '\0');
                    }
                    break;
                case MessageType::write:
                    nodes_[path] = payload.substr(path.size() + 1);
                    ok = send(MessageType::write, header, std::string("OK") + '\0');
                    break;
                case MessageType::watch:
                    ok = send(MessageType::watch, header, std::string("OK") + '\0') &&
                         send(MessageType::watch_event, MessageHeader{}, payload);
                    break;
                default:
                    ok = send(MessageType::error, header, std::string("ENOSYS") + '\0');
            }
            if (!ok) {
                return;
            }
        }
    }

    DomainInterface& page_;
    EventPair& events_;
    std::map<std::string, std::string> nodes_;
    std::atomic<bool> stop_{false};
    std::atomic<int> requests_{0};
    std::thread thread_;
};

class RingTransportTest : public ::testing::Test {
  protected:
    std::unique_ptr<RingTransport> transport() {
        return std::make_unique<RingTransport>(*page_, std::make_unique<TestEvents>(events_));
    }

    std::unique_ptr<DomainInterface> page_ = std::make_unique<DomainInterface>();
    EventPair events_;
};

// A value of `size` bytes that differs for every `seed`.
std::string value_of(std::size_t size, int seed) {
    std::string value(size, '\0');
    for (std::size_t i = 0; i < size; ++i) {
        value[i] = static_cast<char>('!' + (i * 7 + seed * 13) % 90);
    }
    return value;
}

TEST_F(RingTransportTest, AClientReadsAndWritesOverTheRing) {
    RingServer server(*page_, events_);
    Client client(transport());
    client.write("/local/domain/1/name", "guest");
    EXPECT_EQ(client.read("/local/domain/1/name"), "guest");
    EXPECT_EQ(client.try_read("/missing"), std::nullopt);
    const Error error = [&] {
        try {
            client.mkdir("/m");
        } catch (const Error& e) {
            return e;
        }
        throw std::runtime_error("mkdir did not fail");
    }();
    EXPECT_EQ(error.errnum(), ENOSYS);
    EXPECT_GT(events_.guest_notified.load(), 0);
}

TEST_F(RingTransportTest, FullSizeMessagesWrapTheRingsManyTimes) {
    RingServer server(*page_, events_);
    Client client(transport());
    const std::string path = "/big";
    // path + nul + value = XENSTORE_PAYLOAD_MAX: four rings' worth per frame.
    const std::size_t size = xen::xs::kPayloadMax - path.size() - 1;
    for (int i = 0; i < 40; ++i) {
        const std::string value = value_of(size, i);
        client.write(path, value);
        ASSERT_EQ(client.read(path), value) << "round " << i;
    }
    // 40 requests and 40 replies of 4 KiB each went through 1 KiB rings.
    EXPECT_GT(page_->req_prod, 40u * xen::xs::kPayloadMax);
    EXPECT_GT(page_->rsp_prod, 40u * (xen::xs::kPayloadMax - path.size() - 1));
}

TEST_F(RingTransportTest, ConcurrentCallersShareTheRing) {
    RingServer server(*page_, events_);
    Client client(transport());
    std::vector<std::future<void>> callers;
    for (int t = 0; t < 4; ++t) {
        callers.push_back(std::async(std::launch::async, [&client, t] {
            for (int i = 0; i < 30; ++i) {
                const std::string path = "/t" + std::to_string(t) + "/" + std::to_string(i);
                const std::string value = value_of(100 + (t * 997 + i * 131) % 2500, t + i);
                client.write(path, value);
                if (client.read(path) != value) {
                    throw std::runtime_error("wrong value at " + path);
                }
            }
        }));
    }
    for (auto& caller : callers) {
        caller.get();
    }
    EXPECT_EQ(server.requests(), 4 * 30 * 2);
}

TEST_F(RingTransportTest, WatchEventsArriveOverTheRing) {
    RingServer server(*page_, events_);
    Client client(transport());
    std::promise<WatchEvent> fired;
    Watch watch =
        client.watch("/be/state", "tok", [&](const WatchEvent& event) { fired.set_value(event); });
    auto event = fired.get_future();
    ASSERT_EQ(event.wait_for(10s), std::future_status::ready);
    const WatchEvent got = event.get();
    EXPECT_EQ(got.path, "/be/state");
    EXPECT_EQ(got.token, "tok");
    client.close();  // the server has no UNWATCH
}

TEST_F(RingTransportTest, BrokenIndexesFailTheConnection) {
    Client client(transport());
    page_->req_cons = 5;
    page_->req_prod = 5 + 2 * xen::xs::kRingSize;  // a peer gone mad
    try {
        client.read("/a");
        FAIL() << "the read went through";
    } catch (const Error& e) {
        EXPECT_EQ(e.errnum(), ECONNRESET);
        EXPECT_NE(std::string(e.what()).find("req ring: broken indexes"), std::string::npos)
            << e.what();
    }
    EXPECT_FALSE(client.connected());
    EXPECT_THROW(client.read("/b"), Error);
}

TEST_F(RingTransportTest, ABrokenResponseRingFailsTheConnection) {
    Client client(transport());
    auto read = std::async(std::launch::async, [&] {
        try {
            client.read("/a");
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    });
    // The server side sees the request, then the rsp indexes go bad.
    char header[sizeof(MessageHeader)];
    while (xen::xs::readable(*page_, RingSide::server) < sizeof header) {
        std::this_thread::sleep_for(1ms);
    }
    page_->rsp_cons = 100;
    page_->rsp_prod = 50;
    events_.guest.signal();
    EXPECT_NE(read.get().find("rsp ring: broken indexes"), std::string::npos);
}

TEST_F(RingTransportTest, SendWaitsForRoomOnAFullRing) {
    std::unique_ptr<RingTransport> ring = transport();
    const std::string payload = value_of(3000, 1);
    const MessageHeader header{static_cast<std::uint32_t>(MessageType::write), 42, 0,
                               static_cast<std::uint32_t>(payload.size())};
    auto sending = std::async(std::launch::async, [&] { ring->send(header, payload); });
    // The first KiB fills the ring; the rest waits: send() cannot be done
    // while the ring holds less than the message (and what the drain below
    // receives is the whole of it, taken as room was made).
    while (xen::xs::readable(*page_, RingSide::server) < xen::xs::kRingSize) {
        std::this_thread::sleep_for(1ms);
    }
    EXPECT_EQ(sending.wait_for(0ms), std::future_status::timeout);
    // Told there was something: the notification follows the producer index
    // (xs_ring's write_some, then notify), so it may land just after the
    // ring is seen full.
    std::uint64_t told = 0;
    EXPECT_TRUE(
        pvsim::test::eventually([&] { return (told += events_.server.try_consume()) >= 1; }));

    // Drain as xenstored would, telling the guest when the ring was full.
    std::string received;
    while (received.size() < sizeof header + payload.size()) {
        char buffer[700];
        const auto done = xen::xs::read_some(*page_, RingSide::server, buffer);
        received.append(buffer, done.bytes);
        if (done.notify) {
            events_.guest.signal();
        }
        if (done.bytes == 0) {
            std::this_thread::sleep_for(1ms);
        }
    }
    sending.get();
    MessageHeader got{};
    std::memcpy(&got, received.data(), sizeof got);
    EXPECT_EQ(got.req_id, 42u);
    EXPECT_EQ(got.len, payload.size());
    EXPECT_EQ(received.substr(sizeof got), payload);
}

TEST_F(RingTransportTest, ShutdownWakesReceiveAndRefusesSends) {
    std::unique_ptr<RingTransport> ring = transport();
    std::atomic<pid_t> receiver{0};
    auto receiving = std::async(std::launch::async, [&] {
        receiver = ::gettid();
        return ring->receive();
    });
    // Asleep in receive(), waiting for the event channel.
    ASSERT_TRUE(pvsim::test::eventually(
        [&] { return receiver != 0 && pvsim::test::blocked_in_poll(receiver); }));
    ring->shutdown();
    EXPECT_EQ(receiving.get(), std::nullopt);
    const MessageHeader header{static_cast<std::uint32_t>(MessageType::read), 1, 0, 0};
    EXPECT_THROW(ring->send(header, {}), std::system_error);
}

TEST_F(RingTransportTest, AnOverlongFrameIsRefused) {
    std::unique_ptr<RingTransport> ring = transport();
    const MessageHeader header{static_cast<std::uint32_t>(MessageType::read), 1, 0, 4097};
    ASSERT_EQ(xen::xs::write_some(*page_, RingSide::server,
                                  {reinterpret_cast<const char*>(&header), sizeof header})
                  .bytes,
              sizeof header);
    EXPECT_THROW(ring->receive(), std::runtime_error);
}

}  // namespace
}  // namespace pvsim::xenstore::client
