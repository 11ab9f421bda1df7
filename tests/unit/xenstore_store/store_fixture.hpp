// A Xenstore driven through its public API, with an Outbox that records
// every message and DomainHooks that record what the daemon would be asked
// to do (the hooks are the store's I/O boundary).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "xenstore/store/xenstore.hpp"

namespace pvsim::xenstore::store::test {

namespace xs = xen::xs;
using xs::MessageType;
using namespace std::string_literals;

struct Message {
    ConnectionId to;
    xs::MessageHeader header;
    std::string payload;
};

class RecordingOutbox : public Outbox {
  public:
    void deliver(ConnectionId connection, const xs::MessageHeader& header,
                 std::string_view payload) override {
        messages.push_back({connection, header, std::string(payload)});
    }
    std::vector<Message> messages;
};

class FakeHooks : public DomainHooks {
  public:
    struct Introduction {
        xen::DomId domid;
        std::uint64_t gfn;
        xen::EvtchnPort port;
    };
    int introduce(xen::DomId domid, std::uint64_t gfn, xen::EvtchnPort port) override {
        introductions.push_back({domid, gfn, port});
        return introduce_result;
    }
    int reintroduce(xen::DomId domid, xen::EvtchnPort port) override {
        reintroductions.push_back({domid, 0, port});
        return 0;
    }
    void release(xen::DomId domid) override { releases.push_back(domid); }

    int introduce_result = 0;
    std::vector<Introduction> introductions;
    std::vector<Introduction> reintroductions;
    std::vector<xen::DomId> releases;
};

struct Reply {
    MessageType type;
    std::string payload;

    bool is_ok() const { return type != MessageType::error && payload == "OK\0"s; }
    // The errno name of an XS_ERROR reply, "" for any other reply.
    std::string error() const {
        if (type != MessageType::error || payload.empty() || payload.back() != '\0') {
            return "";
        }
        return payload.substr(0, payload.size() - 1);
    }
};

struct Event {
    std::string path;
    std::string token;
    friend bool operator==(const Event&, const Event&) = default;
};

inline std::ostream& operator<<(std::ostream& out, const Event& event) {
    return out << "{" << event.path << ", " << event.token << "}";
}

class StoreTest : public ::testing::Test {
  protected:
    static constexpr ConnectionId kDom0 = 1;

    // The store is made on first use, so that a test can set quotas_ first.
    Xenstore& store() {
        if (!store_) {
            store_ = std::make_unique<Xenstore>(quotas_, outbox_, hooks_);
            store_->connect(kDom0, 0);
        }
        return *store_;
    }

    // Sends one request and returns its reply, checking that there is
    // exactly one and that it echoes req_id and tx_id. Watch events stay
    // recorded for take_events().
    Reply request(ConnectionId connection, MessageType type, std::string_view payload,
                  std::uint32_t tx_id = 0) {
        return request_raw(connection, static_cast<std::uint32_t>(type), payload, tx_id);
    }
    Reply request_raw(ConnectionId connection, std::uint32_t type, std::string_view payload,
                      std::uint32_t tx_id = 0) {
        Xenstore& xenstore = store();
        const std::size_t before = outbox_.messages.size();
        const std::uint32_t req_id = ++last_req_id_;
        xenstore.handle(connection,
                        {type, req_id, tx_id, static_cast<std::uint32_t>(payload.size())}, payload);
        std::vector<Reply> replies;
        for (std::size_t i = before; i < outbox_.messages.size();) {
            const Message& message = outbox_.messages[i];
            if (message.to == connection &&
                message.header.type != static_cast<std::uint32_t>(MessageType::watch_event)) {
                EXPECT_EQ(message.header.req_id, req_id);
                EXPECT_EQ(message.header.tx_id, tx_id);
                EXPECT_EQ(message.header.len, message.payload.size());
                replies.push_back({static_cast<MessageType>(message.header.type), message.payload});
                outbox_.messages.erase(outbox_.messages.begin() + static_cast<long>(i));
            } else {
                ++i;
            }
        }
        EXPECT_EQ(replies.size(), 1u) << "replies to one request";
        return replies.empty() ? Reply{MessageType::invalid, ""} : replies.front();
    }

    // The watch events delivered to `connection` since the last call.
    std::vector<Event> take_events(ConnectionId connection) {
        std::vector<Event> events;
        for (auto it = outbox_.messages.begin(); it != outbox_.messages.end();) {
            if (it->to != connection) {
                ++it;
                continue;
            }
            EXPECT_EQ(it->header.type, static_cast<std::uint32_t>(MessageType::watch_event));
            EXPECT_EQ(it->header.req_id, 0u);
            EXPECT_EQ(it->header.tx_id, 0u);
            const std::string& payload = it->payload;
            const std::size_t nul = payload.find('\0');
            EXPECT_NE(nul, std::string::npos);
            EXPECT_EQ(payload.back(), '\0');
            events.push_back(
                {payload.substr(0, nul), payload.substr(nul + 1, payload.size() - nul - 2)});
            it = outbox_.messages.erase(it);
        }
        return events;
    }

    // Requests expected to succeed.
    void write(ConnectionId connection, std::string_view path, std::string_view value,
               std::uint32_t tx_id = 0) {
        const Reply reply = request(connection, MessageType::write,
                                    std::string(path) + '\0' + std::string(value), tx_id);
        EXPECT_TRUE(reply.is_ok()) << "write " << path << ": " << reply.error();
    }
    std::string read(ConnectionId connection, std::string_view path, std::uint32_t tx_id = 0) {
        const Reply reply = request(connection, MessageType::read, arg(path), tx_id);
        EXPECT_EQ(reply.type, MessageType::read) << "read " << path << ": " << reply.error();
        return reply.payload;
    }
    void set_perms(ConnectionId connection, std::string_view path, std::string_view perms) {
        const Reply reply = request(connection, MessageType::set_perms,
                                    std::string(path) + '\0' + std::string(perms));
        EXPECT_TRUE(reply.is_ok()) << "set_perms " << path << ": " << reply.error();
    }
    void watch(ConnectionId connection, std::string_view path, std::string_view token) {
        const Reply reply = request(connection, MessageType::watch,
                                    std::string(path) + '\0' + std::string(token) + '\0');
        EXPECT_TRUE(reply.is_ok()) << "watch " << path << ": " << reply.error();
    }
    std::uint32_t start_transaction(ConnectionId connection) {
        const Reply reply = request(connection, MessageType::transaction_start, "\0"s);
        EXPECT_EQ(reply.type, MessageType::transaction_start) << reply.error();
        return static_cast<std::uint32_t>(std::stoul(reply.payload));
    }
    // The error name of ending the transaction, "" on success.
    std::string end_transaction(ConnectionId connection, std::uint32_t tx_id, bool commit) {
        const Reply reply =
            request(connection, MessageType::transaction_end, commit ? "T\0"s : "F\0"s, tx_id);
        EXPECT_TRUE(reply.is_ok() || !reply.error().empty());
        return reply.error();
    }

    // Introduces guest `domid` through dom0 and connects it as the daemon
    // would; its home /local/domain/<domid> is made by dom0 with `home_perms`
    // (the guest owns it by default).
    ConnectionId add_guest(xen::DomId domid, std::string home_perms = "") {
        const std::string id = std::to_string(domid);
        EXPECT_TRUE(
            request(kDom0, MessageType::introduce, id + '\0' + "100" + '\0' + "7" + '\0').is_ok());
        const ConnectionId connection = next_connection_++;
        store().connect(connection, domid);
        const std::string home = "/local/domain/" + id;
        EXPECT_TRUE(request(kDom0, MessageType::mkdir, arg(home)).is_ok());
        set_perms(kDom0, home, home_perms.empty() ? "n" + id + '\0' : home_perms);
        take_events(kDom0);
        take_events(connection);
        return connection;
    }

    // A second dom0 (socket) connection.
    ConnectionId add_dom0_connection() {
        const ConnectionId connection = next_connection_++;
        store().connect(connection, 0);
        return connection;
    }

    static std::string arg(std::string_view text) { return std::string(text) + '\0'; }
    // Each string nul-terminated: nul_args({"a", "b"}) is "a\0b\0".
    static std::string nul_args(std::initializer_list<std::string_view> parts) {
        std::string out;
        for (const std::string_view part : parts) {
            out += part;
            out += '\0';
        }
        return out;
    }

    Quotas quotas_;
    RecordingOutbox outbox_;
    FakeHooks hooks_;

  private:
    std::unique_ptr<Xenstore> store_;
    std::uint32_t last_req_id_ = 0;
    ConnectionId next_connection_ = 100;
};

}  // namespace pvsim::xenstore::store::test
