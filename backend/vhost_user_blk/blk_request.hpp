// A walked descriptor chain read as a virtio-blk request (virtio 1.2 §5.2.6
// "Device Operation"; QEMU hw/block/virtio-blk.c virtio_blk_handle_request):
// the 16-byte header copied once from the device-readable bytes, the status
// byte as the last device-writable byte, the data between them (with
// VIRTIO_F_VERSION_1 the split into descriptors is free: §2.7.4 "Message
// Framing"), and the checks that decide whether the request is served:
//   - no device-writable status byte: nothing can be answered, the chain is
//     returned with no byte written (drop);
//   - a header shorter than 16 bytes, data in the wrong direction for the
//     type, a length that is not whole sectors or exceeds the limit, a range
//     past the capacity, a write to a read-only device: VIRTIO_BLK_S_IOERR;
//   - a type not offered or not known, reserved DISCARD / WRITE_ZEROES flags:
//     VIRTIO_BLK_S_UNSUPP (§5.2.6.2).
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "backend/vhost_user_blk/desc_chain.hpp"
#include "backend/vhost_user_blk/device_config.hpp"
#include "common/virtio/virtio_blk.hpp"

namespace pvsim::backend::vhost_user_blk {

struct BlkRequest {
    std::uint32_t type = 0;  // the raw VIRTIO_BLK_T_* of the header
    std::uint64_t sector = 0;
    // The data buffers: device-writable for IN and GET_ID, device-readable
    // for OUT (and DISCARD / WRITE_ZEROES, whose range is copied to `range`).
    std::vector<iovec> data;
    std::uint64_t data_bytes = 0;
    std::byte* status = nullptr;
    virtio::VirtioBlkDiscardWriteZeroes range{};

    virtio::BlkReqType req_type() const noexcept { return static_cast<virtio::BlkReqType>(type); }
    std::uint64_t offset() const noexcept { return sector * virtio::kSectorSize; }
};

enum class Disposition {
    serve,   // do the I/O
    answer,  // write `status` now, do nothing else
    drop,    // no status byte to write: return the chain with used len 0
};

struct ParseResult {
    Disposition disposition = Disposition::serve;
    virtio::BlkStatus status = virtio::BlkStatus::ok;
    std::string reason;  // why it is not served
};

// Reads `chain` into `out` (whose vectors keep their capacity from one
// request to the next). `features` are the negotiated ones.
ParseResult parse_request(const DescChain& chain, const BlkLimits& limits, std::uint64_t features,
                          BlkRequest& out);

// Writes the status byte (a relaxed atomic store: the driver may be looking).
void write_status(std::byte* status, virtio::BlkStatus value) noexcept;

// Copies `bytes` into the request's data buffers, in order; returns how many
// fitted (GET_ID).
std::size_t copy_to_data(const BlkRequest& request, const void* bytes, std::size_t size) noexcept;

}  // namespace pvsim::backend::vhost_user_blk
