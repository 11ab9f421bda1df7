// A BlockRequest without a completion, for tests that check how requests
// are checked or split (frontend/request_check.hpp, the drivers'
// request_builder.hpp).
#pragma once

#include <cstdint>

#include "frontend/block_device.hpp"

namespace pvsim::test {

inline frontend::BlockRequest request_of(frontend::BlockOperation operation, std::uint64_t sector,
                                         const frontend::GuestBuffer* buffer,
                                         std::uint64_t discard_sectors = 0) {
    frontend::BlockRequest request;
    request.operation = operation;
    request.sector = sector;
    request.buffer = buffer;
    request.discard_sectors = discard_sectors;
    return request;
}

}  // namespace pvsim::test
