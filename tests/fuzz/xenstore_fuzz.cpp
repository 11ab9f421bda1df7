// xenstore requests as pvsim-xenstored takes them from its peers: bytes cut
// into messages by the daemon's FrameReader (xenstore/server/frame_reader.hpp)
// and every complete message handled by the store (xenstore/store/), over
// both transports:
//   - dom0's socket connection: the input's bytes go straight to the reader;
//   - a guest's ring connection: the bytes are produced into the `req` ring
//     of an in-process struct xenstore_domain_interface as the guest would,
//     then read out with the server side of common/xen/xs_ring as the ring
//     connection does; a hostile guest may also write any req_cons,
//     req_prod and rsp_cons.
// XS_INTRODUCE adds a ring connection for its domain (DomainHooks), as the
// daemon does; XS_RELEASE and domain_gone() take it away.
//
// Input: rounds of [selector u8][length u16][bytes], the selector naming a
// connection (low bits) and what the guest does (high bits). What must
// hold, whatever the bytes: nothing crashes or throws out of the store, a
// broken frame or ring ends only its own connection (as the daemon's
// Connection::fail does), and every message the store sends is well framed
// and no longer than XENSTORE_PAYLOAD_MAX, so that any client can read it.
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include <spdlog/spdlog.h>

#include "common/xen/xs_ring.hpp"
#include "common/xen/xs_wire.hpp"
#include "tests/fuzz/fuzz_input.hpp"
#include "xenstore/server/frame_reader.hpp"
#include "xenstore/store/xenstore.hpp"

namespace xenstore_fuzz {

namespace xs = pvsim::xen::xs;
using pvsim::fuzz::FuzzInput;
using pvsim::xenstore::server::FrameReader;
using pvsim::xenstore::store::ConnectionId;
using pvsim::xenstore::store::Quotas;
using pvsim::xenstore::store::Xenstore;

// C xenstored's quotas cut down, so that inputs of a few KiB reach every
// one of them (nodes, watches, transactions, the memory a domain holds) and
// the refusals are fuzzed as well as the successes.
Quotas small_quotas() {
    Quotas quotas;
    quotas.nodes = 64;
    quotas.watches = 16;
    quotas.transactions = 4;
    quotas.transaction_nodes = 64;
    quotas.memory_soft = 8 * 1024;
    quotas.memory_hard = 16 * 1024;
    return quotas;
}

// One peer of the daemon: dom0 over the socket, or a guest over its page.
struct Peer {
    ConnectionId id = 0;
    pvsim::xen::DomId domid = 0;
    std::unique_ptr<xs::DomainInterface> page;  // ring connections only
    FrameReader reader;
    bool alive = true;
};

class Daemon final : public pvsim::xenstore::store::Outbox,
                     public pvsim::xenstore::store::DomainHooks {
  public:
    // The most ring connections XS_INTRODUCE may add (domains stay
    // bounded as on a real host).
    static constexpr std::size_t kMaxPeers = 8;

    Daemon() : store_(small_quotas(), *this, *this) {
        add_peer(0, false);  // dom0's socket connection
        add_peer(1, true);   // two guests whose rings are up already
        add_peer(2, true);
    }

    void round(FuzzInput& input) {
        const auto selector = input.take<std::uint8_t>();
        const auto length = input.take<std::uint16_t>();
        const auto bytes = input.take_bytes(length);
        if ((selector >> 4) == 0xf) {
            // The hypervisor reports a domain dead (not an XS_RELEASE).
            store_.domain_gone(static_cast<pvsim::xen::DomId>(length % 8));
            release_gone();
            return;
        }
        Peer& peer = *peers_[selector % peers_.size()];
        if (!peer.alive) {
            return;
        }
        const auto data = std::span(reinterpret_cast<const char*>(bytes.data()), bytes.size());
        if (!peer.page) {
            take_messages(peer, data);
        } else {
            guest_writes(peer, static_cast<std::uint8_t>(selector >> 4), data);
        }
        release_gone();
    }

    // Outbox: what the store sends, checked, then given to the transport.
    void deliver(ConnectionId connection, const xs::MessageHeader& header,
                 std::string_view payload) override {
        // A message no client could read (libxenstore refuses it).
        pvsim::fuzz::require(header.len == payload.size() && payload.size() <= xs::kPayloadMax);
        Peer* peer = find(connection);
        if (peer == nullptr || !peer->alive || !peer->page) {
            return;  // the socket's bytes would go to dom0: nothing to check
        }
        std::array<char, sizeof header + xs::kPayloadMax> bytes;
        std::memcpy(bytes.data(), &header, sizeof header);
        if (!payload.empty()) {
            std::memcpy(bytes.data() + sizeof header, payload.data(), payload.size());
        }
        std::span<const char> rest(bytes.data(), sizeof header + payload.size());
        // The guest reads its replies as they come (xb_read), so the
        // ring always has room again.
        while (!rest.empty() && peer->alive) {
            try {
                const std::size_t n = xs::write_some(*peer->page, xs::RingSide::server, rest).bytes;
                rest = rest.subspan(n);
                std::array<char, xs::kRingSize> drained;
                xs::read_some(*peer->page, xs::RingSide::guest, drained);
                if (n == 0) {
                    break;
                }
            } catch (const xs::RingIndexError&) {
                peer->alive = false;  // disconnected once handle() returns
                gone_.push_back(peer->id);
            }
        }
    }

    // DomainHooks: XS_INTRODUCE maps nothing here; it opens a ring
    // connection for the domain as the daemon does.
    int introduce(pvsim::xen::DomId domid, std::uint64_t, pvsim::xen::EvtchnPort) override {
        if (peers_.size() >= kMaxPeers) {
            return ENOMEM;
        }
        add_peer(domid, true);
        return 0;
    }

    void release(pvsim::xen::DomId domid) override {
        for (auto& peer : peers_) {
            if (peer->page && peer->domid == domid && peer->alive) {
                peer->alive = false;
                store_.disconnect(peer->id);
            }
        }
    }

  private:
    void add_peer(pvsim::xen::DomId domid, bool ring) {
        auto peer = std::make_unique<Peer>();
        peer->id = next_id_++;
        peer->domid = domid;
        if (ring) {
            peer->page = std::make_unique<xs::DomainInterface>();
        }
        store_.connect(peer->id, domid);
        peers_.push_back(std::move(peer));
    }

    Peer* find(ConnectionId id) {
        for (auto& peer : peers_) {
            if (peer->id == id) {
                return peer.get();
            }
        }
        return nullptr;
    }

    // The connection's framing and the store, as Connection::service does
    // with each read. False once the frame is broken.
    bool take_messages(Peer& peer, std::span<const char> data) {
        while (!data.empty() && peer.alive) {
            data = data.subspan(peer.reader.feed(data));
            if (peer.reader.broken()) {
                fail(peer);
                return false;
            }
            if (peer.reader.complete()) {
                const FrameReader::Message message = peer.reader.take();
                store_.handle(peer.id, message.header, message.payload);
            }
        }
        return peer.alive;
    }

    // The guest puts `data` on its ring (and, when hostile, indices of its
    // own); the server side reads whatever the ring then holds.
    void guest_writes(Peer& peer, std::uint8_t how, std::span<const char> data) {
        xs::DomainInterface& page = *peer.page;
        if ((how & 1) != 0 && data.size() >= 8) {
            std::memcpy(&page.req_cons, data.data(), 4);
            std::memcpy(&page.req_prod, data.data() + 4, 4);
            data = data.subspan(8);
        }
        if ((how & 2) != 0 && data.size() >= 4) {
            std::memcpy(&page.rsp_cons, data.data(), 4);
            data = data.subspan(4);
        }
        while (peer.alive) {
            std::size_t produced = 0;
            try {
                produced = xs::write_some(page, xs::RingSide::guest, data).bytes;
            } catch (const xs::RingIndexError&) {
                // The guest's own indices are broken; the server finds out.
            }
            data = data.subspan(produced);
            const bool read = server_reads(peer);
            if (data.empty() || (produced == 0 && !read)) {
                break;
            }
        }
    }

    // RingConnection::read_some and the service loop: read no more than
    // the message in progress wants. True when bytes were taken.
    bool server_reads(Peer& peer) {
        bool any = false;
        std::array<char, sizeof(xs::MessageHeader) + xs::kPayloadMax> buffer;
        while (peer.alive) {
            const std::size_t wanted = std::min(peer.reader.wanted(), buffer.size());
            std::size_t n = 0;
            try {
                n = xs::read_some(*peer.page, xs::RingSide::server,
                                  std::span(buffer.data(), wanted))
                        .bytes;
            } catch (const xs::RingIndexError&) {
                fail(peer);  // XENSTORE_ERROR_RINGIDX
                break;
            }
            if (n == 0) {
                break;
            }
            any = true;
            take_messages(peer, std::span<const char>(buffer.data(), n));
        }
        return any;
    }

    void fail(Peer& peer) {
        peer.alive = false;
        store_.disconnect(peer.id);
    }

    // Connections a reply found broken, dropped once the request is done.
    void release_gone() {
        for (const ConnectionId id : gone_) {
            store_.disconnect(id);
        }
        gone_.clear();
    }

    std::vector<std::unique_ptr<Peer>> peers_;
    std::vector<ConnectionId> gone_;
    ConnectionId next_id_ = 1;
    Xenstore store_;
};

}  // namespace xenstore_fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // libFuzzer's model: one process, inputs one after another; the
    // store's debug lines are not wanted at millions of requests.
    static const bool quiet = (spdlog::set_level(spdlog::level::off), true);
    (void)quiet;
    pvsim::fuzz::FuzzInput input(data, size);
    xenstore_fuzz::Daemon daemon;
    while (!input.empty()) {
        daemon.round(input);
    }
    return 0;
}
