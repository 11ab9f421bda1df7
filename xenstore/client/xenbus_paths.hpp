// Where split devices live in xenstore, built in one place (libxl's
// libxl__xs_get_dompath, libxl__device_backend_path,
// libxl__device_frontend_path, and the error path of Linux's
// xenbus_va_dev_error in drivers/xen/xenbus/xenbus_client.c):
//   /local/domain/<domid>                                     domain_path
//   <backend's>/backend/<type>/<frontend domid>/<devid>       backend_path
//   <frontend's>/device/<type>/<devid>                        frontend_path
//   <domain's>/error/<nodename below the domain>/error        error_node
//   /libxl/<domid>[/device/<type>/<devid>]      libxl_domain_path, libxl_device_path
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/xen/grant_table.hpp"

namespace pvsim::xenstore::client {

// "/local/domain/<domid>".
std::string domain_path(xen::DomId domid);
// "/local/domain/<backend>/backend/<type>"; with a frontend domid and a
// devid, the device's own directory below it.
std::string backend_directory(xen::DomId backend, std::string_view type);
std::string backend_path(xen::DomId backend, std::string_view type, xen::DomId frontend,
                         std::uint32_t devid);
// "/local/domain/<frontend>/device/<type>"; with a devid, the device's.
std::string frontend_directory(xen::DomId frontend, std::string_view type);
std::string frontend_path(xen::DomId frontend, std::string_view type, std::uint32_t devid);

// libxl's own record of a domain, "/libxl/<domid>" (libxl__xs_libxl_path),
// and of one of its devices below it (libxl__device_libxl_path).
std::string libxl_domain_path(xen::DomId domid);
std::string libxl_device_path(xen::DomId domid, std::string_view type, std::uint32_t devid);

// A node under /local/domain/<domid>/ as its domain path and the rest:
// "/local/domain/1/device/vbd/51712" -> {"/local/domain/1",
// "device/vbd/51712"}; nullopt for a path elsewhere.
struct DomainRelative {
    std::string domain;
    std::string rest;
};
std::optional<DomainRelative> split_domain_path(std::string_view path);

// The node xenbus_dev_error writes for the device at `nodename`:
// "<domain>/error/<rest>/error"; nullopt when `nodename` is not under a
// domain's home.
std::optional<std::string> error_node(std::string_view nodename);

}  // namespace pvsim::xenstore::client
