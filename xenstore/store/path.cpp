// Node names: validation and resolution as tools/xenstored/core.c does it.
#include "xenstore/store/path.hpp"

#include <algorithm>
#include <cctype>

#include "common/xen/xs_wire.hpp"

namespace pvsim::xenstore::store {
namespace {

constexpr std::string_view kLocalDomain = "/local/domain/";

// core.c: valid_chars().
bool valid_chars(std::string_view name) {
    return std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '/' || c == '_' ||
               c == '@';
    });
}

// Where the part below "/local/domain/<domid>/" starts, as the
// sscanf("/local/domain/%5u/%n") of is_valid_nodename() finds it; 0 for other
// names.
std::size_t local_offset(std::string_view name) {
    if (!name.starts_with(kLocalDomain)) {
        return 0;
    }
    std::size_t pos = kLocalDomain.size();
    std::size_t digits = 0;
    while (pos < name.size() && digits < 5 && name[pos] >= '0' && name[pos] <= '9') {
        ++pos;
        ++digits;
    }
    if (digits == 0 || pos >= name.size() || name[pos] != '/') {
        return 0;
    }
    return pos + 1;
}

}  // namespace

std::string domain_path(xen::DomId domid) {
    return std::string(kLocalDomain) + std::to_string(domid);
}

bool is_relative(std::string_view raw) {
    return !raw.starts_with('/') && !raw.starts_with('@');
}

std::optional<std::string> canonicalize(std::string_view raw, xen::DomId domid,
                                        bool allow_special) {
    if (!valid_chars(raw) || (raw.starts_with('@') && !allow_special)) {
        return std::nullopt;
    }
    std::string name =
        is_relative(raw) ? domain_path(domid) + "/" + std::string(raw) : std::string(raw);
    if ((name.size() > 1 && name.back() == '/') || name.find("//") != std::string::npos) {
        return std::nullopt;
    }
    if (name.size() > xen::xs::kAbsPathMax ||
        name.size() - local_offset(name) > xen::xs::kRelPathMax) {
        return std::nullopt;
    }
    return name;
}

std::string parent_of(std::string_view path) {
    const std::size_t slash = path.size() > 1 ? path.rfind('/') : std::string_view::npos;
    if (slash == std::string_view::npos || slash == 0) {
        return "/";
    }
    return std::string(path.substr(0, slash));
}

std::string_view basename(std::string_view path) {
    return path.substr(path.rfind('/') + 1);
}

std::string child_path(std::string_view parent, std::string_view name) {
    std::string out(parent);
    if (out != "/") {
        out += '/';
    }
    out += name;
    return out;
}

bool is_child(std::string_view child, std::string_view parent) {
    if (parent == "/") {
        return true;
    }
    return child.starts_with(parent) &&
           (child.size() == parent.size() || child[parent.size()] == '/');
}

}  // namespace pvsim::xenstore::store
