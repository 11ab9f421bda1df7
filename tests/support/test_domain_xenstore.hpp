// The xenstore verbs of pvsim_test_domain: a guest speaking to xenstored the
// Xen way, over its ring page and store event channel, through the same
// client library frontends use. One verb per call, replies as the domain's
// other verbs give them ("ok ..." or an exception that becomes "error ...").
//
//   xs-connect                -> ok          opens the client on the ring
//   xs-read PATH              -> ok VALUE
//   xs-write PATH VALUE...    -> ok          the rest of the line is the value
//   xs-mkdir PATH | xs-rm PATH -> ok
//   xs-ls PATH                -> ok A B C    (children, space-separated)
//   xs-perms PATH             -> ok b1 r0    (GET_PERMS)
//   xs-set-perms PATH P...    -> ok
//   xs-domain-path            -> ok /local/domain/<own domid>
//   xs-watch PATH TOKEN       -> ok          events are queued
//   xs-event                  -> ok PATH TOKEN   the next queued event (waits
//                                            up to 10 s, else error)
//   xs-write-many N PATH      -> ok          N writes of PATH/<i>, to hit quotas
//   xs-raw-garbage N          -> ok          without a client: N bytes of 0xff
//                                            straight into the request ring,
//                                            then an event (bad input)
//   xs-ring-error             -> ok E        the page's error field
//   xs-bench read|write N PATH -> ok NS      N reads or writes of PATH, timed
//                                            in the guest (for benchmarks)
#pragma once

#include <condition_variable>
#include <deque>
#include <istream>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "hypervisor/client/hypervisor.hpp"
#include "xenstore/client/client.hpp"

namespace pvsim::test {

class TestDomainXenstore {
  public:
    explicit TestDomainXenstore(hypervisor::Hypervisor& hypervisor) : hv_(hypervisor) {}

    // The reply to `verb` (the rest of the line in `in`), or nullopt when the
    // verb is not a xenstore one.
    std::optional<std::string> run(const std::string& verb, std::istream& in);

    // The guest's client on its ring, for drivers the domain runs over it
    // (test_domain_blk.hpp); throws std::logic_error before xs-connect.
    xenstore::client::Client& client();

  private:
    std::string next_event();

    xen::xs::DomainInterface& page();

    hypervisor::Hypervisor& hv_;
    std::optional<hypervisor::EventChannel> raw_channel_;
    std::optional<xenstore::client::Client> client_;
    std::vector<xenstore::client::Watch> watches_;
    std::mutex events_mutex_;
    std::condition_variable events_changed_;
    std::deque<xenstore::client::WatchEvent> events_;
};

}  // namespace pvsim::test
