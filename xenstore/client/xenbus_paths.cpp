#include "xenstore/client/xenbus_paths.hpp"

namespace pvsim::xenstore::client {
namespace {

constexpr std::string_view kLocalDomain = "/local/domain/";

}  // namespace

std::string domain_path(xen::DomId domid) {
    return std::string(kLocalDomain) + std::to_string(domid);
}

std::string backend_directory(xen::DomId backend, std::string_view type) {
    return domain_path(backend) + "/backend/" + std::string(type);
}

std::string backend_path(xen::DomId backend, std::string_view type, xen::DomId frontend,
                         std::uint32_t devid) {
    return backend_directory(backend, type) + "/" + std::to_string(frontend) + "/" +
           std::to_string(devid);
}

std::string frontend_directory(xen::DomId frontend, std::string_view type) {
    return domain_path(frontend) + "/device/" + std::string(type);
}

std::string frontend_path(xen::DomId frontend, std::string_view type, std::uint32_t devid) {
    return frontend_directory(frontend, type) + "/" + std::to_string(devid);
}

std::string libxl_domain_path(xen::DomId domid) {
    return "/libxl/" + std::to_string(domid);
}

std::string libxl_device_path(xen::DomId domid, std::string_view type, std::uint32_t devid) {
    return libxl_domain_path(domid) + "/device/" + std::string(type) + "/" + std::to_string(devid);
}

std::optional<DomainRelative> split_domain_path(std::string_view path) {
    if (!path.starts_with(kLocalDomain)) {
        return std::nullopt;
    }
    const std::string_view below = path.substr(kLocalDomain.size());
    const std::size_t slash = below.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 == below.size()) {
        return std::nullopt;
    }
    return DomainRelative{std::string(path.substr(0, kLocalDomain.size() + slash)),
                          std::string(below.substr(slash + 1))};
}

std::optional<std::string> error_node(std::string_view nodename) {
    const auto parts = split_domain_path(nodename);
    if (!parts) {
        return std::nullopt;
    }
    return parts->domain + "/error/" + parts->rest + "/error";
}

}  // namespace pvsim::xenstore::client
