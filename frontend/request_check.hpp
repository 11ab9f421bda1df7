// The checks every block request passes before any transport sees it, the
// same for blkfront and the virtio-blk driver (Linux: the block layer's
// bio_check_eod and the request's own shape, before blk-mq hands it to a
// driver's queue_rq). A transport then only splits a checked request.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "frontend/block_device.hpp"

namespace pvsim::frontend {

// What is wrong with the request's shape, or nothing: a read or write needs
// a buffer whose length is a non-zero multiple of 512 bytes within its
// pages; a flush and a discard carry no data buffer; a discard names at
// least one sector.
std::optional<std::string> malformed(const BlockRequest& request);

// The sectors a read, write or discard covers (0 for a flush).
std::uint64_t request_sectors(const BlockRequest& request) noexcept;

// What a checked request completes with before reaching a ring: -EINVAL
// when malformed (why in `why`), -EIO when it lies past `capacity` sectors
// (Linux's bio_check_eod), else 0.
int check_request(const BlockRequest& request, std::uint64_t capacity, std::string& why);

}  // namespace pvsim::frontend
