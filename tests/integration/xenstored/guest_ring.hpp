// The guest's end of a real guest's xenstore ring, driven from the test: a
// pvsim_test_domain guest owns the page and its store event channel; the
// test (a dom0 process too) maps the same page through the hypervisor's
// foreign map, moves bytes with common/xen/xs_ring's guest side, and asks
// the guest process to notify its store port. So the test can write what a
// guest kernel's xenbus would (and what a broken one might) and read what
// pvsim-xenstored answers on the ring.
#pragma once

#include <atomic>
#include <chrono>
#include <cstring>
#include <deque>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "common/xen/xs_ring.hpp"
#include "common/xen/xs_wire.hpp"
#include "hypervisor/client/hypervisor.hpp"
#include "tests/integration/xenstored/raw_client.hpp"
#include "tests/support/hypervisor_process.hpp"

namespace pvsim::test {

class GuestRing {
  public:
    GuestRing(const HypervisorProcess& hypervisor, TestGuest& guest)
        : dom0_(hypervisor.connect_dom0()), guest_(guest) {
        const nlohmann::json info = hypervisor.control().info(guest.domid());
        gfn_ = info.at("store_gfn").get<std::uint64_t>();
        port_ = info.at("store_port").get<xen::EvtchnPort>();
        const hypervisor::ForeignMapRequest request{guest.domid(), gfn_, false};
        const hypervisor::GrantMapping mapping = dom0_.map_foreign_pages({&request, 1}).at(0);
        if (mapping.status != xen::GntSt::okay) {
            throw std::runtime_error("cannot map the guest's xenstore page: " +
                                     std::string(xen::name(mapping.status)));
        }
        handle_ = mapping.handle;
        intf_ = reinterpret_cast<xs::DomainInterface*>(mapping.page);
        // The guest takes its end of the store event channel, to notify it.
        const std::string port = guest.ok("store-port");
        if (std::stoul(port) != port_) {
            throw std::runtime_error("the guest's store port is " + port + ", info says " +
                                     std::to_string(port_));
        }
    }
    ~GuestRing() {
        try {
            dom0_.unmap_grant_refs({&handle_, 1});
        } catch (const std::exception&) {
            // The hypervisor may be gone (a test stopped it).
        }
    }
    GuestRing(const GuestRing&) = delete;
    GuestRing& operator=(const GuestRing&) = delete;

    std::uint64_t gfn() const { return gfn_; }
    xen::EvtchnPort port() const { return port_; }
    xs::DomainInterface& intf() { return *intf_; }

    // One field of the page as the other end last published it.
    std::uint32_t field(std::uint32_t xs::DomainInterface::*member) {
        return std::atomic_ref<std::uint32_t>(intf_->*member).load(std::memory_order_acquire);
    }
    void set_field(std::uint32_t xs::DomainInterface::*member, std::uint32_t value) {
        std::atomic_ref<std::uint32_t>(intf_->*member).store(value, std::memory_order_release);
    }

    // The guest sends an event on its store port.
    void notify() { guest_.ok("notify " + std::to_string(port_)); }

    // Puts bytes in the request ring (all of them must fit now); no event.
    void put(std::string_view bytes) {
        const xs::RingTransfer done =
            xs::write_some(*intf_, xs::RingSide::guest, std::span(bytes.data(), bytes.size()));
        if (done.bytes != bytes.size()) {
            throw std::runtime_error("the request ring has room for " + std::to_string(done.bytes) +
                                     " of " + std::to_string(bytes.size()) + " bytes");
        }
    }
    // One request, then an event; returns its req_id. A request bigger than
    // the room in the ring goes in parts, an event after each, as xenbus's
    // xb_write sends it.
    std::uint32_t send(xs::MessageType type, std::string_view payload, std::uint32_t tx_id = 0) {
        const std::uint32_t req_id = next_req_id_++;
        const std::string bytes = request_bytes(type, req_id, payload, tx_id);
        std::string_view rest = bytes;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (!rest.empty()) {
            const xs::RingTransfer done =
                xs::write_some(*intf_, xs::RingSide::guest, std::span(rest.data(), rest.size()));
            rest.remove_prefix(done.bytes);
            if (done.bytes > 0) {
                notify();
            } else if (std::chrono::steady_clock::now() > deadline) {
                throw std::runtime_error("xenstored takes no more of a request");
            } else {
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
        }
        return req_id;
    }
    static std::string request_bytes(xs::MessageType type, std::uint32_t req_id,
                                     std::string_view payload, std::uint32_t tx_id = 0) {
        return xs_header_bytes(static_cast<std::uint32_t>(type), req_id, tx_id,
                               static_cast<std::uint32_t>(payload.size())) +
               std::string(payload);
    }

    // The next message on the response ring; nullopt if none is complete
    // within `limit`. Notifies the guest's peer after taking bytes, as
    // xenbus does when it frees room.
    std::optional<XsMessage> receive(std::chrono::milliseconds limit = std::chrono::seconds(20)) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        for (;;) {
            if (auto message = take_message()) {
                return message;
            }
            if (std::chrono::steady_clock::now() > deadline) {
                return std::nullopt;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }

    // A request and its reply; watch events that come first are kept.
    XsMessage request(xs::MessageType type, std::string_view payload, std::uint32_t tx_id = 0) {
        const std::uint32_t req_id = send(type, payload, tx_id);
        for (;;) {
            std::optional<XsMessage> message = receive();
            if (!message) {
                throw std::runtime_error(std::string("no reply on the ring to ") +
                                         std::string(xs::name(type)));
            }
            if (message->type() == xs::MessageType::watch_event) {
                events_.push_back(std::move(*message));
                continue;
            }
            if (message->header.req_id != req_id) {
                throw std::runtime_error("ring reply for req_id " +
                                         std::to_string(message->header.req_id) + ", expected " +
                                         std::to_string(req_id));
            }
            return *message;
        }
    }
    std::optional<XsMessage> next_event(
        std::chrono::milliseconds limit = std::chrono::seconds(20)) {
        if (!events_.empty()) {
            XsMessage event = std::move(events_.front());
            events_.pop_front();
            return event;
        }
        return receive(limit);
    }

  private:
    // Takes one whole message off the response ring if it is all there.
    std::optional<XsMessage> take_message() {
        while (!whole_message()) {
            if (xs::readable(*intf_, xs::RingSide::guest) == 0) {
                return std::nullopt;
            }
            char buffer[xs::kRingSize];
            const xs::RingTransfer done =
                xs::read_some(*intf_, xs::RingSide::guest, std::span(buffer, sizeof buffer));
            pending_.append(buffer, done.bytes);
            if (done.bytes > 0) {
                notify();
            }
        }
        XsMessage message;
        std::memcpy(&message.header, pending_.data(), sizeof message.header);
        message.payload = pending_.substr(sizeof message.header, message.header.len);
        pending_.erase(0, sizeof message.header + message.header.len);
        return message;
    }
    bool whole_message() const {
        if (pending_.size() < sizeof(xs::MessageHeader)) {
            return false;
        }
        xs::MessageHeader header;
        std::memcpy(&header, pending_.data(), sizeof header);
        return pending_.size() >= sizeof header + header.len;
    }

    hypervisor::Hypervisor dom0_;
    TestGuest& guest_;
    std::uint64_t gfn_ = 0;
    xen::EvtchnPort port_ = 0;
    xen::GrantHandle handle_ = 0;
    xs::DomainInterface* intf_ = nullptr;
    std::uint32_t next_req_id_ = 1;
    std::string pending_;  // response bytes taken but not yet a whole message
    std::deque<XsMessage> events_;
};

// A reply that says OK, and an XS_ERROR naming `error`.
inline void expect_xs_ok(const XsMessage& reply) {
    EXPECT_NE(reply.type(), xs::MessageType::error) << reply.text();
    EXPECT_EQ(reply.payload, xs_args({"OK"}));
}
inline void expect_xs_error(const XsMessage& reply, std::string_view error) {
    EXPECT_EQ(reply.type(), xs::MessageType::error) << xs::name(reply.type());
    EXPECT_EQ(reply.payload, xs_args({error}));
}

// A guest process, the test's hold on its ring, and what a toolstack does
// for it over a dom0 client of the socket.
struct RingGuest {
    RingGuest(const HypervisorProcess& hypervisor, const std::string& name)
        : guest(hypervisor, name), ring(hypervisor, guest) {}

    std::string domid() const { return std::to_string(guest.domid()); }
    std::string home() const { return "/local/domain/" + domid(); }

    XsMessage introduce(RawXsClient& admin) {
        return admin.request(
            xs::MessageType::introduce,
            xs_args({domid(), std::to_string(ring.gfn()), std::to_string(ring.port())}));
    }
    // The guest's home, owned by the guest.
    void give_home(RawXsClient& admin) {
        expect_xs_ok(admin.request(xs::MessageType::mkdir, xs_args({home()})));
        expect_xs_ok(admin.request(xs::MessageType::set_perms, xs_args({home(), "n" + domid()})));
    }

    TestGuest guest;
    GuestRing ring;
};

}  // namespace pvsim::test
