#include "hypervisor/server/control_requests.hpp"

#include <unistd.h>

#include <system_error>

#include "common/units.hpp"
#include "common/xen/ring.hpp"

namespace pvsim::hypervisor::server {
namespace {

using nlohmann::json;

std::string quoted(const json& value) {
    return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

std::string DomainSelector::describe() const {
    return domid ? "domain " + std::to_string(*domid) : "domain '" + name + "'";
}

void check_domain_name(const std::string& op, const std::string& name) {
    if (name.empty()) {
        throw ControlRequestError(op + ": name may not be empty");
    }
    if (name.size() > kMaxDomainName) {
        throw ControlRequestError(op + ": name '" + name + "' is longer than " +
                                  std::to_string(kMaxDomainName) + " characters");
    }
    for (const char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
        if (!ok) {
            throw ControlRequestError(op + ": name '" + name +
                                      "' may contain only letters, digits, '-', '_' and '.'");
        }
    }
    // The name also names the domain's console file in the run directory.
    if (name.front() == '.') {
        throw ControlRequestError(op + ": name '" + name + "' may not start with '.'");
    }
}

std::uint64_t parse_memory(const std::string& op, const json& value) {
    std::uint64_t bytes = 0;
    if (value.is_number_unsigned()) {
        bytes = value.get<std::uint64_t>();
    } else if (value.is_number_integer()) {
        if (value.get<std::int64_t>() < 0) {
            throw ControlRequestError(op + ": memory " + quoted(value) + " is negative");
        }
        bytes = static_cast<std::uint64_t>(value.get<std::int64_t>());
    } else if (value.is_string()) {
        try {
            bytes = parse_size(value.get<std::string>());
        } catch (const ParseError& e) {
            throw ControlRequestError(op + ": memory: " + e.what());
        }
    } else {
        throw ControlRequestError(
            op + ": memory must be a number of bytes or a size like \"64M\", not " + quoted(value));
    }
    if (bytes < xen::kXenPageSize) {
        throw ControlRequestError(op + ": memory must be at least 4096 bytes, not " +
                                  std::to_string(bytes));
    }
    // Frame numbers of a v1 grant entry are 32 bits wide.
    constexpr std::uint64_t kMaxBytes = (std::uint64_t{1} << 32) * xen::kXenPageSize;
    if (bytes > kMaxBytes) {
        throw ControlRequestError(op + ": memory " + std::to_string(bytes) +
                                  " exceeds the 16 TiB a 32-bit frame number reaches");
    }
    return (bytes + xen::kXenPageSize - 1) / xen::kXenPageSize * xen::kXenPageSize;
}

CreateRequest parse_create(const json& request) {
    const std::string op = "create";
    CreateRequest create;
    const auto name = request.find("name");
    if (name == request.end() || !name->is_string()) {
        throw ControlRequestError(op + ": \"name\" must be given as a string");
    }
    create.name = name->get<std::string>();
    check_domain_name(op, create.name);

    if (const auto memory = request.find("memory"); memory != request.end()) {
        create.memory_bytes = parse_memory(op, *memory);
    }

    const auto program = request.find("program");
    if (program == request.end() || !program->is_string() || program->get<std::string>().empty()) {
        throw ControlRequestError(op + ": \"program\" must be given as a path");
    }
    create.program = program->get<std::string>();
    std::error_code ec;
    if (!create.program.is_absolute() || !std::filesystem::is_regular_file(create.program, ec) ||
        ::access(create.program.c_str(), X_OK) != 0) {
        throw ControlRequestError(op + ": program '" + create.program.string() +
                                  "' is not an executable file" +
                                  (create.program.is_absolute() ? "" : " (give an absolute path)"));
    }

    if (const auto args = request.find("args"); args != request.end()) {
        if (!args->is_array()) {
            throw ControlRequestError(op + ": \"args\" must be an array of strings");
        }
        for (const json& arg : *args) {
            if (!arg.is_string()) {
                throw ControlRequestError(op + ": \"args\" must be an array of strings, not " +
                                          quoted(arg));
            }
            create.args.push_back(arg.get<std::string>());
        }
    }
    if (const auto env = request.find("env"); env != request.end()) {
        if (!env->is_object()) {
            throw ControlRequestError(op + ": \"env\" must be an object of strings");
        }
        for (const auto& [key, value] : env->items()) {
            if (key.empty() || key.find('=') != std::string::npos ||
                key.find('\0') != std::string::npos) {
                throw ControlRequestError(op + ": env: '" + key +
                                          "' is not an environment variable name");
            }
            if (!value.is_string() || value.get<std::string>().find('\0') != std::string::npos) {
                throw ControlRequestError(op + ": env: " + key + " must be a string");
            }
            create.env[key] = value.get<std::string>();
        }
    }
    for (const std::string& arg : create.args) {
        if (arg.find('\0') != std::string::npos) {
            throw ControlRequestError(op + ": \"args\" may not contain a nul character");
        }
    }
    if (const auto cpus = request.find("cpus"); cpus != request.end()) {
        if (!cpus->is_string()) {
            throw ControlRequestError(op + ": \"cpus\" must be a CPU list such as \"0-1\"");
        }
        try {
            create.cpus = os::CpuList::parse(cpus->get<std::string>());
            // As xl's vcpu pinning does against the host's pCPUs.
            create.cpus->check_within(os::CpuList::allowed());
        } catch (const std::invalid_argument& e) {
            throw ControlRequestError(op + ": cpus " + e.what());
        }
    }
    return create;
}

DomainSelector parse_selector(const std::string& op, const json& request) {
    DomainSelector selector;
    const auto domid = request.find("domid");
    const auto name = request.find("name");
    if (domid != request.end()) {
        // Parsed text gives unsigned numbers, json built in code signed ones.
        if (!domid->is_number_integer() || domid->get<std::int64_t>() < 0 ||
            domid->get<std::int64_t>() >= xen::kDomidFirstReserved) {
            throw ControlRequestError(op + ": domid " + quoted(*domid) + " is not a domain id");
        }
        selector.domid = static_cast<xen::DomId>(domid->get<std::int64_t>());
        return selector;
    }
    if (name != request.end()) {
        if (!name->is_string()) {
            throw ControlRequestError(op + ": name " + quoted(*name) + " is not a string");
        }
        selector.name = name->get<std::string>();
        return selector;
    }
    throw ControlRequestError(op + ": give \"domid\" or \"name\"");
}

}  // namespace pvsim::hypervisor::server
