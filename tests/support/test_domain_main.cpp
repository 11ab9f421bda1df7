// pvsim_test_domain: a guest for the integration tests and benchmarks. The
// hypervisor spawns it like any domain process (its hypercall connection
// inherited); it then connects to the unix socket named on its command line
// and does what the test asks there, one command per line, so that a test
// can make a real guest process grant pages, map grants, and send and wait
// for events.
//
//   pvsim_test_domain CONTROL_SOCKET
//
// Each command gets one reply line: "ok[ VALUE...]" or "error TEXT".
//   info                      -> ok DOMID MEMORY_BYTES
//   alloc-page                -> ok GFN
//   write GFN OFFSET TEXT     -> ok            (into its own memory)
//   read GFN OFFSET LEN       -> ok TEXT
//   write-hex GFN OFFSET HEX  -> ok            any bytes, two hex digits each
//   read-hex GFN OFFSET LEN   -> ok HEX
//   grant DOMID GFN ro|rw     -> ok REF
//   end-access REF            -> ok ended | ok pinned
//   map DOMID REF ro|rw       -> ok HANDLE | error GNTST_...
//   map-write HANDLE OFFSET TEXT / map-read HANDLE OFFSET LEN
//   map-write-hex HANDLE OFFSET HEX / map-read-hex HANDLE OFFSET LEN -> ok [HEX]
//                             the same in hex, any bytes (a backend's ring)
//   unmap HANDLE              -> ok | error GNTST_...
//   copy SRC DST LEN          -> ok GNTST_...  one grant copy; SRC and DST are
//                                gref:DOMID:REF:OFFSET or gfn:DOMID:GFN:OFFSET
//                                (DOMID "self" for DOMID_SELF)
//   alloc-unbound DOMID       -> ok PORT
//   store-port                -> ok PORT   takes the xenstore event channel
//   bind DOMID PORT           -> ok PORT
//   poll PORT                 -> ok 1 | ok 0   (took an event or not)
//   wait PORT                 -> ok            (blocks for an event)
//   notify PORT [N]           -> ok   N sends (1 by default) as fast as they go
//   mask PORT | unmask PORT | close PORT -> ok
//   echo PORT N               -> ok   after N times: wait for an event, notify back
//                                     (N = 0: forever, no reply)
//   exit CODE                 -> exits without a reply
//   crash                     -> dies by SIGKILL, as a crashed domain would
//   xs-...                    -> xenstore over the guest's ring (test_domain_xenstore.hpp)
//   blk-...                   -> a blkfront disk over that ring (test_domain_blk.hpp)

#include <signal.h>

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <map>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include "common/os/environment.hpp"
#include "hypervisor/client/hypervisor.hpp"
#include "tests/support/test_domain_blk.hpp"
#include "tests/support/test_domain_reply.hpp"
#include "tests/support/test_domain_xenstore.hpp"

namespace {

using pvsim::hypervisor::EventChannel;
using pvsim::hypervisor::GrantMapping;
using pvsim::hypervisor::Hypervisor;
namespace xen = pvsim::xen;
using pvsim::test::ok;

class TestDomain {
  public:
    explicit TestDomain(Hypervisor hypervisor) : hv_(std::move(hypervisor)) {}

    // One command line in, one reply line out (empty: no reply).
    std::string run(const std::string& line) {
        std::istringstream in(line);
        std::string verb;
        in >> verb;
        if (auto reply = xenstore_.run(verb, in)) {
            return *reply;
        }
        if (auto reply = blk_.run(verb, in)) {
            return *reply;
        }
        if (verb == "info") {
            return ok(std::to_string(hv_.domid()) + " " + std::to_string(hv_.memory().size()));
        }
        if (verb == "alloc-page") {
            return ok(std::to_string(hv_.memory().allocate_page()));
        }
        if (verb == "write") {
            std::uint64_t gfn = 0;
            std::size_t offset = 0;
            std::string text;
            in >> gfn >> offset >> text;
            auto page = hv_.memory().page(gfn);
            check_range(offset, text.size());
            std::copy(text.begin(), text.end(), reinterpret_cast<char*>(page.data()) + offset);
            return ok();
        }
        if (verb == "read") {
            const std::span<std::byte> bytes = bytes_named(in);
            return ok(std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
        }
        if (verb == "write-hex") {
            std::uint64_t gfn = 0;
            std::size_t offset = 0;
            std::string hex;
            in >> gfn >> offset >> hex;
            put_hex(hv_.memory().page(gfn), offset, hex);
            return ok();
        }
        if (verb == "read-hex") {
            return ok(hex_of(bytes_named(in)));
        }
        if (verb == "grant") {
            unsigned domid = 0;
            std::uint64_t gfn = 0;
            std::string mode;
            in >> domid >> gfn >> mode;
            return ok(std::to_string(
                hv_.grant_table().grant_access(static_cast<xen::DomId>(domid), gfn, mode == "ro")));
        }
        if (verb == "end-access") {
            xen::GrantRef ref = 0;
            in >> ref;
            return ok(hv_.grant_table().try_end_access(ref) ? "ended" : "pinned");
        }
        if (verb == "map") {
            unsigned domid = 0;
            xen::GrantRef ref = 0;
            std::string mode;
            in >> domid >> ref >> mode;
            const pvsim::hypervisor::GrantMapRequest request{static_cast<xen::DomId>(domid), ref,
                                                             mode == "ro"};
            const GrantMapping mapping = hv_.map_grant_refs({&request, 1}).at(0);
            if (mapping.status != xen::GntSt::okay) {
                return error(std::string(xen::name(mapping.status)));
            }
            mappings_[mapping.handle] = mapping;
            return ok(std::to_string(mapping.handle));
        }
        if (verb == "map-write" || verb == "map-read") {
            xen::GrantHandle handle = 0;
            std::size_t offset = 0;
            in >> handle >> offset;
            char* page = reinterpret_cast<char*>(mappings_.at(handle).page);
            if (verb == "map-write") {
                std::string text;
                in >> text;
                check_range(offset, text.size());
                std::copy(text.begin(), text.end(), page + offset);
                return ok();
            }
            std::size_t length = 0;
            in >> length;
            check_range(offset, length);
            return ok(std::string(page + offset, length));
        }
        if (verb == "map-write-hex" || verb == "map-read-hex") {
            xen::GrantHandle handle = 0;
            std::size_t offset = 0;
            in >> handle >> offset;
            const std::span<std::byte> page(mappings_.at(handle).page, xen::kXenPageSize);
            if (verb == "map-write-hex") {
                std::string hex;
                in >> hex;
                put_hex(page, offset, hex);
                return ok();
            }
            std::size_t length = 0;
            in >> length;
            check_range(offset, length);
            return ok(hex_of(page.subspan(offset, length)));
        }
        if (verb == "unmap") {
            xen::GrantHandle handle = 0;
            in >> handle;
            mappings_.erase(handle);
            const xen::GntSt status = hv_.unmap_grant_refs({&handle, 1}).at(0);
            return status == xen::GntSt::okay ? ok() : error(std::string(xen::name(status)));
        }
        if (verb == "copy") {
            std::string source, dest;
            std::uint16_t length = 0;
            in >> source >> dest >> length;
            const pvsim::hypervisor::GrantCopyRequest request{copy_ptr(source), copy_ptr(dest),
                                                              length};
            return ok(std::string(xen::name(hv_.copy_grants({&request, 1}).at(0))));
        }
        if (verb == "store-port") {
            return keep(hv_.take_store_event_channel());
        }
        if (verb == "alloc-unbound") {
            unsigned domid = 0;
            in >> domid;
            return keep(hv_.alloc_unbound(static_cast<xen::DomId>(domid)));
        }
        if (verb == "bind") {
            unsigned domid = 0;
            xen::EvtchnPort port = 0;
            in >> domid >> port;
            return keep(hv_.bind_interdomain(static_cast<xen::DomId>(domid), port));
        }
        xen::EvtchnPort port = 0;
        in >> port;
        if (verb == "poll") {
            return ok(channel(port).poll() ? "1" : "0");
        }
        if (verb == "wait") {
            channel(port).wait();
            return ok();
        }
        if (verb == "notify") {
            unsigned long times = 1;
            if (!(in >> times)) {
                times = 1;
            }
            for (unsigned long i = 0; i < times; ++i) {
                channel(port).notify();
            }
            return ok();
        }
        if (verb == "mask") {
            channel(port).mask();
            return ok();
        }
        if (verb == "unmask") {
            channel(port).unmask();
            return ok();
        }
        if (verb == "close") {
            channel(port).close();
            channels_.erase(port);
            return ok();
        }
        if (verb == "echo") {
            std::uint64_t count = 0;
            in >> count;
            EventChannel& ch = channel(port);
            for (std::uint64_t i = 0; count == 0 || i < count; ++i) {
                ch.wait();
                ch.notify();
            }
            return ok();
        }
        if (verb == "exit") {
            int code = 0;
            in >> code;
            std::exit(code);
        }
        if (verb == "crash") {
            ::raise(SIGKILL);
        }
        return error("unknown command '" + verb + "'");
    }

  private:
    static std::string error(const std::string& text) { return "error " + text; }
    static void check_range(std::size_t offset, std::size_t length) {
        if (offset > xen::kXenPageSize || length > xen::kXenPageSize - offset) {
            throw std::out_of_range("range outside the page");
        }
    }
    // The bytes "GFN OFFSET LEN" (read from `in`) name in this domain's memory.
    // Two hex digits a byte, into `page` from `offset` on.
    static void put_hex(std::span<std::byte> page, std::size_t offset, const std::string& hex) {
        check_range(offset, hex.size() / 2);
        for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
            page[offset + i / 2] =
                static_cast<std::byte>(std::stoul(hex.substr(i, 2), nullptr, 16));
        }
    }
    static std::string hex_of(std::span<const std::byte> bytes) {
        static constexpr char kDigits[] = "0123456789abcdef";
        std::string hex;
        for (const std::byte b : bytes) {
            const auto byte = static_cast<unsigned>(b);
            hex += kDigits[byte >> 4];
            hex += kDigits[byte & 0xf];
        }
        return hex;
    }
    std::span<std::byte> bytes_named(std::istream& in) {
        std::uint64_t gfn = 0;
        std::size_t offset = 0, length = 0;
        in >> gfn >> offset >> length;
        check_range(offset, length);
        return hv_.memory().page(gfn).subspan(offset, length);
    }
    // "gref:DOMID:REF:OFFSET" or "gfn:DOMID:GFN:OFFSET".
    static pvsim::hypervisor::GrantCopyPtr copy_ptr(const std::string& text) {
        std::istringstream in(text);
        std::string kind, domid, number, offset;
        std::getline(in, kind, ':');
        std::getline(in, domid, ':');
        std::getline(in, number, ':');
        std::getline(in, offset, ':');
        if (kind != "gref" && kind != "gfn") {
            throw std::invalid_argument("copy side '" + text + "' is not gref:... or gfn:...");
        }
        pvsim::hypervisor::GrantCopyPtr ptr;
        ptr.gref = kind == "gref";
        ptr.domid = domid == "self" ? xen::kDomidSelf : static_cast<xen::DomId>(std::stoul(domid));
        ptr.ref_or_gfn = std::stoull(number);
        ptr.offset = static_cast<std::uint16_t>(std::stoul(offset));
        return ptr;
    }
    std::string keep(EventChannel channel) {
        const xen::EvtchnPort port = channel.port();
        channels_[port] = std::move(channel);
        return ok(std::to_string(port));
    }
    EventChannel& channel(xen::EvtchnPort port) {
        auto found = channels_.find(port);
        if (found == channels_.end()) {
            throw std::invalid_argument("no port " + std::to_string(port) + " here");
        }
        return found->second;
    }

    Hypervisor hv_;
    pvsim::test::TestDomainXenstore xenstore_{hv_};
    pvsim::test::TestDomainBlk blk_{hv_, xenstore_};  // after xenstore_: its disk uses the client
    std::map<xen::GrantHandle, GrantMapping> mappings_;
    std::map<xen::EvtchnPort, EventChannel> channels_;
};

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: pvsim_test_domain CONTROL_SOCKET\n";
        return 1;
    }
    try {
        TestDomain domain(Hypervisor::from_environment(pvsim::os::Environment::process()));
        boost::asio::io_context io;
        boost::asio::local::stream_protocol::socket socket(io);
        socket.connect(boost::asio::local::stream_protocol::endpoint(argv[1]));
        boost::asio::streambuf input;
        for (;;) {
            boost::system::error_code ec;
            boost::asio::read_until(socket, input, '\n', ec);
            if (ec) {
                return 0;  // the test has gone
            }
            std::istream stream(&input);
            std::string line;
            std::getline(stream, line);
            std::string reply;
            try {
                reply = domain.run(line);
            } catch (const std::exception& e) {
                reply = std::string("error ") + e.what();
            }
            reply += '\n';
            boost::asio::write(socket, boost::asio::buffer(reply));
        }
    } catch (const std::exception& e) {
        std::cerr << "pvsim_test_domain: " << e.what() << "\n";
        return 2;
    }
}
