// XS_CONTROL (tools/xenstored/control.c: do_control()), dom0 only. The
// payload is a command and its arguments, each nul-terminated; text replies
// are nul-terminated, others "OK". pvsim serves C xenstored's "check",
// "help", "print" and "quota" commands, and adds "dump" to read a subtree
// with its permissions in one request. C xenstored's log, logfile,
// memreport, quota-soft and live-update commands concern its own files and
// binary and answer EINVAL here, as any unknown command.
#include <cerrno>
#include <cstdio>
#include <limits>
#include <optional>
#include <set>

#include <spdlog/spdlog.h>

#include "xenstore/store/error.hpp"
#include "xenstore/store/path.hpp"
#include "xenstore/store/payload.hpp"
#include "xenstore/store/requests.hpp"

namespace pvsim::xenstore::store {
namespace {

using Args = std::vector<std::string_view>;

std::string text(std::string body) {
    body += '\0';
    return body;
}

// "check": C xenstored's check_store() repairs; pvsim's tree cannot drift, so
// this only verifies and logs what it would have repaired.
std::string check(RequestContext& context, const Args& arguments) {
    if (!arguments.empty()) {
        throw XsError(EINVAL);
    }
    const Tree& tree = context.state.tree;
    const auto reachable = tree.preorder("/");
    std::size_t problems = 0;
    for (const std::string& path : reachable) {
        for (const std::string& child : tree.find(path)->children) {
            if (tree.find(child_path(path, child)) == nullptr) {
                spdlog::warn("xenstore check: {} lists missing child {}", path, child);
                ++problems;
            }
        }
    }
    const std::size_t special = 2;  // @introduceDomain, @releaseDomain
    if (reachable.size() + special != tree.size()) {
        spdlog::warn("xenstore check: {} nodes stored, {} reachable", tree.size(),
                     reachable.size() + special);
        ++problems;
    }
    spdlog::info("xenstore check: {} nodes, {} problems", tree.size(), problems);
    return ok();
}

std::string escaped(std::string_view value) {
    std::string out;
    for (const char c : value) {
        const auto byte = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (byte < 0x20 || byte >= 0x7f) {
            char hex[5];
            std::snprintf(hex, sizeof(hex), "\\x%02x", byte);
            out += hex;
        } else {
            out += c;
        }
    }
    return out;
}

// "dump [<path>]": one line per node of the subtree (default "/"), parents
// first: `<path> = "<value>" (<perms>)`, the value's unprintable bytes as
// \xNN, the permissions comma-separated as in GET_PERMS. E2BIG if it does
// not fit one reply.
std::string dump(RequestContext& context, const Args& arguments) {
    if (arguments.size() > 1) {
        throw XsError(EINVAL);
    }
    std::string root = "/";
    if (!arguments.empty()) {
        auto path = canonicalize(arguments[0], context.caller.domid, false);
        if (!path) {
            throw XsError(EINVAL);
        }
        root = std::move(*path);
    }
    const Tree& tree = context.state.tree;
    if (tree.find(root) == nullptr) {
        throw XsError(ENOENT);
    }
    std::string out;
    for (const std::string& path : tree.preorder(root)) {
        const Node& node = *tree.find(path);
        out += path + " = \"" + escaped(node.value) + "\" (";
        for (std::size_t i = 0; i < node.perms.size(); ++i) {
            out += (i ? "," : "") + xen::xs::format_permission(node.perms[i]);
        }
        out += ")\n";
    }
    return text(std::move(out));
}

std::string print(RequestContext&, const Args& arguments) {
    if (arguments.size() != 1) {
        throw XsError(EINVAL);
    }
    spdlog::info("control: {}", arguments[0]);
    return ok();
}

struct QuotaField {
    const char* name;
    std::size_t Quotas::*value;
    const char* description;
};
constexpr QuotaField kQuotaFields[] = {
    {"nodes", &Quotas::nodes, "Nodes per domain"},
    {"watches", &Quotas::watches, "Watches per connection"},
    {"outstanding", &Quotas::outstanding_requests, "Outstanding requests per connection"},
    {"transactions", &Quotas::transactions, "Active transactions per connection"},
    {"transaction-nodes", &Quotas::transaction_nodes,
     "Max. number of accessed nodes per "
     "transaction"},
    {"node-permissions", &Quotas::node_permissions, "Max. number of permissions per node"},
    {"node-size", &Quotas::node_size, "Max. size of a node"},
    {"memory", &Quotas::memory_hard, "Total Xenstore memory per domain (error level)"},
};
// The soft quotas: passing one is only logged.
constexpr QuotaField kSoftQuotaFields[] = {
    {"memory", &Quotas::memory_soft, "Memory used by domain (warning level)"},
};

// control.c's "%-17s: %8u" layout.
std::string line(const char* name, std::size_t value, std::string_view rest) {
    char buffer[64];
    std::snprintf(buffer, sizeof(buffer), "%-17s: %8zu", name, value);
    std::string out = buffer;
    if (!rest.empty()) {
        out += ' ';
        out += rest;
    }
    out += '\n';
    return out;
}

// "<title>:" and each setting, or "set <name> <value>"; nullopt for other
// arguments (control.c: do_control_quota(), do_control_quota_s()).
template <std::size_t N>
std::optional<std::string> quota_settings(StoreState& state, const Args& arguments,
                                          const char* title, const QuotaField (&fields)[N]) {
    if (arguments.empty()) {
        std::string out = std::string(title) + ":\n";
        for (const QuotaField& field : fields) {
            out += line(field.name, state.quotas.*field.value, field.description);
        }
        return text(std::move(out));
    }
    if (arguments[0] != "set") {
        return std::nullopt;
    }
    if (arguments.size() != 3) {
        throw XsError(EINVAL);
    }
    const auto value = parse_decimal(arguments[2], std::numeric_limits<int>::max());
    if (!value || *value < 1) {
        throw XsError(EINVAL);
    }
    for (const QuotaField& field : fields) {
        if (arguments[1] == field.name) {
            state.quotas.*field.value = *value;
            return ok();
        }
    }
    throw XsError(EINVAL);
}

std::string quota_soft(RequestContext& context, const Args& arguments) {
    if (auto done =
            quota_settings(context.state, arguments, "Soft quota settings", kSoftQuotaFields)) {
        return std::move(*done);
    }
    throw XsError(EINVAL);
}

// "quota": the settings; "quota set <name> <value>"; "quota <domid>": what
// the domain uses (control.c: do_control_quota()).
std::string quota(RequestContext& context, const Args& arguments) {
    StoreState& state = context.state;
    if (auto done = quota_settings(state, arguments, "Quota settings", kQuotaFields)) {
        return std::move(*done);
    }
    if (arguments.size() != 1) {
        throw XsError(EINVAL);
    }
    const auto domid = parse_decimal(arguments[0], std::numeric_limits<xen::DomId>::max());
    if (!domid) {
        throw XsError(EINVAL);
    }
    std::size_t watches = 0;
    std::size_t transactions = 0;
    bool connected = false;
    for (const auto& [id, connection] : state.connections) {
        if (connection.domid == *domid) {
            connected = true;
            watches += connection.watches.size();
            transactions += connection.transactions.size();
        }
    }
    const auto d = static_cast<xen::DomId>(*domid);
    if (!connected && !state.introduced.contains(d) && state.tree.owned(d) == 0) {
        throw XsError(ENOENT);
    }
    return text("Domain " + std::to_string(d) + ":\n" + line("nodes", state.tree.owned(d), "") +
                line("watches", watches, "") + line("transactions", transactions, "") +
                line("memory", state.memory_of(d), ""));
}

std::string help(RequestContext&, const Args& arguments);

struct Command {
    const char* name;
    std::string (*run)(RequestContext&, const Args&);
    const char* parameters;
};
constexpr Command kCommands[] = {
    {"check", check, ""},
    {"dump", dump, "[<path>]"},
    {"help", help, ""},
    {"print", print, "<string>"},
    {"quota", quota, "[set <name> <val>|<domid>]"},
    {"quota-soft", quota_soft, "[set <name> <val>]"},
};

std::string help(RequestContext&, const Args& arguments) {
    if (!arguments.empty()) {
        throw XsError(EINVAL);
    }
    std::string out;
    for (const Command& command : kCommands) {
        char buffer[128];
        std::snprintf(buffer, sizeof(buffer), "%-15s %s\n", command.name, command.parameters);
        out += buffer;
    }
    return text(std::move(out));
}

}  // namespace

std::string do_control(RequestContext& context, std::string_view payload) {
    auto arguments = args(payload);
    if (arguments.empty()) {
        throw XsError(EINVAL);
    }
    for (const Command& command : kCommands) {
        if (arguments.front() == command.name) {
            return command.run(context, Args(arguments.begin() + 1, arguments.end()));
        }
    }
    throw XsError(EINVAL);
}

}  // namespace pvsim::xenstore::store
