// The control socket's requests (hypervisor/protocol/control.hpp) checked
// field by field into typed values, each fault named in a sentence for
// people ("create: name 'a b' may contain only ...").
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/os/cpu_list.hpp"
#include "common/xen/grant_table.hpp"

namespace pvsim::hypervisor::server {

// A request the hypervisor refuses; what() is the reply's "error".
class ControlRequestError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

inline constexpr std::uint64_t kDefaultGuestMemory = 64ull << 20;
// DomainInfoReply::name holds 63 characters and a nul.
inline constexpr std::size_t kMaxDomainName = 63;

struct CreateRequest {
    std::string name;
    std::uint64_t memory_bytes = kDefaultGuestMemory;  // a multiple of 4096
    std::filesystem::path program;
    std::vector<std::string> args;
    std::map<std::string, std::string> env;
    std::optional<os::CpuList> cpus;  // xl.cfg cpus=; nullopt: unpinned
};

// The domain a destroy or info names: by domid or by name.
struct DomainSelector {
    std::optional<xen::DomId> domid;
    std::string name;
    std::string describe() const;  // "domain 3" / "domain 'web'"
};

// Letters, digits, '-', '_' and '.' (not first), 1..kMaxDomainName
// characters; throws
// ControlRequestError prefixed with `op`.
void check_domain_name(const std::string& op, const std::string& name);

// "memory": a number of bytes or a size string ("64M"); rounded up to a
// whole page; at least 4096 bytes.
std::uint64_t parse_memory(const std::string& op, const nlohmann::json& value);

// {"op":"create",...}; checks the program is an executable file. Does not
// check the name is free (that needs the domain table).
CreateRequest parse_create(const nlohmann::json& request);

// {"domid":D} or {"name":N} of destroy and info.
DomainSelector parse_selector(const std::string& op, const nlohmann::json& request);

}  // namespace pvsim::hypervisor::server
