// CRC-32C (Castagnoli), the checksum of fio's verify=crc32c and of iSCSI
// (RFC 3720 B.4): polynomial 0x1EDC6F41, reflected, initial value and final
// xor 0xFFFFFFFF; "123456789" gives 0xE3069283.
//
// Two engines give the same value. Where the CPU has SSE4.2, its crc32
// instruction (which computes exactly this CRC) takes eight bytes a step, as
// fio's crc/crc32c-intel.c and Linux's crc32c-intel do, in three streams at
// once over buffers of 4032 bytes or more (crc32c.cpp); elsewhere
// Boost.CRC's table takes one. Every verified block is checksummed when it
// is written and when it is read back, so this is on the data path of each
// verify job.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include <boost/crc.hpp>

namespace pvsim::frontend::workload {

class Crc32c {
  public:
    enum class Engine { sse42, table };

    // The SSE4.2 engine where this CPU has it, the table otherwise.
    static Engine best() noexcept;

    // `engine` must be one this CPU runs: best(), or the table.
    explicit Crc32c(Engine engine = best()) noexcept : engine_(engine) {}

    void update(std::span<const std::byte> data) noexcept;
    std::uint32_t value() const noexcept;

  private:
    Engine engine_;
    // The SSE4.2 engine's register, before the final xor.
    std::uint32_t state_ = 0xFFFFFFFF;
    boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> table_;
};

inline std::uint32_t crc32c(std::span<const std::byte> data) noexcept {
    Crc32c crc;
    crc.update(data);
    return crc.value();
}

}  // namespace pvsim::frontend::workload
