#include "tools/cli/state_monitor.hpp"

#include <atomic>
#include <charconv>
#include <future>
#include <vector>

#include <fmt/format.h>

#include "common/xen/vbd_interface.hpp"
#include "common/xen/xenbus.hpp"
#include "tools/toolstack/vbd.hpp"

namespace pvsim::tools::cli {
namespace {

std::vector<std::string_view> split(std::string_view path) {
    std::vector<std::string_view> parts;
    std::size_t start = 1;
    while (start <= path.size()) {
        const std::size_t slash = path.find('/', start);
        const std::size_t end = slash == std::string_view::npos ? path.size() : slash;
        parts.push_back(path.substr(start, end - start));
        start = end + 1;
    }
    return parts;
}

std::optional<std::uint32_t> number(std::string_view text) {
    std::uint32_t value = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size()) {
        return std::nullopt;
    }
    return value;
}

std::string state_text(const std::optional<std::string>& value) {
    if (!value) {
        return "gone";
    }
    const auto state = xen::xenbus_state_from_node(*value);
    return state ? std::string(xen::name(*state)) : "\"" + *value + "\"";
}

}  // namespace

StateMonitor::StateMonitor(const Session& session)
    : session_(session),
      start_(std::chrono::steady_clock::now()),
      xenstore_(xenstore::client::Client::connect(session.run())) {
    watch_.emplace(
        xenstore_.watch("/local/domain", "pvsim-state-monitor",
                        [this](const auto& event) { changed(std::string(event.path)); }));
}

StateMonitor::~StateMonitor() {
    try {
        if (watch_) {
            watch_->unwatch();
        }
    } catch (const std::exception&) {
        // xenstored is gone already.
    }
}

std::string StateMonitor::timestamp() const {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    return fmt::format("[{:9.3f}s] ", seconds);
}

// /local/domain/<d>/device/vbd/<devid>/state, or
// /local/domain/<b>/backend/{vbd,qdisk}/<d>/<devid>/state.
std::optional<StateMonitor::Node> StateMonitor::describe(const std::string& path) {
    const auto parts = split(path);
    std::optional<std::uint32_t> domid, devid;
    const char* end = nullptr;
    if (parts.size() == 7 && parts[3] == "device" && parts[4] == "vbd" && parts[6] == "state") {
        domid = number(parts[2]);
        devid = number(parts[5]);
        end = "frontend";
    } else if (parts.size() == 8 && parts[3] == "backend" &&
               (parts[4] == "vbd" || parts[4] == "qdisk") && parts[7] == "state") {
        domid = number(parts[5]);
        devid = number(parts[6]);
        end = "backend ";
    }
    if (!domid || !devid || parts[0] != "local" || parts[1] != "domain") {
        return std::nullopt;
    }
    const std::string name = xenstore_.try_read("/local/domain/" + std::to_string(*domid) + "/name")
                                 .value_or("dom" + std::to_string(*domid));
    return Node{name + " " + xen::vdev_name(*devid) + " " + end, std::nullopt};
}

void StateMonitor::changed(const std::string& path) {
    if (!path.ends_with("/state")) {
        return;
    }
    std::optional<std::string> value;
    try {
        value = xenstore_.try_read(path);
    } catch (const std::exception&) {
        return;
    }
    std::lock_guard lock(mutex_);
    show(path, value, "");
}

void StateMonitor::show(const std::string& path, const std::optional<std::string>& value,
                        const std::string& note) {
    auto found = nodes_.find(path);
    if (found == nodes_.end()) {
        if (!value) {
            return;
        }
        auto node = describe(path);
        if (!node) {
            return;
        }
        found = nodes_.emplace(path, std::move(*node)).first;
    }
    Node& node = found->second;
    if (value == node.value) {
        return;
    }
    std::string was = node.value ? "was " + state_text(node.value) : "";
    if (!note.empty()) {
        was += (was.empty() ? "" : "; ") + note;
    }
    const bool closed_last =
        node.value && xen::xenbus_state_from_node(*node.value) == xen::XenbusState::closed;
    node.value = value;
    if (!value) {
        // The device's directory went. After Closed that is the detach's
        // end; before it, the states it went through were replaced before
        // the monitor could read them, and the line says so.
        const std::string who = node.who;
        nodes_.erase(found);
        if (!closed_last) {
            session_.print(timestamp() + who + " gone (" + was + (was.empty() ? "" : "; ") +
                           "the states before it passed unread)\n");
        }
        return;
    }
    session_.print(timestamp() + node.who + " " + state_text(value) +
                   (was.empty() ? "" : " (" + was + ")") + "\n");
}

std::vector<std::string> StateMonitor::state_nodes() {
    // A directory that goes while it is listed is simply not there.
    const auto children = [this](const std::string& path) {
        try {
            return xenstore_.directory(path);
        } catch (const std::exception&) {
            return std::vector<std::string>{};
        }
    };
    std::vector<std::string> paths;
    for (const std::string& domain : children("/local/domain")) {
        const std::string home = "/local/domain/" + domain;
        for (const std::string& devid : children(home + "/device/vbd")) {
            paths.push_back(home + "/device/vbd/" + devid + "/state");
        }
        for (const char* type : {"vbd", "qdisk"}) {
            const std::string base = home + "/backend/" + type;
            for (const std::string& frontend : children(base)) {
                for (const std::string& devid : children(base + "/" + frontend)) {
                    paths.push_back(base + "/" + frontend + "/" + devid + "/state");
                }
            }
        }
    }
    return paths;
}

void StateMonitor::settle(std::chrono::milliseconds limit) {
    std::promise<void> caught_up;
    std::future<void> done = caught_up.get_future();
    std::atomic<bool> first{true};
    try {
        xenstore::client::Watch marker =
            xenstore_.watch("/local/domain/0", "pvsim-state-monitor-settle", [&](const auto&) {
                if (first.exchange(false)) {
                    caught_up.set_value();
                }
            });
        const bool handled = done.wait_for(limit) == std::future_status::ready;
        marker.unwatch();
        if (!handled) {
            session_.print(timestamp() + "state monitor: events not handled within " +
                           std::to_string(limit.count()) + " ms; state lines may be missing\n");
            return;
        }
        // What no event showed: a device whose every event was handled
        // before its state was written, or whose events were lost.
        for (const std::string& path : state_nodes()) {
            const std::optional<std::string> value = xenstore_.try_read(path);
            std::lock_guard lock(mutex_);
            show(path, value, "read at the step's end: a state before it may have passed unread");
        }
    } catch (const std::exception& e) {
        session_.print(timestamp() + "state monitor: " + e.what() +
                       "; state lines may be missing\n");
    }
}

}  // namespace pvsim::tools::cli
