#include "backend/blkback/vbd_watcher.hpp"

#include <cerrno>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "common/xen/xenbus.hpp"

namespace pvsim::backend::blkback {
namespace {

// The children of `path`; none when it does not exist.
std::vector<std::string> children(xenstore::client::Client& client, const std::string& path) {
    try {
        return client.directory(path);
    } catch (const xenstore::client::Error& e) {
        if (e.errnum() == ENOENT) {
            return {};
        }
        throw;
    }
}

}  // namespace

VbdWatcher::VbdWatcher(boost::asio::any_io_executor executor, hypervisor::Hypervisor& hypervisor,
                       xenstore::client::Client& client, BlkbackOptions options)
    : executor_(std::move(executor)),
      hypervisor_(hypervisor),
      client_(client),
      options_(options),
      home_("/local/domain/" + std::to_string(hypervisor.domid())),
      base_(home_ + "/backend/vbd") {}

VbdWatcher::~VbdWatcher() {
    stopped_ = true;
    try {
        watch_.unwatch();
    } catch (const std::exception& e) {
        spdlog::debug("blkback: unwatch {}: {}", base_, e.what());
    }
    vbds_.clear();
}

void VbdWatcher::start() {
    watch_ = client_.watch(base_, "blkback", [this](const xenstore::client::WatchEvent& event) {
        boost::asio::post(executor_, [this, path = event.path] {
            if (stopped_) {
                return;
            }
            try {
                changed(path);
            } catch (const std::exception& e) {
                spdlog::error("blkback: handling a change of {}: {}", path, e.what());
            }
        });
    });
    spdlog::info("blkback: watching {}", base_);
}

void VbdWatcher::shutdown() {
    if (std::exchange(stopped_, true)) {
        return;
    }
    try {
        watch_.unwatch();
    } catch (const std::exception& e) {
        spdlog::warn("blkback: unwatch {}: {}", base_, e.what());
    }
    for (auto& [nodename, vbd] : vbds_) {
        try {
            vbd->shutdown();
        } catch (const std::exception& e) {
            spdlog::error("{}: shutting down: {}", nodename, e.what());
        }
    }
    vbds_.clear();
    spdlog::info("blkback: every vbd is disconnected");
}

std::shared_ptr<XenbusBackend> VbdWatcher::find(const std::string& nodename) const {
    const auto found = vbds_.find(nodename);
    return found == vbds_.end() ? nullptr : found->second;
}

nlohmann::json VbdWatcher::describe() const {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& [nodename, vbd] : vbds_) {
        out.push_back(vbd->describe());
    }
    return out;
}

void VbdWatcher::changed(const std::string& path) {
    // xenbus_dev_changed: which device a changed node belongs to.
    if (path == base_) {
        scan_all();
        return;
    }
    if (!path.starts_with(base_ + "/")) {
        return;
    }
    const std::string rest = path.substr(base_.size() + 1);
    const std::size_t slash = rest.find('/');
    const std::string domain = rest.substr(0, slash);
    if (slash == std::string::npos) {
        scan_domain(domain);
        return;
    }
    const std::size_t end = rest.find('/', slash + 1);
    const std::string device =
        rest.substr(slash + 1, end == std::string::npos ? std::string::npos : end - slash - 1);
    const std::string nodename = base_ + "/" + domain + "/" + device;
    // Events below a device we serve are its own keys (ours included):
    // only the directory itself (rm fires on it) and its state (a new
    // directory's Initialising) concern us.
    if (end != std::string::npos && vbds_.contains(nodename) && rest.substr(end + 1) != "state") {
        return;
    }
    check_device(domain, device);
}

void VbdWatcher::scan_all() {
    const std::vector<std::string> domains = children(client_, base_);
    const std::set<std::string> present(domains.begin(), domains.end());
    std::vector<std::string> gone;
    for (const auto& [nodename, vbd] : vbds_) {
        // <base>/<domain>/<device>
        const std::string below = nodename.substr(base_.size() + 1);
        if (!present.contains(below.substr(0, below.find('/')))) {
            gone.push_back(nodename);
        }
    }
    for (const std::string& nodename : gone) {
        remove(nodename);
    }
    for (const std::string& domain : domains) {
        scan_domain(domain);
    }
}

void VbdWatcher::scan_domain(const std::string& domain) {
    const std::string prefix = base_ + "/" + domain + "/";
    const std::vector<std::string> devices = children(client_, base_ + "/" + domain);
    const std::set<std::string> present(devices.begin(), devices.end());
    std::vector<std::string> gone;
    for (auto it = vbds_.lower_bound(prefix); it != vbds_.end() && it->first.starts_with(prefix);
         ++it) {
        if (!present.contains(it->first.substr(prefix.size()))) {
            gone.push_back(it->first);
        }
    }
    for (const std::string& nodename : gone) {
        remove(nodename);
    }
    for (const std::string& device : devices) {
        check_device(domain, device);
    }
}

void VbdWatcher::check_device(const std::string& domain, const std::string& device) {
    const std::string nodename = base_ + "/" + domain + "/" + device;
    const bool exists = client_.try_read(nodename).has_value();
    bool known = vbds_.contains(nodename);
    if (exists && known && fresh(nodename)) {
        // The toolstack removed the directory and wrote it afresh before
        // the removal was handled: the device we hold belongs to the gone
        // one. Linux ends the same way: the old device unregistered itself
        // on Closed, and xenbus_probe_node probes the new Initialising one.
        spdlog::info("{}: written afresh by the toolstack", nodename);
        remove(nodename);
        known = false;
    }
    if (exists && !known) {
        if (auto vbd =
                XenbusBackend::probe(executor_, hypervisor_, client_, home_, nodename, options_)) {
            vbds_.emplace(nodename, std::move(vbd));
        }
    } else if (!exists && known) {
        remove(nodename);
    }
}

bool VbdWatcher::fresh(const std::string& nodename) const {
    // A backend switches away from Initialising at probe, and only the
    // toolstack writes it, into a new directory (libxl__device_generic_add).
    const std::optional<std::string> state = client_.try_read(nodename + "/state");
    return state && xen::xenbus_state_from_node(*state) == xen::XenbusState::initialising;
}

void VbdWatcher::remove(const std::string& nodename) {
    const auto found = vbds_.find(nodename);
    if (found == vbds_.end()) {
        return;
    }
    spdlog::info("{}: removed by the toolstack", nodename);
    const std::shared_ptr<XenbusBackend> vbd = std::move(found->second);
    vbds_.erase(found);
    // Destroying it disconnects it; nothing is written to the gone
    // directory.
}

}  // namespace pvsim::backend::blkback
