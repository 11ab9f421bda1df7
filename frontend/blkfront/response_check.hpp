// The checks a response passes before blkfront trusts it (Linux
// xen-blkfront.c blkif_interrupt, hardened by XSA-396): the backend's
// response producer must not claim more responses than the ring has slots
// (RING_RESPONSE_PROD_OVERFLOW), and each response must carry an id within
// the ring, whose shadow entry is pending, with the operation of the
// request it answers. Any failure means the backend cannot be trusted with
// this device any more: the data plane fails the device (and only it).
#pragma once

#include <optional>
#include <string>

#include "common/xen/blkif.hpp"
#include "common/xen/blkif_rings.hpp"
#include "frontend/blkfront/shadow.hpp"

namespace pvsim::frontend::blkfront {

// Why `rsp_prod` cannot be believed, or nullopt.
std::optional<std::string> check_response_prod(const xen::BlkifFrontRings& ring,
                                               xen::RingIdx rsp_prod);

// Why `response` (a private copy, taken once off the ring) cannot be
// trusted against `shadow`, or nullopt when it answers a pending request.
std::optional<std::string> check_response(const xen::BlkifResponse& response,
                                          const ShadowTable& shadow);

// The block API's status for a response's: 0, -EOPNOTSUPP, and -EIO for
// BLKIF_RSP_ERROR and any value blkif.h does not define (Linux treats every
// status other than OKAY and EOPNOTSUPP as an I/O error).
int response_errno(xen::BlkifStatus status) noexcept;

}  // namespace pvsim::frontend::blkfront
