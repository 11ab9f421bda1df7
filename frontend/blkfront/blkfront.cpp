#include "frontend/blkfront/blkfront.hpp"

#include <utility>

#include "xenstore/client/xenbus_paths.hpp"

namespace pvsim::frontend::blkfront {

Blkfront::Blkfront(std::unique_ptr<XenbusFrontend> xenbus)
    : xenbus_(std::move(xenbus)), device_(xenbus_->wait_connected()) {}

Blkfront::~Blkfront() = default;  // ~XenbusFrontend closes

std::string vbd_nodename(const hypervisor::Hypervisor& hypervisor, std::uint32_t devid) {
    return xenstore::client::frontend_path(hypervisor.domid(), "vbd", devid);
}

std::unique_ptr<Blkfront> open_blkfront(hypervisor::Hypervisor& hypervisor,
                                        xenstore::client::Client& xenstore,
                                        boost::asio::any_io_executor executor, std::uint32_t devid,
                                        BlkfrontOptions options) {
    return open_blkfront(hypervisor, xenstore, std::move(executor), vbd_nodename(hypervisor, devid),
                         std::move(options));
}

std::unique_ptr<Blkfront> open_blkfront(hypervisor::Hypervisor& hypervisor,
                                        xenstore::client::Client& xenstore,
                                        boost::asio::any_io_executor executor,
                                        std::string_view nodename, BlkfrontOptions options) {
    std::string path(nodename);
    if (!path.starts_with('/')) {
        path = xenstore::client::domain_path(hypervisor.domid()) + "/" + path;
    }
    auto xenbus = std::make_unique<XenbusFrontend>(hypervisor, xenstore, std::move(executor),
                                                   std::move(path), std::move(options));
    return std::make_unique<Blkfront>(std::move(xenbus));
}

}  // namespace pvsim::frontend::blkfront
