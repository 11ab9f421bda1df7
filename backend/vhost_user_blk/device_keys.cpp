#include "backend/vhost_user_blk/device_keys.hpp"

#include <cerrno>
#include <filesystem>
#include <optional>

#include "common/xen/node_values.hpp"

namespace pvsim::backend::vhost_user_blk {
namespace {

using xen::in_quotes;
using xen::NodeError;

std::optional<std::string> read_key(xenstore::client::Client& client, const std::string& nodename,
                                    const char* key) {
    return client.try_read(nodename + "/" + key);
}

std::uint64_t read_number(xenstore::client::Client& client, const std::string& nodename,
                          const char* key, std::uint64_t fallback, std::uint64_t max) {
    const std::optional<std::string> text = read_key(client, nodename, key);
    if (!text) {
        return fallback;
    }
    const std::optional<std::uint64_t> value = xen::parse_node_unsigned(*text, max);
    if (!value) {
        throw NodeError(EINVAL, nodename + "/" + key + ": " + in_quotes(*text) +
                                    " is not a number from 0 to " + std::to_string(max));
    }
    return *value;
}

}  // namespace

bool device_keys_present(xenstore::client::Client& client, const std::string& nodename) {
    return read_key(client, nodename, "params").has_value() &&
           read_key(client, nodename, "socket").has_value();
}

ServerOptions read_device_keys(xenstore::client::Client& client, const std::string& nodename,
                               storage::EngineKind engine) {
    ServerOptions options;
    options.name = nodename;
    const std::optional<std::string> params = read_key(client, nodename, "params");
    if (!params || params->empty()) {
        throw NodeError(ENOENT, nodename + "/params: no image path");
    }
    options.device.image = *params;
    const std::optional<std::string> socket = read_key(client, nodename, "socket");
    if (!socket || !std::filesystem::path(*socket).is_absolute()) {
        throw NodeError(EINVAL, nodename + "/socket: " + in_quotes(socket.value_or("")) +
                                    " is not an absolute path");
    }
    options.socket_path = *socket;
    const std::string mode = read_key(client, nodename, "mode").value_or("w");
    // w! is the toolstack's shared-writable mode (tools/toolstack/disk_sharing.hpp),
    // writable as w is.
    if (mode != "r" && mode != "w" && mode != "w!") {
        throw NodeError(EINVAL, nodename + "/mode: " + in_quotes(mode) + " is not r, w or w!");
    }
    options.device.read_only = mode == "r";
    options.device.num_queues =
        static_cast<unsigned>(read_number(client, nodename, "num-queues", 1, kMaxQueues));
    options.device.queue_size = static_cast<std::uint32_t>(
        read_number(client, nodename, "queue-size", kDefaultQueueSize, virtio::kMaxQueueSize));
    options.device.poll_max =
        std::chrono::microseconds(read_number(client, nodename, "poll-us", 50, 1000000));
    options.device.direct = read_number(client, nodename, "direct", 0, 1) == 1;
    options.device.engine = engine;
    try {
        validate(options.device);
    } catch (const std::invalid_argument& e) {
        throw NodeError(EINVAL, nodename + ": " + e.what());
    }
    return options;
}

void write_connected(xenstore::client::Client& client, const std::string& nodename,
                     const VhostUserBlkServer& server) {
    client.transact([&](xenstore::client::Transaction& t) {
        t.write(nodename + "/sectors", std::to_string(server.store().sectors()));
        t.write(nodename + "/sector-size", std::to_string(server.store().logical_sector_size()));
        t.write(nodename + "/hotplug-status", "connected");
    });
}

void write_error(xenstore::client::Client& client, const std::string& nodename,
                 const std::string& reason) {
    client.transact([&](xenstore::client::Transaction& t) {
        t.write(nodename + "/error", reason);
        t.write(nodename + "/hotplug-status", "error");
    });
}

}  // namespace pvsim::backend::vhost_user_blk
