#include "frontend/blkfront/response_check.hpp"

#include <cerrno>

namespace pvsim::frontend::blkfront {
namespace {

std::string op_text(xen::BlkifOp op) {
    return std::string(xen::name(op)) + " (" + std::to_string(static_cast<unsigned>(op)) + ")";
}

}  // namespace

std::optional<std::string> check_response_prod(const xen::BlkifFrontRings& ring,
                                               xen::RingIdx rsp_prod) {
    if (ring.response_prod_overflow(rsp_prod)) {
        return "illegal number of responses: rsp_prod " + std::to_string(rsp_prod) + " is " +
               std::to_string(static_cast<xen::RingIdx>(rsp_prod - ring.rsp_cons())) +
               " ahead of rsp_cons " + std::to_string(ring.rsp_cons()) + " on a ring of " +
               std::to_string(ring.size());
    }
    return std::nullopt;
}

std::optional<std::string> check_response(const xen::BlkifResponse& response,
                                          const ShadowTable& shadow) {
    if (response.id >= shadow.size()) {
        return "response has incorrect id " + std::to_string(response.id) + " (ring of " +
               std::to_string(shadow.size()) + ")";
    }
    if (!shadow.pending(response.id)) {
        return "response id " + std::to_string(response.id) + " references no pending request";
    }
    const xen::BlkifRequest& request = shadow.at(response.id).request;
    xen::BlkifOp expected = request.operation;
    if (expected == xen::BlkifOp::indirect) {
        expected = xen::blkif_request_as<xen::BlkifRequestIndirect>(request).indirect_op;
    }
    if (response.operation != expected) {
        return "response id " + std::to_string(response.id) + " has wrong operation " +
               op_text(response.operation) + " instead of " + op_text(expected);
    }
    return std::nullopt;
}

int response_errno(xen::BlkifStatus status) noexcept {
    switch (status) {
        case xen::BlkifStatus::okay:
            return 0;
        case xen::BlkifStatus::eopnotsupp:
            return -EOPNOTSUPP;
        case xen::BlkifStatus::error:
            break;
    }
    return -EIO;
}

}  // namespace pvsim::frontend::blkfront
