#include "tests/support/test_domain_xenstore.hpp"

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <vector>

#include "common/xen/xs_ring.hpp"
#include "tests/support/test_domain_reply.hpp"

namespace pvsim::test {
namespace {

std::string rest_of_line(std::istream& in) {
    std::string rest;
    std::getline(in >> std::ws, rest);
    return rest;
}

}  // namespace

xenstore::client::Client& TestDomainXenstore::client() {
    if (!client_) {
        throw std::logic_error("xs-connect first");
    }
    return *client_;
}

xen::xs::DomainInterface& TestDomainXenstore::page() {
    return *reinterpret_cast<xen::xs::DomainInterface*>(hv_.memory().page(hv_.store_gfn()).data());
}

std::string TestDomainXenstore::next_event() {
    std::unique_lock lock(events_mutex_);
    if (!events_changed_.wait_for(lock, std::chrono::seconds(10),
                                  [this] { return !events_.empty(); })) {
        throw std::runtime_error("no watch event within 10 s");
    }
    const xenstore::client::WatchEvent event = events_.front();
    events_.pop_front();
    return ok(event.path + " " + event.token);
}

std::optional<std::string> TestDomainXenstore::run(const std::string& verb, std::istream& in) {
    if (verb == "xs-connect") {
        client_.emplace(xenstore::client::Client::over_ring(hv_));
        return ok();
    }
    if (verb.rfind("xs-", 0) != 0) {
        return std::nullopt;
    }
    std::string path;
    if (verb == "xs-domain-path") {
        return ok(client().get_domain_path(hv_.domid()));
    }
    if (verb == "xs-event") {
        return next_event();
    }
    if (verb == "xs-ring-error") {
        return ok(std::to_string(std::atomic_ref(page().error).load()));
    }
    if (verb == "xs-raw-garbage") {
        if (client_) {
            throw std::logic_error("the ring belongs to the client");
        }
        if (!raw_channel_) {
            raw_channel_.emplace(hv_.take_store_event_channel());
        }
        std::size_t count = 0;
        in >> count;
        const std::vector<char> garbage(count, static_cast<char>(0xff));
        const auto moved = xen::xs::write_some(page(), xen::xs::RingSide::guest, garbage);
        raw_channel_->notify();
        return ok(std::to_string(moved.bytes));
    }
    in >> path;
    if (verb == "xs-read") {
        return ok(client().read(path));
    }
    if (verb == "xs-write") {
        client().write(path, rest_of_line(in));
        return ok();
    }
    if (verb == "xs-mkdir") {
        client().mkdir(path);
        return ok();
    }
    if (verb == "xs-rm") {
        client().rm(path);
        return ok();
    }
    if (verb == "xs-ls") {
        std::string names;
        for (const std::string& name : client().directory(path)) {
            names += (names.empty() ? "" : " ") + name;
        }
        return ok(names);
    }
    if (verb == "xs-perms") {
        std::string perms;
        for (const xen::xs::Permission& perm : client().get_perms(path)) {
            perms += (perms.empty() ? "" : " ") + xen::xs::format_permission(perm);
        }
        return ok(perms);
    }
    if (verb == "xs-set-perms") {
        xen::xs::Permissions perms;
        std::string text;
        while (in >> text) {
            const auto perm = xen::xs::parse_permission(text);
            if (!perm) {
                throw std::invalid_argument("bad permission " + text);
            }
            perms.push_back(*perm);
        }
        client().set_perms(path, perms);
        return ok();
    }
    if (verb == "xs-watch") {
        std::string token;
        in >> token;
        watches_.push_back(
            client().watch(path, token, [this](const xenstore::client::WatchEvent& event) {
                {
                    std::lock_guard lock(events_mutex_);
                    events_.push_back(event);
                }
                events_changed_.notify_all();
            }));
        return ok();
    }
    if (verb == "xs-bench") {
        // "xs-bench read|write N PATH": the kind was read into `path`.
        const std::string kind = path;
        unsigned count = 0;
        in >> count >> path;
        const auto start = std::chrono::steady_clock::now();
        for (unsigned i = 0; i < count; ++i) {
            if (kind == "read") {
                client().read(path);
            } else {
                client().write(path, "value");
            }
        }
        const auto elapsed = std::chrono::steady_clock::now() - start;
        return ok(
            std::to_string(std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count()));
    }
    if (verb == "xs-write-many") {
        // "xs-write-many N PATH": PATH was read into `path` as N.
        const unsigned count = static_cast<unsigned>(std::stoul(path));
        std::string base;
        in >> base;
        for (unsigned i = 0; i < count; ++i) {
            client().write(base + "/" + std::to_string(i), "x");
        }
        return ok();
    }
    throw std::invalid_argument("unknown xenstore verb " + verb);
}

}  // namespace pvsim::test
