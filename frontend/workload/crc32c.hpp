// CRC-32C (Castagnoli), the checksum of fio's verify=crc32c and of iSCSI
// (RFC 3720 B.4): polynomial 0x1EDC6F41, reflected, initial value and final
// xor 0xFFFFFFFF; "123456789" gives 0xE3069283. Boost.CRC computes it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include <boost/crc.hpp>

namespace pvsim::frontend::workload {

class Crc32c {
  public:
    void update(std::span<const std::byte> data) noexcept {
        crc_.process_bytes(data.data(), data.size());
    }
    std::uint32_t value() const noexcept { return crc_.checksum(); }

  private:
    boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> crc_;
};

inline std::uint32_t crc32c(std::span<const std::byte> data) noexcept {
    Crc32c crc;
    crc.update(data);
    return crc.value();
}

}  // namespace pvsim::frontend::workload
