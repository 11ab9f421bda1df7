#include "xenstore/server/hypervisor_link.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "common/os/unique_fd.hpp"

namespace pvsim::xenstore::server {
namespace {

// The errno XS_INTRODUCE answers when the page cannot be mapped. C
// xenstored passes on whatever its gnttab mapping left in errno; here a
// domain or frame that does not exist is an argument error (EINVAL, as
// do_introduce answers for a bad port), a full maptrack table is ENOMEM,
// anything else EIO.
int map_errno(xen::GntSt status) {
    switch (status) {
        case xen::GntSt::bad_domain:
        case xen::GntSt::bad_page:
            return EINVAL;
        case xen::GntSt::no_space:
            return ENOMEM;
        case xen::GntSt::permission_denied:
            return EACCES;
        default:
            return EIO;
    }
}

bool connection_error(int error) {
    return error == ECONNRESET || error == EPIPE || error == ENOTCONN;
}

std::unique_ptr<boost::asio::posix::stream_descriptor> watch_copy(boost::asio::io_context& io,
                                                                  int fd) {
    os::UniqueFd copy = os::duplicate_fd(fd);
    auto descriptor = std::make_unique<boost::asio::posix::stream_descriptor>(io, copy.get());
    (void)copy.release();  // the descriptor owns it now
    return descriptor;
}

}  // namespace

ForeignRing::ForeignRing(hypervisor::Hypervisor& hypervisor, xen::GrantHandle handle,
                         std::byte* page, hypervisor::EventChannel channel)
    : hypervisor_(hypervisor), handle_(handle), page_(page), channel_(std::move(channel)) {}

ForeignRing::~ForeignRing() {
    close_channel();
    try {
        hypervisor_.unmap_grant_refs({&handle_, 1});
    } catch (const std::exception& e) {
        // The page is unmapped here before the hypercall; only the
        // hypervisor's record can be left, and it goes with the connection.
        spdlog::debug("unmapping a xenstore ring page: {}", e.what());
    }
}

void ForeignRing::close_channel() noexcept {
    const xen::EvtchnPort port = channel_.port();
    try {
        channel_.close();
    } catch (const std::exception& e) {
        spdlog::warn("closing xenstore event channel port {}: {}", port, e.what());
    }
}

HypervisorLink::HypervisorLink(boost::asio::io_context& io, hypervisor::Hypervisor hypervisor,
                               Events events)
    : io_(io), hypervisor_(std::move(hypervisor)), events_(std::move(events)) {
    try {
        // domain.c domain_init(): xenevtchn_bind_virq(VIRQ_DOM_EXC).
        virq_.emplace(hypervisor_.bind_virq(xen::kVirqDomExc));
        virq_wait_ = watch_copy(io_, virq_->fd());
        wait_virq();
    } catch (const hypervisor::HypercallError& e) {
        virq_.reset();
        spdlog::error(
            "cannot bind VIRQ_DOM_EXC ({}): domains that die are not noticed until released",
            e.what());
    }
    connection_wait_ = watch_copy(io_, hypervisor_.channel().fd());
    wait_connection();
}

HypervisorLink::~HypervisorLink() {
    close();
}

void HypervisorLink::close() noexcept {
    if (closed_) {
        return;
    }
    closed_ = true;
    *alive_ = false;
    boost::system::error_code ignored;
    if (virq_wait_) {
        virq_wait_->close(ignored);
    }
    if (connection_wait_) {
        connection_wait_->close(ignored);
    }
    try {
        if (virq_) {
            virq_->close();
        }
    } catch (const std::exception& e) {
        spdlog::debug("closing the VIRQ_DOM_EXC port: {}", e.what());
    }
    virq_.reset();
}

std::unique_ptr<ForeignRing> HypervisorLink::open_ring(xen::DomId domid, std::uint64_t gfn,
                                                       xen::EvtchnPort port, int& error) {
    error = 0;
    if (closed_) {
        error = EIO;
        return nullptr;
    }
    const hypervisor::ForeignMapRequest request{domid, gfn, false};
    hypervisor::GrantMapping mapping;
    try {
        mapping = hypervisor_.map_foreign_pages({&request, 1}).at(0);
    } catch (const hypervisor::HypercallError& e) {
        spdlog::warn("dom {}: mapping its xenstore page {}: {}", domid, gfn, e.what());
        if (connection_error(e.error())) {
            report_lost(e.what());
        }
        error = e.error() == EPERM ? EACCES : EIO;
        return nullptr;
    }
    if (mapping.status != xen::GntSt::okay) {
        spdlog::info("dom {}: its xenstore page {} cannot be mapped: {}", domid, gfn,
                     xen::name(mapping.status));
        error = map_errno(mapping.status);
        return nullptr;
    }
    hypervisor::EventChannel channel = bind(domid, port, error);
    if (!channel) {
        try {
            hypervisor_.unmap_grant_refs({&mapping.handle, 1});
        } catch (const std::exception&) {
            // Gone with the connection, if that is what failed.
        }
        return nullptr;
    }
    return std::make_unique<ForeignRing>(hypervisor_, mapping.handle, mapping.page,
                                         std::move(channel));
}

hypervisor::EventChannel HypervisorLink::bind(xen::DomId domid, xen::EvtchnPort port, int& error) {
    error = 0;
    if (closed_) {
        error = EIO;
        return {};
    }
    try {
        // domain.c new_domain(): xenevtchn_bind_interdomain(domid, port);
        // its errno is the answer (EINVAL for a port that is not an unbound
        // one of that domain's, ESRCH, sent as EINVAL, for no such domain).
        return hypervisor_.bind_interdomain(domid, port);
    } catch (const hypervisor::HypercallError& e) {
        spdlog::info("dom {}: binding its xenstore port {}: {}", domid, port, e.what());
        if (connection_error(e.error())) {
            report_lost(e.what());
            error = EIO;
        } else {
            error = e.error();
        }
        return {};
    }
}

bool HypervisorLink::domain_gone(xen::DomId domid) {
    try {
        const hypervisor::DomainInfo info = hypervisor_.domain_info(domid);
        return info.state != hypervisor::wire::DomainState::running;
    } catch (const hypervisor::HypercallError& e) {
        if (e.error() == ESRCH) {
            return true;
        }
        if (connection_error(e.error())) {
            report_lost(e.what());
        }
        throw;
    }
}

void HypervisorLink::wait_virq() {
    virq_wait_->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                           [this, alive = alive_](boost::system::error_code ec) {
                               if (ec || !*alive) {
                                   return;
                               }
                               // domain.c handle_event(): take the event, look at
                               // every domain, unmask.
                               if (virq_->poll()) {
                                   events_.domain_exception();
                               }
                               if (*alive && !closed_) {
                                   wait_virq();
                               }
                           });
}

void HypervisorLink::wait_connection() {
    connection_wait_->async_wait(
        boost::asio::posix::stream_descriptor::wait_read,
        [this, alive = alive_](boost::system::error_code ec) {
            if (ec || !*alive) {
                return;
            }
            // The hypervisor sends nothing unasked after its welcome, and
            // replies are read inside each call: a readable socket here has
            // reached its end, or the reply was taken meanwhile.
            char byte;
            const ssize_t n =
                ::recv(connection_wait_->native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
                wait_connection();
                return;
            }
            report_lost(n == 0  ? "the hypervisor closed the connection"
                        : n < 0 ? std::string("hypercall connection: ") + std::strerror(errno)
                                : "the hypervisor sent a message nobody asked for");
        });
}

void HypervisorLink::report_lost(const std::string& reason) {
    if (closed_) {
        return;
    }
    // Handlers of the report may destroy this link: post it.
    close();
    boost::asio::post(io_, [lost = events_.lost, reason] { lost(reason); });
}

}  // namespace pvsim::xenstore::server
